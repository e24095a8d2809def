"""A fold's search: every trial in one table, and the entry of the best by validation loss."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.gather_search(snakemake.wildcards.model, snakemake.params.entry, snakemake.params.search,
                        list(snakemake.input), journal=snakemake.params.journal,
                        out=dict(snakemake.output.items()), log=log, ranked=snakemake.params.ranked)
