"""Every fold's search trials and best trial, in one table each."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.search_summary(list(snakemake.params.folds), list(snakemake.input.trials), list(snakemake.input.best),
                         out=dict(snakemake.output.items()), log=log)
