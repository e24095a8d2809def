"""Keep the candidate architecture with the lowest validation loss on this fold."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.select_candidate(list(snakemake.params.candidates), list(snakemake.input.models),
                           list(snakemake.input.histories), out=dict(snakemake.output.items()), log=log)
