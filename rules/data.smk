# Import: every source becomes samples.tsv, onehot.npy (N x L x 4) and features.tsv.


rule import_simulated:
    output:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
        features="results/{cohort}/data/features.tsv",
        truth="results/{cohort}/data/truth.json",
    log:
        "results/{cohort}/logs/import.log",
    benchmark:
        "results/{cohort}/benchmarks/import.tsv"
    wildcard_constraints:
        cohort=one_of(cohorts_from("simulate")),
    conda:
        "../envs/data.yaml"
    params:
        cohort=cohort_entry,
    script:
        "../scripts/import_simulated.py"


rule import_table:
    input:
        table=cohort_path("table"),
    output:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
        features="results/{cohort}/data/features.tsv",
    log:
        "results/{cohort}/logs/import.log",
    benchmark:
        "results/{cohort}/benchmarks/import.tsv"
    wildcard_constraints:
        cohort=one_of(cohorts_from("table")),
    conda:
        "../envs/data.yaml"
    params:
        cohort=cohort_entry,
    script:
        "../scripts/import_table.py"


rule import_fasta:
    input:
        fasta=cohort_path("fasta"),
        phenotypes=cohort_path("phenotypes"),
    output:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
        features="results/{cohort}/data/features.tsv",
    log:
        "results/{cohort}/logs/import.log",
    benchmark:
        "results/{cohort}/benchmarks/import.tsv"
    wildcard_constraints:
        cohort=one_of(cohorts_from("fasta")),
    conda:
        "../envs/data.yaml"
    params:
        cohort=cohort_entry,
    script:
        "../scripts/import_fasta.py"
