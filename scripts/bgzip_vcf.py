"""Chunked genotype import of a plain-text VCF: a bgzipped copy under results/, to be indexed."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.bgzip_vcf(snakemake.input.vcf, out=snakemake.output[0], log=log)
