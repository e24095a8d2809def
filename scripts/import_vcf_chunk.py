"""Chunked genotype import, one scatter job: one chunk of the genome of a VCF/BCF -> decoded records (.npz)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.import_vcf_chunk(snakemake.params.cohort, snakemake.wildcards.scatteritem,
                                    vcf_path=snakemake.input.vcf, index=snakemake.input.index,
                                    out=snakemake.output[0], log=log)
