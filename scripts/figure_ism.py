"""Draw the ISM importance map of one interpreted model (causal loci of a simulation in red)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import figure_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    figure_steps.ism_importance(snakemake.input.ism, out=snakemake.output[0], model=snakemake.wildcards.model,
                                truth_path=snakemake.input.truth or None, log=log)
