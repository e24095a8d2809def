"""KING-robust kinship of every pair; relatives removed (maximum unrelated set) or grouped."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import genotype_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    genotype_steps.curate_genotypes(snakemake.input.samples, snakemake.input.dosage, snakemake.input.filtered,
                                    snakemake.params.curation, threads=snakemake.threads,
                                    out=dict(snakemake.output.items()), log=log)
