# One self-contained HTML report per cohort.


rule report:
    input:
        samples="results/{cohort}/data/samples.tsv",
        features="results/{cohort}/data/features.tsv",
        duplicates="results/{cohort}/curate/duplicates.tsv",
        removed="results/{cohort}/curate/removed.tsv",
        kept="results/{cohort}/curate/kept.tsv",
        curate_summary="results/{cohort}/curate/summary.json",
        split=lambda wc: fold_split_file(wc, first_fold(wc.cohort)),
        distribution=lambda wc: fold_distribution_file(wc, first_fold(wc.cohort)),
        evaluation=evaluation_outputs,
        selection=selection_outputs,
        search=search_outputs,
        truth=truth_if_simulated,
        metrics=all_metrics,
        predictions=all_predictions,
        histories=all_histories,
        unphenotyped=all_unphenotyped,
        interpretation=interpretation_outputs,
        kinship=kinship_outputs,
    output:
        html="results/{cohort}/report.html",
        summary="results/{cohort}/summary.json",
    log:
        "results/{cohort}/logs/report.log",
    conda:
        "../envs/report.yaml"
    params:
        cohort=cohort_entry,
        models=lambda wc: MODELS_OF[wc.cohort],
        kinds=lambda wc: {m: KIND_OF[(wc.cohort, m)] for m in MODELS_OF[wc.cohort]},
        evaluation=lambda wc: settings(wc.cohort, "evaluation"),
    script:
        "../scripts/report.py"
