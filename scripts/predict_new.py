"""Score the samples of another VCF with a trained genotype cohort's models (sites checked)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import backend

backend.configure(snakemake.threads)

from seq2pheno import genotype_steps  # noqa: E402  (after the backend is configured)
from seq2pheno.runlog import step_log  # noqa: E402

with step_log(snakemake.log[0]) as log:
    paths = dict(snakemake.input.items())
    paths["models"] = list(snakemake.input.models)
    genotype_steps.predict_new(snakemake.params.cohort, snakemake.params.entry, paths,
                               snakemake.wildcards.model, snakemake.params.kind, out=snakemake.output[0],
                               log=log)
