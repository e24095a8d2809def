# seq2pheno: predict a quantitative phenotype from DNA with CNNs, beside ridge, and explain it.
# Run: snakemake --cores all                      (the demo in config/config.yaml)
#      snakemake --cores 4 --configfile my.yaml   (your cohorts replace the demo's)
from snakemake.utils import min_version

min_version("9.0")


# A user's --configfile brings its own cohorts: the demo is loaded only when none are given.
if "cohorts" not in config:

    configfile: "config/config.yaml"


# `snakemake --report results/report.zip`: the figures of rules/figures.smk, captions in report/.
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/curate.smk"
include: "rules/genotype.smk"
include: "rules/model.smk"
include: "rules/search.smk"
include: "rules/ensemble.smk"
include: "rules/interpret.smk"
include: "rules/report.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
