"""A model's predictions and metrics gathered over folds (holdout: the one fold as is)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.gather_model(list(snakemake.params.folds), dict(snakemake.input.items()), snakemake.params.scheme,
                       out=dict(snakemake.output.items()), log=log)
