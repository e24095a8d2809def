"""List the cohort's figures (kind, file) in figures/index.tsv."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import figure_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    figure_steps.figure_index(dict(snakemake.input.items()), out=snakemake.output[0], log=log)
