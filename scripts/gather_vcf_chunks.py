"""Chunked genotype import, gather job: the chunks joined in genome order, filtered over the whole cohort,
written as import_vcf writes them (same files, same bytes)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.gather_vcf_chunks(snakemake.params.cohort, snakemake.input.chunks,
                                     out=dict(snakemake.output.items()), log=log)
