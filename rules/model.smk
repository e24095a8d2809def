# Training and evaluation, generic over {model} and {fold}: the registry of model kinds
# (seq2pheno/models/) says each model's artefact and whether it trains on a GPU.
# A holdout run has one fold, "holdout"; k-fold evaluation has "{repeat}_{fold}" folds.


rule assign_folds:
    input:
        kept="results/{cohort}/curate/kept.tsv",
        table=fold_column_table,
    output:
        "results/{cohort}/evaluation/folds.tsv",
    log:
        "results/{cohort}/logs/assign_folds.log",
    wildcard_constraints:
        cohort=one_of(KFOLD_COHORTS),
    conda:
        "../envs/curate.yaml"
    params:
        evaluation=lambda wc: settings(wc.cohort, "evaluation"),
        split=lambda wc: settings(wc.cohort, "split"),
    script:
        "../scripts/assign_folds.py"


rule fold_split:
    input:
        kept="results/{cohort}/curate/kept.tsv",
        folds="results/{cohort}/evaluation/folds.tsv",
        samples="results/{cohort}/data/samples.tsv",
    output:
        split="results/{cohort}/folds/{fold}/split.tsv",
        distribution="results/{cohort}/folds/{fold}/distribution.json",
    log:
        "results/{cohort}/logs/fold_split_{fold}.log",
    wildcard_constraints:
        cohort=one_of(KFOLD_COHORTS),
        fold=r"\d+_\d+",
    conda:
        "../envs/curate.yaml"
    params:
        evaluation=lambda wc: settings(wc.cohort, "evaluation"),
        split=lambda wc: settings(wc.cohort, "split"),
        covariates=lambda wc: COHORTS[wc.cohort].get("covariates", []),
    script:
        "../scripts/fold_split.py"


# One training rule per resource class: networks ask for the GPU, the linear and tree
# baselines run on CPU nodes. Both run the same step (seq2pheno.steps.train).
rule train_gpu:
    input:
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        split=fold_split_file,
        kept="results/{cohort}/curate/kept.tsv",
    output:
        model=f"results/{{cohort}}/folds/{{fold}}/models/{{model}}/{ARTEFACT['gpu']}",
        history="results/{cohort}/folds/{fold}/models/{model}/history.tsv",
    log:
        "results/{cohort}/logs/train/{model}_{fold}.log",
    benchmark:
        "results/{cohort}/benchmarks/train/{model}_{fold}.tsv"
    wildcard_constraints:
        model=one_of(GPU_MODELS),
    conda:
        "../envs/model-gpu.yaml"
    threads: 4
    resources:
        gpu=config["resources"]["gpu"],
    params:
        spec=model_spec,
        seed=config["training"]["seed"],
    script:
        "../scripts/train.py"


rule train_cpu:
    input:
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        split=fold_split_file,
        kept="results/{cohort}/curate/kept.tsv",
    output:
        model=f"results/{{cohort}}/folds/{{fold}}/models/{{model}}/{ARTEFACT['cpu']}",
        history="results/{cohort}/folds/{fold}/models/{model}/history.tsv",
    log:
        "results/{cohort}/logs/train/{model}_{fold}.log",
    benchmark:
        "results/{cohort}/benchmarks/train/{model}_{fold}.tsv"
    wildcard_constraints:
        model=one_of(CPU_MODELS),
    conda:
        "../envs/model.yaml"
    threads: 2
    params:
        spec=model_spec,
        seed=config["training"]["seed"],
    script:
        "../scripts/train.py"


# A model that chooses among candidate architectures (`default`): the candidate with the lowest
# validation loss on this fold becomes the model; the test split is never read.
rule select_candidate:
    input:
        models=lambda wc: candidate_files(wc, "model"),
        histories=lambda wc: candidate_files(wc, "history.tsv"),
    output:
        model=f"results/{{cohort}}/folds/{{fold}}/models/{{model}}/{ARTEFACT['gpu']}",
        history="results/{cohort}/folds/{fold}/models/{model}/history.tsv",
        selection="results/{cohort}/folds/{fold}/models/{model}/selection.tsv",
    log:
        "results/{cohort}/logs/select/{model}_{fold}.log",
    wildcard_constraints:
        model=one_of(SELECTED_MODELS),
    conda:
        "../envs/curate.yaml"
    params:
        candidates=lambda wc: [
            c.split("~", 1)[1] for c in CANDIDATES[(wc.cohort, wc.model)]
        ],
    script:
        "../scripts/select_candidate.py"


rule gather_selection:
    input:
        selection_tables,
    output:
        "results/{cohort}/models/{model}/selection.tsv",
    log:
        "results/{cohort}/logs/gather_selection_{model}.log",
    wildcard_constraints:
        model=one_of(SELECTED_MODELS),
    conda:
        "../envs/curate.yaml"
    params:
        folds=lambda wc: folds_of(wc.cohort),
    script:
        "../scripts/gather_selection.py"


rule evaluate:
    input:
        model=trained_model,
        networks=ensemble_files,
        member_splits=ensemble_member_splits,
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        split=fold_split_file,
        kept="results/{cohort}/curate/kept.tsv",
    output:
        predictions="results/{cohort}/folds/{fold}/models/{model}/predictions.tsv",
        metrics="results/{cohort}/folds/{fold}/models/{model}/metrics.json",
        unphenotyped="results/{cohort}/folds/{fold}/models/{model}/predict_unphenotyped.tsv",
    log:
        "results/{cohort}/logs/evaluate/{model}_{fold}.log",
    conda:
        "../envs/model.yaml"
    threads: 2
    params:
        kind=model_kind_name,
        level=lambda wc: settings(wc.cohort, "evaluation")["interval"],
        ensemble=lambda wc: ENSEMBLE.get((wc.cohort, wc.model)),
    script:
        "../scripts/evaluate.py"


# Gather over folds: the files users and the report read, where they always were.
rule gather_model:
    input:
        predictions=lambda wc: fold_outputs(wc, "predictions.tsv"),
        metrics=lambda wc: fold_outputs(wc, "metrics.json"),
        unphenotyped=lambda wc: fold_outputs(wc, "predict_unphenotyped.tsv"),
    output:
        predictions="results/{cohort}/models/{model}/predictions.tsv",
        metrics="results/{cohort}/models/{model}/metrics.json",
        unphenotyped="results/{cohort}/models/{model}/predict_unphenotyped.tsv",
    log:
        "results/{cohort}/logs/gather_{model}.log",
    conda:
        "../envs/curate.yaml"
    params:
        folds=lambda wc: folds_of(wc.cohort),
        scheme=lambda wc: settings(wc.cohort, "evaluation")["scheme"],
    script:
        "../scripts/gather_model.py"


rule evaluation_summary:
    input:
        metrics=all_fold_metrics,
    output:
        per_fold="results/{cohort}/evaluation/per_fold.tsv",
        summary="results/{cohort}/evaluation/summary.tsv",
    log:
        "results/{cohort}/logs/evaluation_summary.log",
    conda:
        "../envs/curate.yaml"
    params:
        models=lambda wc: MODELS_OF[wc.cohort],
        folds=lambda wc: folds_of(wc.cohort),
    script:
        "../scripts/evaluation_summary.py"
