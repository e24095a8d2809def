"""Read a CSV/TSV of sequences and phenotypes into the cohort's tensors (streamed: memory does not grow with N)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import sources
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    c = snakemake.params.cohort
    summary = sources.import_table(snakemake.input.table, samples_path=snakemake.output.samples,
                                   onehot_path=snakemake.output.onehot,
                                   features_path=snakemake.output.features,
                                   missing_phenotype=c["missing_phenotype"], allow_n=c["allow_n"],
                                   pad_to=c.get("pad_to"), log=log)
    log.info("imported %d sequences of %d bp from %s", summary["n"], summary["length"], snakemake.input.table)
