"""Genotype cohort import: marker matrix (0/1/2) + optional map + phenotypes -> tensor, masks, dosages, QC log."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.import_markers(snakemake.params.cohort, out=dict(snakemake.output.items()), log=log)
