"""Chunked genotype import of a VCF/BCF without an index: write a CSI index for it under results/."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.index_vcf(snakemake.input.vcf, out=snakemake.output[0], log=log)
