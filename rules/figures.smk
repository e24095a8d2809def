# The figures a user reads first, as separate files marked for `snakemake --report`
# (grouped by cohort, one subcategory per figure kind; captions in report/).
# results/{cohort}/report.html stays the self-contained report; these repeat its first figures.
# params kinds / genotype give the report's model names (ridge -> rrBLUP/GBLUP-equivalent).


rule figure_model_comparison:
    input:
        per_fold="results/{cohort}/evaluation/per_fold.tsv",
    output:
        report(
            "results/{cohort}/figures/model_comparison.svg",
            caption="../report/model_comparison.rst",
            category="{cohort}",
            subcategory="model comparison",
            labels={"figure": "model comparison", "model": "all"},
        ),
    log:
        "results/{cohort}/logs/figure_model_comparison.log",
    conda:
        "../envs/report.yaml"
    params:
        kinds=lambda wc: {m: KIND_OF[(wc.cohort, m)] for m in MODELS_OF[wc.cohort]},
        genotype=lambda wc: wc.cohort in GENOTYPE_COHORTS,
    script:
        "../scripts/figure_model_comparison.py"


rule figure_observed_predicted:
    input:
        metrics=all_metrics,
        predictions=all_predictions,
    output:
        report(
            "results/{cohort}/figures/observed_vs_predicted.svg",
            caption="../report/observed_vs_predicted.rst",
            category="{cohort}",
            subcategory="observed vs predicted",
            labels={
                "figure": "observed vs predicted",
                "model": "best by validation R²",
            },
        ),
    log:
        "results/{cohort}/logs/figure_observed_predicted.log",
    conda:
        "../envs/report.yaml"
    params:
        models=lambda wc: MODELS_OF[wc.cohort],
        kinds=lambda wc: {m: KIND_OF[(wc.cohort, m)] for m in MODELS_OF[wc.cohort]},
        genotype=lambda wc: wc.cohort in GENOTYPE_COHORTS,
    script:
        "../scripts/figure_observed_predicted.py"


rule figure_ism:
    input:
        ism="results/{cohort}/interpret/{model}/ism.tsv",
        truth=truth_if_simulated,
    output:
        report(
            "results/{cohort}/figures/ism_{model}.png",
            caption="../report/ism.rst",
            category="{cohort}",
            subcategory="ISM importance",
            labels={"figure": "ISM importance", "model": "{model}"},
        ),
    log:
        "results/{cohort}/logs/figure_ism_{model}.log",
    wildcard_constraints:
        model=one_of(ISM_MODELS),
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/figure_ism.py"


rule figure_kinship:
    input:
        kinship="results/{cohort}/curate/kinship.tsv",
    output:
        report(
            "results/{cohort}/figures/kinship.svg",
            caption="../report/kinship.rst",
            category="{cohort}",
            subcategory="relatedness",
            labels={"figure": "kinship histogram", "model": "none"},
        ),
    log:
        "results/{cohort}/logs/figure_kinship.log",
    wildcard_constraints:
        cohort=one_of(GENOTYPE_COHORTS),
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/figure_kinship.py"


rule figure_cv_summary:
    input:
        summary="results/{cohort}/evaluation/summary.tsv",
    output:
        report(
            "results/{cohort}/figures/cv_summary.html",
            caption="../report/cv_summary.rst",
            category="{cohort}",
            subcategory="cross-validation summary",
            labels={"figure": "cross-validation summary", "model": "all"},
        ),
    log:
        "results/{cohort}/logs/figure_cv_summary.log",
    conda:
        "../envs/report.yaml"
    params:
        kinds=lambda wc: {m: KIND_OF[(wc.cohort, m)] for m in MODELS_OF[wc.cohort]},
        genotype=lambda wc: wc.cohort in GENOTYPE_COHORTS,
    script:
        "../scripts/figure_cv_summary.py"


rule figures:
    """The cohort's figure list (index.tsv): the target that asks for every figure."""
    input:
        model_comparison="results/{cohort}/figures/model_comparison.svg",
        observed_vs_predicted="results/{cohort}/figures/observed_vs_predicted.svg",
        cv_summary="results/{cohort}/figures/cv_summary.html",
        # genotype cohorts only; the ISM maps (interpreted networks only: other kinds have no
        # ism.tsv) wait for the select_interpreted checkpoint
        kinship=lambda wc: (
            f"results/{wc.cohort}/figures/kinship.svg"
            if wc.cohort in GENOTYPE_COHORTS
            else []
        ),
        ism=lambda wc: [
            f"results/{wc.cohort}/figures/ism_{m}.png"
            for m in interpreted_models(wc)
            if kind_of(wc.cohort, m).INTERPRETATION == "ism"
        ],
    output:
        "results/{cohort}/figures/index.tsv",
    log:
        "results/{cohort}/logs/figures.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/figure_index.py"
