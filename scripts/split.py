"""Stratified, group-aware train/valid/test split with phenotype distribution checks."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.split(snakemake.input.kept, snakemake.params.split,
                    out=dict(snakemake.output.items()), log=log)
