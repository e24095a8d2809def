"""Simulate a cohort with the reference notebook's generative model (streamed into the cohort's tensors)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)
import json

from seq2pheno import sources
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    c = snakemake.params.cohort
    summary, truth = sources.import_simulated(c["n"], c["length"], env=c["env"], seed=c["seed"], h2=c["h2"],
                                              samples_path=snakemake.output.samples,
                                              onehot_path=snakemake.output.onehot,
                                              features_path=snakemake.output.features)
    with open(snakemake.output.truth, "w") as fh:
        json.dump(truth, fh, indent=1)
    log.info("simulated %d sequences of %d bp, %d causal loci, H2 = %.3f",
             summary["n"], summary["length"], len(truth["causal"]), truth["H2"])
