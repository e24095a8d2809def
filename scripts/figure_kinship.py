"""Draw the kinship histogram of a genotype cohort."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import figure_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    figure_steps.kinship_histogram(snakemake.input.kinship, out=snakemake.output[0], log=log)
