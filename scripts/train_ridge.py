"""Fit ridge regression on the flattened one-hot tensor, alpha chosen on the validation split."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.train_ridge(dict(snakemake.input.items()), snakemake.params.spec,
                      out=dict(snakemake.output.items()), log=log)
