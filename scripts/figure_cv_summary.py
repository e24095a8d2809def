"""Write the cross-validation summary table (evaluation/summary.tsv) as an HTML report item."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/..")  # noqa: E702  (library import without install)

from seq2pheno import figure_steps
from seq2pheno.runlog import step_log

with step_log(snakemake.log[0]) as log:
    figure_steps.cv_summary(snakemake.input.summary, out=snakemake.output[0], cohort=snakemake.wildcards.cohort,
                            log=log, kinds=snakemake.params.kinds, genotype=snakemake.params.genotype)
