"""Choose the CNN to interpret: the best by validation R²."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.select_best(snakemake.input.metrics, snakemake.params.models, out=snakemake.output[0], log=log)
