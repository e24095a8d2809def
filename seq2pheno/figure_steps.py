"""The figures a user reads first, as separate files for ``snakemake --report``.

One function per rule of rules/figures.smk: each reads the rule's input files, draws with
:mod:`seq2pheno.plots` / :mod:`seq2pheno.interpret_plots` (or the small model comparison
below) and writes its output atomically. The file's suffix picks the format (``.svg`` or
``.png``); the cross-validation summary is an HTML table. The self-contained
results/{cohort}/report.html is unchanged: these files repeat its first figures so that the
Snakemake report (grouped by cohort) shows them beside the run's provenance.

Units: R² and Pearson r are unitless; phenotypes and ISM importances are on the original
phenotype scale; positions are 0-based tensor columns.
"""

from __future__ import annotations

import html
import os
import sys
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import plots
from .atomic import atomic_path, read_json, write_text, write_tsv
from .dataset import read_tsv

_DPI = 110
_CNN = "#2c6e9b"
_BASELINE = "#b7791f"
_METRICS = [("r2", "test R²"), ("pearson_r", "test Pearson r")]


def save_figure(fig: Figure, path, *, dpi: int = _DPI) -> None:
    """Write ``fig`` to ``path`` (format from the suffix: svg, png, pdf) atomically; close it."""
    fmt = os.path.splitext(str(path))[1].lstrip(".").lower() or "png"
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:  # figures made through pyplot (logomaker) are freed too
            plt.close(fig)


def display_names(models, kinds: Mapping[str, str] | None, genotype: bool) -> dict[str, str]:
    """model -> the name the HTML report shows (ridge on genotypes names its GS equivalent)."""
    from .report import display_name

    kinds = dict(kinds or {})
    return {m: display_name(m, kinds.get(m, "cnn"), genotype) for m in models}


# ---- model comparison ------------------------------------------------------------------


