"""How well the interpretation of a simulated cohort recovers the planted loci and pairs."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.truth_recovery(dict(snakemake.input.items()), out=snakemake.output[0], log=log)
