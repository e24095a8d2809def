"""Group exact and near-duplicate sequences; remove them or keep them as groups."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.curate(snakemake.input.samples, snakemake.input.onehot, snakemake.params.curation,
                        out=dict(snakemake.output.items()), log=log)
