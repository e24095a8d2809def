"""Write the cohort's self-contained HTML report."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.report(snakemake.wildcards.cohort, dict(snakemake.input.items()), dict(snakemake.params.items()),
                 out=dict(snakemake.output.items()), log=log)
