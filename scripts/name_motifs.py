"""Name a network's motifs: first-layer filters and TF-MoDISco patterns against JASPAR."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    steps.name_motifs(dict(snakemake.input.items()), out=snakemake.output[0], log=log)
