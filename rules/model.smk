# Training (CNNs on a GPU where there is one; ridge beside them) and evaluation.


rule train_cnn:
    input:
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        split="results/{cohort}/split/split.tsv",
        kept="results/{cohort}/curate/kept.tsv",
    output:
        model="results/{cohort}/models/{model}/model.keras",
        history="results/{cohort}/models/{model}/history.tsv",
    params:
        spec=model_spec,
        seed=config["training"]["seed"],
    wildcard_constraints:
        model=one_of(CNN_MODELS),
    threads: 4
    resources:
        gpu=config["resources"]["gpu"],
    log:
        "results/{cohort}/logs/train_{model}.log",
    benchmark:
        "results/{cohort}/benchmarks/train_{model}.tsv"
    conda:
        "../envs/model.yaml"
    script:
        "../scripts/train_cnn.py"


rule train_ridge:
    input:
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        split="results/{cohort}/split/split.tsv",
        kept="results/{cohort}/curate/kept.tsv",
    output:
        model="results/{cohort}/models/{model}/model.npz",
        history="results/{cohort}/models/{model}/history.tsv",
    params:
        spec=model_spec,
    wildcard_constraints:
        model=one_of(RIDGE_MODELS),
    threads: 2
    log:
        "results/{cohort}/logs/train_{model}.log",
    benchmark:
        "results/{cohort}/benchmarks/train_{model}.tsv"
    conda:
        "../envs/model.yaml"
    script:
        "../scripts/train_ridge.py"


rule evaluate:
    input:
        model=trained_model,
        onehot=model_tensor,
        samples="results/{cohort}/data/samples.tsv",
        split="results/{cohort}/split/split.tsv",
        kept="results/{cohort}/curate/kept.tsv",
    output:
        predictions="results/{cohort}/models/{model}/predictions.tsv",
        metrics="results/{cohort}/models/{model}/metrics.json",
        unphenotyped="results/{cohort}/models/{model}/predict_unphenotyped.tsv",
    threads: 2
    log:
        "results/{cohort}/logs/evaluate_{model}.log",
    conda:
        "../envs/model.yaml"
    script:
        "../scripts/evaluate.py"
