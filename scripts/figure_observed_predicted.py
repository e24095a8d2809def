"""Draw observed against predicted phenotype for the cohort's best model (by validation R²)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import figure_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    figure_steps.observed_vs_predicted(list(snakemake.input.metrics), list(snakemake.input.predictions),
                                       snakemake.params.models, out=snakemake.output[0], log=log,
                                       kinds=snakemake.params.kinds, genotype=snakemake.params.genotype)
