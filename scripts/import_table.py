"""Read a CSV/TSV of sequences and phenotypes into the cohort's tensors."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import sources
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    c = snakemake.params.cohort
    cohort = sources.read_table(snakemake.input.table, missing_phenotype=c["missing_phenotype"], log=log)
    summary = sources.write_cohort(cohort, samples_path=snakemake.output.samples,
                                   onehot_path=snakemake.output.onehot,
                                   features_path=snakemake.output.features,
                                   allow_n=c["allow_n"], source=snakemake.input.table)
    log.info("imported %d sequences of %d bp from %s", summary["n"], summary["length"], snakemake.input.table)
