# Hyperparameter search (a model entry's `search:`): each worker is one job, so a cluster runs
# the workers side by side, one GPU each; they share one Optuna journal file per fold (no
# database server). Trials read the fold's training and validation splits only; the best trial
# by validation loss gives the entry trained as the model. Under k-fold evaluation each fold is
# searched on its own training folds, so the held-out fold never chooses.


rule search_worker:
    input:
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        split=fold_split_file,
        kept="results/{cohort}/curate/kept.tsv",
    output:
        "results/{cohort}/folds/{fold}/search/{model}/worker_{worker}.tsv",
    log:
        "results/{cohort}/logs/search/{model}_{fold}_worker_{worker}.log",
    benchmark:
        "results/{cohort}/benchmarks/search/{model}_{fold}_worker_{worker}.tsv"
    wildcard_constraints:
        model=one_of(SEARCHED_MODELS),
        worker=r"\d+",
    conda:
        "../envs/model-gpu.yaml"
    threads: 1
    resources:
        gpu=config["resources"]["gpu"],
    params:
        entry=lambda wc: ENTRY[(wc.cohort, wc.model)],
        search=lambda wc: SEARCH[(wc.cohort, wc.model)],
        seed=config["training"]["seed"],
        journal=lambda wc: f"{search_dir(wc.cohort, wc.fold, wc.model)}/journal.log",
    script:
        "../scripts/search_worker.py"


rule gather_search:
    input:
        search_workers,
    output:
        trials="results/{cohort}/folds/{fold}/search/{model}/trials.tsv",
        best="results/{cohort}/folds/{fold}/search/{model}/best.json",
    log:
        "results/{cohort}/logs/search/{model}_{fold}_gather.log",
    wildcard_constraints:
        model=one_of(SEARCHED_MODELS),
    conda:
        "../envs/model.yaml"
    params:
        entry=lambda wc: ENTRY[(wc.cohort, wc.model)],
        search=lambda wc: SEARCH[(wc.cohort, wc.model)],
        journal=lambda wc: f"{search_dir(wc.cohort, wc.fold, wc.model)}/journal.log",
        ranked=lambda wc: ENSEMBLE.get((wc.cohort, wc.model), {}).get("members", 1),
    script:
        "../scripts/gather_search.py"


rule train_searched:
    input:
        best="results/{cohort}/folds/{fold}/search/{model}/best.json",
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
        model=one_of(SEARCHED_MODELS),
    conda:
        "../envs/model-gpu.yaml"
    threads: 4
    resources:
        gpu=config["resources"]["gpu"],
    params:
        seed=config["training"]["seed"],
    script:
        "../scripts/train_searched.py"


rule search_summary:
    input:
        trials=lambda wc: [
            f"{search_dir(wc.cohort, f, wc.model)}/trials.tsv"
            for f in folds_of(wc.cohort)
        ],
        best=lambda wc: [
            f"{search_dir(wc.cohort, f, wc.model)}/best.json"
            for f in folds_of(wc.cohort)
        ],
    output:
        trials="results/{cohort}/search/{model}/trials.tsv",
        best="results/{cohort}/search/{model}/best.tsv",
    log:
        "results/{cohort}/logs/search/{model}_summary.log",
    wildcard_constraints:
        model=one_of(SEARCHED_MODELS),
    conda:
        "../envs/curate.yaml"
    params:
        folds=lambda wc: folds_of(wc.cohort),
    script:
        "../scripts/search_summary.py"
