"""Genotype cohorts: VCF/BCF + reference FASTA -> allele-composition tensors.

A cohort's VCF/BCF is read against its reference FASTA into a :class:`GenotypeData`
(:func:`read_genotypes`), which builds tensors (channels A, C, G, T; float32) in one of two
encodings, ``variants`` (one column per kept SNV record) or ``sequence`` (the sample's own
sequence over each region); the encodings, haplotypes and the handling of missing calls are
described in :mod:`seq2pheno.vcf.reader`. Filters run afterwards, on the whole cohort
(:func:`filter_variants_samples`); the phenotype table is joined to the VCF samples
(:func:`join_phenotypes`); missing calls are imputed with allele frequencies of the training
rows only, once the split is known (:func:`impute_missing`); the cohort is written with
:func:`write_genotype_cohort`.

Chunked reading (a large VCF read by several jobs): :func:`plan_chunks` cuts an indexed file
into stretches of the genome, in the order one reading meets them; :func:`read_genotype_part`
reads one chunk into a :class:`GenotypePart` (saved as .npz); :func:`assemble_genotypes` joins
the parts into the :class:`GenotypeData` that :func:`read_genotypes` gives for the whole file
(which is itself one part, assembled). Filters run afterwards, on the whole cohort.

One concern per module; every name callers use is re-exported here, so ``from seq2pheno import
vcf; vcf.read_genotypes(...)`` and ``from seq2pheno.vcf import ...`` keep working:

- :mod:`~seq2pheno.vcf.alphabet`: the channels A, C, G, T and the IUPAC composition table.
- :mod:`~seq2pheno.vcf.data`: the containers :class:`GenotypeData` and :class:`GenotypePart`.
- :mod:`~seq2pheno.vcf.files`: checks that a VCF/BCF is what its extension says; text headers.
- :mod:`~seq2pheno.vcf.reference`: the reference FASTA (:class:`Reference`).
- :mod:`~seq2pheno.vcf.regions`: regions (BED or ``chrom:start-end``) and sample-id lists.
- :mod:`~seq2pheno.vcf.decode`: bulk decoding of the GT sub-fields of VCF record lines.
- :mod:`~seq2pheno.vcf.reader`: reading records into parts and assembling them.
- :mod:`~seq2pheno.vcf.chunks`: chunk planning, chunk names, bgzip and CSI indexing.
- :mod:`~seq2pheno.vcf.impute`: allele frequencies of the training rows; filling missing calls.
- :mod:`~seq2pheno.vcf.filters`: plink2-style QC filters (--mind, --geno, --maf).
- :mod:`~seq2pheno.vcf.phenotypes`: joining a phenotype table to the VCF samples.
- :mod:`~seq2pheno.vcf.writer`: writing samples.tsv, onehot.npy and features.tsv atomically.
"""

from __future__ import annotations

from .alphabet import CHANNELS
from .alphabet import _BASE_INDEX as _BASE_INDEX
from .alphabet import _IUPAC_TABLE as _IUPAC_TABLE
from .chunks import bgzip_vcf, has_index, index_vcf, parse_chunk, plan_chunks
from .data import GenotypeData, GenotypePart
from .files import check_vcf_file
from .filters import filter_variants_samples
from .impute import called_frequencies, impute_missing
from .phenotypes import join_phenotypes
from .reader import (ENCODINGS, MISSING_MODES, assemble_genotypes, read_genotype_part,
                     read_genotypes)
from .reader import _classify_alt as _classify_alt
from .reference import Reference
from .regions import parse_regions, read_id_list
from .writer import write_genotype_cohort

__all__ = [
    "CHANNELS", "ENCODINGS", "MISSING_MODES", "GenotypeData", "GenotypePart", "Reference",
    "assemble_genotypes", "bgzip_vcf", "called_frequencies", "check_vcf_file",
    "filter_variants_samples", "has_index", "impute_missing", "index_vcf", "join_phenotypes",
    "parse_chunk", "parse_regions", "plan_chunks", "read_genotype_part", "read_genotypes",
    "read_id_list", "write_genotype_cohort",
]
