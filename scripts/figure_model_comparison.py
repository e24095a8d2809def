"""Draw the cohort's model comparison (test metrics per model, each k-fold test fold a dot)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import figure_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    figure_steps.model_comparison(snakemake.input.per_fold, out=snakemake.output[0], log=log,
                                  kinds=snakemake.params.kinds, genotype=snakemake.params.genotype)
