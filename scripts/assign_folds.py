"""Assign every kept sample to a cross-validation fold (stratified, groups kept together)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.assign_folds(snakemake.input.kept, snakemake.params.evaluation, snakemake.params.split,
                       columns_path=snakemake.input.get("table"), out=snakemake.output[0], log=log)
