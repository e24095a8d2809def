# Ensembles (a model entry's `ensemble: {members: K, over: seeds | folds | trials}`): each
# member is one job with the `gpu` resource, so a cluster trains the members side by side. The
# model's prediction is the members' mean and its spread their SD (rule evaluate); the
# interpretation averages the members' ISM maps and shows their agreement (rule interpret).


rule train_member:
    input:
        unpack(member_inputs),
    output:
        model=f"results/{{cohort}}/folds/{{fold}}/models/{{model}}/members/{{member}}/{ARTEFACT['gpu']}",
        history="results/{cohort}/folds/{fold}/models/{model}/members/{member}/history.tsv",
        split="results/{cohort}/folds/{fold}/models/{model}/members/{member}/split.tsv",
    log:
        "results/{cohort}/logs/train/{model}_{fold}_member_{member}.log",
    benchmark:
        "results/{cohort}/benchmarks/train/{model}_{fold}_member_{member}.tsv"
    wildcard_constraints:
        model=one_of(ENSEMBLE_MODELS),
        member=r"\d+",
    conda:
        "../envs/model-gpu.yaml"
    threads: 4
    resources:
        gpu=config["resources"]["gpu"],
    params:
        plan=member_plan,
    script:
        "../scripts/train_member.py"
