"""Fill missing genotype calls with the training split's allele frequencies."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.impute_genotypes(snakemake.input.onehot, snakemake.input.missing, snakemake.input.split,
                                    snakemake.input.samples, out=snakemake.output[0], log=log)
