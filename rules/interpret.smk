# Interpretation of the CNNs: in-silico mutagenesis, filter motifs, epistasis, truth recovery.


checkpoint select_interpreted:
    input:
        metrics=cnn_metrics,
    output:
        "results/{cohort}/interpret/models.txt",
    params:
        models=lambda wc: ism_models_of(wc.cohort),
    log:
        "results/{cohort}/logs/select_interpreted.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/select_interpreted.py"


rule interpret:
    input:
        model=trained_model,
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
    params:
        settings=config["interpret"],
    wildcard_constraints:
        model=one_of(ISM_MODELS),
    threads: 4
    resources:
        gpu=config["resources"]["gpu"],
    log:
        "results/{cohort}/logs/interpret_{model}.log",
    benchmark:
        "results/{cohort}/benchmarks/interpret_{model}.tsv"
    conda:
        "../envs/interpret.yaml"
    script:
        "../scripts/interpret.py"


rule truth_recovery:
    input:
        truth="results/{cohort}/data/truth.json",
        ism="results/{cohort}/interpret/{model}/ism.tsv",
        interactions="results/{cohort}/interpret/{model}/interactions.tsv",
        ridge=ridge_models_of_cohort,
    output:
        "results/{cohort}/interpret/{model}/truth_recovery.json",
    wildcard_constraints:
        cohort=one_of(cohorts_from("simulate")),
        model=one_of(ISM_MODELS),
    log:
        "results/{cohort}/logs/truth_recovery_{model}.log",
    conda:
        "../envs/interpret.yaml"
    script:
        "../scripts/truth_recovery.py"
