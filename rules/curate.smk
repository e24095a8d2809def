# Curation (duplicates) and the stratified, group-aware split.


rule curate:
    input:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
    output:
        duplicates="results/{cohort}/curate/duplicates.tsv",
        removed="results/{cohort}/curate/removed.tsv",
        kept="results/{cohort}/curate/kept.tsv",
        summary="results/{cohort}/curate/summary.json",
    log:
        "results/{cohort}/logs/curate.log",
    benchmark:
        "results/{cohort}/benchmarks/curate.tsv"
    wildcard_constraints:
        cohort=one_of(cohorts_from("simulate", "table", "fasta")),
    conda:
        "../envs/curate.yaml"
    params:
        curation=lambda wc: settings(wc.cohort, "curation"),
    script:
        "../scripts/curate.py"


rule split:
    input:
        kept="results/{cohort}/curate/kept.tsv",
    output:
        split="results/{cohort}/split/split.tsv",
        distribution="results/{cohort}/split/distribution.json",
    log:
        "results/{cohort}/logs/split.log",
    wildcard_constraints:
        cohort=one_of(
            [
                c
                for c in cohorts_from("simulate", "table", "fasta")
                if c in HOLDOUT_COHORTS
            ]
        ),
    conda:
        "../envs/curate.yaml"
    params:
        split=lambda wc: settings(wc.cohort, "split"),
    script:
        "../scripts/split.py"
