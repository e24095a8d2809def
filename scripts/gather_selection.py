"""The candidate chosen on every fold, in one table."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.gather_selection(list(snakemake.params.folds), list(snakemake.input), out=snakemake.output[0], log=log)
