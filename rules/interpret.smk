# Interpretation of the model that won, in the terms of its data: a CNN by in-silico mutagenesis,
# filter motifs, epistasis and truth recovery (rule interpret); a linear model or boosted trees by
# their own effects per position and base or per marker, k-mer ridge by its k-mers (rule
# interpret_coefficients). Which files a model gets: interpretation_files (rules/common.smk).


checkpoint select_interpreted:
    input:
        metrics=all_metrics,
    output:
        "results/{cohort}/interpret/models.txt",
    log:
        "results/{cohort}/logs/select_interpreted.log",
    conda:
        "../envs/report.yaml"
    params:
        models=lambda wc: MODELS_OF[wc.cohort],
    script:
        "../scripts/select_interpreted.py"


rule interpret:
    input:
        model=trained_model,
        networks=ensemble_files,
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        features="results/{cohort}/data/features.tsv",
        split=lambda wc: fold_split_file(wc, first_fold(wc.cohort)),
        kept="results/{cohort}/curate/kept.tsv",
    output:
        ism="results/{cohort}/interpret/{model}/ism.tsv",
        ism_maps="results/{cohort}/interpret/{model}/ism_maps.npz",
        saliency="results/{cohort}/interpret/{model}/saliency.tsv",
        meme="results/{cohort}/interpret/{model}/filters.meme",
        filters="results/{cohort}/interpret/{model}/filters.tsv",
        influence="results/{cohort}/interpret/{model}/filter_influence.tsv",
        interactions="results/{cohort}/interpret/{model}/interactions.tsv",
    log:
        "results/{cohort}/logs/interpret_{model}.log",
    benchmark:
        "results/{cohort}/benchmarks/interpret_{model}.tsv"
    wildcard_constraints:
        model=one_of(ISM_MODELS),
    conda:
        "../envs/interpret-gpu.yaml"
    threads: 4
    resources:
        gpu=config["resources"]["gpu"],
        mem_mb=interpret_mem_mb,
    params:
        settings=config["interpret"],
        ensemble=lambda wc: ENSEMBLE.get((wc.cohort, wc.model)),
    script:
        "../scripts/interpret.py"


rule interpret_coefficients:
    input:
        model=trained_model,
        features="results/{cohort}/data/features.tsv",
    output:
        "results/{cohort}/interpret/{model}/{table}.tsv",
    log:
        "results/{cohort}/logs/interpret_{model}_{table}.log",
    wildcard_constraints:
        model=one_of(COEFFICIENT_MODELS),
        table="effects|kmers",
    conda:
        "../envs/report.yaml"
    threads: 1
    params:
        settings=config["interpret"],
        genotype=lambda wc: wc.cohort in GENOTYPE_COHORTS,
    script:
        "../scripts/interpret_coefficients.py"


rule truth_recovery:
    input:
        truth="results/{cohort}/data/truth.json",
        ism="results/{cohort}/interpret/{model}/ism.tsv",
        interactions="results/{cohort}/interpret/{model}/interactions.tsv",
        ridge=ridge_models_of_cohort,
    output:
        "results/{cohort}/interpret/{model}/truth_recovery.json",
    log:
        "results/{cohort}/logs/truth_recovery_{model}.log",
    wildcard_constraints:
        cohort=one_of(cohorts_from("simulate")),
        model=one_of(ISM_MODELS),
    conda:
        "../envs/interpret.yaml"
    script:
        "../scripts/truth_recovery.py"


# Motifs with names (sequence cohorts): filters and TF-MoDISco patterns against JASPAR.
rule name_motifs:
    input:
        ism_maps="results/{cohort}/interpret/{model}/ism_maps.npz",
        meme="results/{cohort}/interpret/{model}/filters.meme",
        filters="results/{cohort}/interpret/{model}/filters.tsv",
    output:
        "results/{cohort}/interpret/{model}/motif_matches.tsv",
    log:
        "results/{cohort}/logs/name_motifs_{model}.log",
    benchmark:
        "results/{cohort}/benchmarks/name_motifs_{model}.tsv"
    wildcard_constraints:
        cohort=one_of([c for c in COHORTS if c not in GENOTYPE_COHORTS]),
        model=one_of(ISM_MODELS),
    conda:
        "../envs/interpret.yaml"
    threads: 2
    script:
        "../scripts/name_motifs.py"