def model_comparison_figure(per_fold: pd.DataFrame, *, names: Mapping[str, str] | None = None,
                            kinds: Mapping[str, str] | None = None) -> Figure:
    """Test R² and test Pearson r per model (evaluation/per_fold.tsv: model, repeat, fold, r2,
    pearson_r). A bar is the mean over the model's test folds; with more than one fold each
    fold is a dot on it. CNNs (``kinds[model] == "cnn"``, the default) in blue, the baselines
    in ochre. Models in the order they first appear (the config's order)."""
    names = dict(names or {})
    kinds = dict(kinds or {})
    models = list(dict.fromkeys(per_fold["model"].astype(str)))
    n_folds = int(per_fold.groupby("model", sort=False).size().max()) if len(per_fold) else 0
    fig = Figure(figsize=(10, 1.2 + 0.55 * max(len(models), 1)))
    rng = np.random.default_rng(0)
    y = np.arange(len(models))
    for i, (key, label) in enumerate(_METRICS):
        ax = fig.add_subplot(1, len(_METRICS), i + 1)
        for j, model in enumerate(models):
            vals = pd.to_numeric(per_fold.loc[per_fold["model"].astype(str) == model, key],
                                 errors="coerce").to_numpy(float)
            vals = vals[np.isfinite(vals)]
            color = _CNN if kinds.get(model, "cnn") == "cnn" else _BASELINE
            if not vals.size:
                ax.text(0.0, j, " no test metric", va="center", fontsize=8, color="#59636e")
                continue
            mean = float(vals.mean())
            ax.barh(j, mean, height=0.6, color=color, alpha=0.35 if vals.size > 1 else 0.8,
                    edgecolor=color)
            if vals.size > 1:
                jitter = rng.uniform(-0.18, 0.18, vals.size)
                ax.scatter(vals, j + jitter, s=18, color=color, edgecolors="white", linewidths=0.5,
                           zorder=3)
            ax.text(mean, j + 0.38, f" {mean:.3f}", va="center", ha="left", fontsize=8)
        ax.axvline(0.0, color="#444444", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([names.get(m, m) for m in models] if i == 0 else [""] * len(models))
        ax.set_ylim(len(models) - 0.5, -0.7)
        ax.set_xlabel(label)
        plots._style_axes(ax)
    what = (f"bar = mean over {n_folds} test folds, dot = one fold" if n_folds > 1
            else "the holdout test split")
    fig.suptitle(f"Model comparison ({what})", fontsize=11)
    fig.tight_layout()
    return fig


def model_comparison(per_fold_path, *, out, kinds=None, genotype: bool = False, log=None) -> None:
    """results/{cohort}/figures/model_comparison.svg from evaluation/per_fold.tsv."""
    per_fold = pd.read_csv(per_fold_path, sep="\t", dtype={"model": str})
    names = display_names(per_fold["model"].unique(), kinds, genotype)
    save_figure(model_comparison_figure(per_fold, names=names, kinds=kinds), out)
    if log:
        log.info("model comparison of %d models written to %s", len(names), out)


# ---- observed vs predicted of the best model --------------------------------------------


def best_model(metrics_paths, models) -> str | None:
    """The model with the highest validation R² (ties: the first), as the HTML report picks it;
    None when no model has one. ``metrics_paths`` in the order of ``models``."""
    from .report import _best_by_valid

    ctx = {m: {"metrics": read_json(p)} for m, p in zip(models, metrics_paths)}
    return _best_by_valid(ctx, list(models))


def drawn_predictions(predictions: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows to draw: test samples (k-fold: the out-of-fold predictions of the first repeat),
    else every row; and which ("test" or "all")."""
    sub = predictions
    if "repeat" in sub.columns and sub["repeat"].notna().any():
        sub = sub[sub["repeat"] == sub["repeat"].min()]
    test = sub[sub["split"].astype(str) == "test"] if "split" in sub.columns else sub
    return (test, "test") if len(test) else (sub, "all")


def observed_vs_predicted(metrics_paths, predictions_paths, models, *, out, kinds=None,
                          genotype: bool = False, log=None) -> str | None:
    """results/{cohort}/figures/observed_vs_predicted.svg for the best model; returns its name.
    With no validation metric anywhere the first model is drawn."""
    models = list(models)
    best = best_model(metrics_paths, models) or models[0]
    pred = read_tsv(predictions_paths[models.index(best)])
    sub, which = drawn_predictions(pred)
    name = display_names([best], kinds, genotype)[best]
    title = f"{name} (best by validation R²): {'test' if which == 'test' else 'all'} samples"
    save_figure(plots.observed_vs_predicted(pd.to_numeric(sub["observed"], errors="coerce"),
                                            pd.to_numeric(sub["predicted"], errors="coerce"), title), out)
    if log:
        log.info("observed vs predicted of %s (%d %s samples) written to %s", best, len(sub), which, out)
    return best


# ---- interpretation, relatedness ---------------------------------------------------------


def ism_importance(ism_path, *, out, model: str, truth_path=None, log=None) -> None:
    """results/{cohort}/figures/ism_{model}.png: the ISM importance per position (ism.tsv:
    position, importance, ...); a simulated cohort's causal loci (truth.json) in red."""
    from . import interpret_plots as ip

    ism = read_tsv(ism_path).sort_values("position", kind="stable")
    causal = read_json(truth_path).get("causal") if truth_path else None
    save_figure(ip.importance_plot(ism["importance"].to_numpy(float), causal,
                                   title=f"{model}: ISM importance"), out)
    if log:
        log.info("ISM importance of %s over %d positions written to %s", model, len(ism), out)


def kinship_histogram(kinship_path, *, out, log=None) -> None:
    """results/{cohort}/figures/kinship.svg from curate/kinship.tsv (its kinship column)."""
    table = pd.read_csv(kinship_path, sep="\t", dtype={"id1": str, "id2": str})
    k = pd.to_numeric(table["kinship"], errors="coerce").to_numpy(float)
    save_figure(plots.kinship_histogram(k), out)
    if log:
        log.info("kinship histogram of %d pairs written to %s", len(k), out)


# ---- cross-validation summary ------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1f2328; margin: 16px; }}
table {{ border-collapse: collapse; font-size: 0.93rem; }}
th, td {{ padding: 5px 9px; border-bottom: 1px solid #d8dee4; text-align: left; }}
th {{ background: #f6f8fa; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.table-caption {{ color: #59636e; font-size: 0.93rem; max-width: 860px; }}
</style></head><body>
<h3>{title}</h3>
{table}
</body></html>
"""


def cv_summary_frame(summary: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """evaluation/summary.tsv with the report's model names and readable column names."""
    names = dict(names or {})
    return pd.DataFrame({
        "model": [names.get(m, m) for m in summary["model"].astype(str)],
        "test folds": pd.to_numeric(summary["folds"], errors="coerce").astype("Int64"),
        "test R² (mean)": pd.to_numeric(summary["r2_mean"], errors="coerce"),
        "test R² (SD)": pd.to_numeric(summary["r2_sd"], errors="coerce"),
        "test Pearson r (mean)": pd.to_numeric(summary["pearson_r_mean"], errors="coerce"),
        "test Pearson r (SD)": pd.to_numeric(summary["pearson_r_sd"], errors="coerce"),
    })


def cv_summary(summary_path, *, out, cohort: str, kinds=None, genotype: bool = False,
               log=None) -> None:
    """results/{cohort}/figures/cv_summary.html: evaluation/summary.tsv as an HTML table."""
    from .report import table_block

    summary = pd.read_csv(summary_path, sep="\t", dtype={"model": str})
    frame = cv_summary_frame(summary, display_names(summary["model"], kinds, genotype))
    folds = int(frame["test folds"].max()) if len(frame) and frame["test folds"].notna().any() else 0
    caption = ("Mean and standard deviation over the test folds (SD empty with one fold: a "
               "holdout run)." if folds > 1 else
               "One holdout test split: no spread over folds (SD empty).")
    title = f"Cross-validation summary: {cohort}"
    write_text(_PAGE.format(title=html.escape(title), table=table_block(frame, caption)), out)
    if log:
        log.info("cross-validation summary of %d models written to %s", len(frame), out)


# ---- the cohort's figure list --------------------------------------------------------------


def figure_index(figures: Mapping[str, list], *, out, log=None) -> None:
    """results/{cohort}/figures/index.tsv: kind, file (one row per figure written)."""
    rows = [{"kind": kind, "file": os.path.basename(str(p))}
            for kind, paths in figures.items()
            for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    write_tsv(pd.DataFrame(rows, columns=["kind", "file"]), out)
    if log:
        log.info("%d figures listed in %s", len(rows), out)


__all__ = ["save_figure", "display_names", "model_comparison_figure", "model_comparison",
           "best_model", "drawn_predictions", "observed_vs_predicted", "ism_importance",
           "kinship_histogram", "cv_summary_frame", "cv_summary", "figure_index"]
