"""One fold's train/valid/test split; covariates regressed out on its training samples."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.fold_split(snakemake.input.kept, snakemake.input.folds, snakemake.input.samples,
                     snakemake.wildcards.fold, snakemake.params.evaluation, snakemake.params.split,
                     list(snakemake.params.covariates), out=dict(snakemake.output.items()), log=log)
