"""Per-fold test metrics of every model, and their mean and SD over folds."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.evaluation_summary(list(snakemake.params.models), list(snakemake.params.folds),
                             list(snakemake.input.metrics), out=dict(snakemake.output.items()), log=log)
