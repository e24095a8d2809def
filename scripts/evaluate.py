"""Predict every sample with a trained model; metrics per split on the original scale."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import backend

backend.configure(snakemake.threads)

from seq2pheno import steps  # noqa: E402  (after the backend is configured)
from seq2pheno.runlog import step_log  # noqa: E402

with step_log(snakemake.log[0]) as log:
    steps.evaluate(dict(snakemake.input.items()), snakemake.params.kind, snakemake.params.level,
                   out=dict(snakemake.output.items()), log=log, ensemble=snakemake.params.ensemble)
