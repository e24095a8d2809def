# One self-contained HTML report per cohort.


rule report:
    input:
        samples="results/{cohort}/data/samples.tsv",
        features="results/{cohort}/data/features.tsv",
        duplicates="results/{cohort}/curate/duplicates.tsv",
        removed="results/{cohort}/curate/removed.tsv",
        kept="results/{cohort}/curate/kept.tsv",
        curate_summary="results/{cohort}/curate/summary.json",
        split="results/{cohort}/split/split.tsv",
        distribution="results/{cohort}/split/distribution.json",
        truth=truth_if_simulated,
        metrics=all_metrics,
        predictions=all_predictions,
        histories=all_histories,
        unphenotyped=all_unphenotyped,
        interpretation=interpretation_outputs,
        kinship=kinship_outputs,
    output:
        "results/{cohort}/report.html",
    params:
        cohort=cohort_entry,
        models=MODELS,
        cnn_models=CNN_MODELS,
    log:
        "results/{cohort}/logs/report.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/report.py"
