"""The stratified group-aware split, then covariates regressed out on the training split only."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.split_genotypes(snakemake.input.kept, snakemake.input.samples, snakemake.params.split,
                                   list(snakemake.params.covariates), out=dict(snakemake.output.items()),
                                   log=log)
