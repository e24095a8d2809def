"""Interpret a model by its own coefficients: effects.tsv (per position and base, or per marker)
or kmers.tsv (k-mer ridge). CPU only, no Keras."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.interpret_coefficients(dict(snakemake.input.items()), snakemake.params.settings,
                                 genotype=snakemake.params.genotype,
                                 out={snakemake.wildcards.table: snakemake.output[0]}, log=log)
