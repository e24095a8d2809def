"""A cohort's verdict as data: which model is best, against which baseline, with what certainty.

:func:`summarise` turns the loaded results of a cohort (the report's ``ctx``: per model its
kind, metrics and predictions; the evaluation scheme and per-fold table; the ceiling sources)
into the dict written as ``results/{cohort}/summary.json`` and shown by the report. Every
comparison comes with its 95 % interval (:mod:`seq2pheno.verdict`): a paired bootstrap over the
same test samples under a holdout split, Nadeau and Bengio's corrected resampled t-test over
folds under k-fold evaluation.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from . import verdict as vd

METRIC = "pearson_r"


def _is_linear(kind: str) -> bool:
    from .models import KINDS

    mod = KINDS.get(kind)
    return bool(getattr(mod, "LINEAR", False))


def _test_table(pred: pd.DataFrame | None) -> pd.DataFrame:
    """The test rows (first repeat under k-fold) with numeric observed and predicted."""
    if pred is None or not len(pred):
        return pd.DataFrame(columns=["id", "observed", "predicted"])
    t = pred[pred["split"].astype(str) == "test"] if "split" in pred.columns else pred
    if "repeat" in t.columns and len(t):
        t = t[t["repeat"] == t["repeat"].min()]
    t = t.assign(observed=pd.to_numeric(t["observed"], errors="coerce"),
                 predicted=pd.to_numeric(t["predicted"], errors="coerce"))
    return t[np.isfinite(t["observed"]) & np.isfinite(t["predicted"])]


#: The range each metric can take: an interval over folds is clipped to it (a t interval over
#: few folds can otherwise reach an R² or a correlation above 1).
METRIC_RANGE = {"pearson_r": (-1.0, 1.0), "spearman_r": (-1.0, 1.0), "r2": (-np.inf, 1.0)}


def _fold_interval(values: np.ndarray, n_train: float, n_test: float, metric: str | None = None) -> dict:
    """Mean over folds with the corrected resampled t interval (as for a difference), clipped
    to the range of ``metric`` (:data:`METRIC_RANGE`)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        v = float(values[0]) if len(values) else None
        return {"value": v, "lower": None, "upper": None, "n": int(len(values))}
    res = vd.corrected_resampled_t(values, n_train, n_test)
    low, high = METRIC_RANGE.get(metric, (-np.inf, np.inf))
    return {"value": res["difference"], "lower": max(res["lower"], low), "upper": min(res["upper"], high),
            "n": int(len(values)), "how": f"over {len(values)} folds (corrected resampled t)"}


def summarise(ctx: Mapping, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """The verdict of a cohort (see the module docstring); keys as in summary.json.

    ctx keys read: ``models`` (name -> {kind, metrics, predictions}), ``scheme`` ("holdout" or
    "kfold"), ``per_fold`` (evaluation/per_fold.tsv as a DataFrame, k-fold), ``fold_sizes``
    ({"train": mean n, "test": mean n}), ``ceiling_sources`` ({"truth", "replicate", "reml_h2"}),
    ``relatives`` (a :func:`seq2pheno.verdict.relatives_note` dict or None), ``sex_markers``
    (a :func:`seq2pheno.verdict.sex_marker_note` dict or None).
    """
    models = ctx.get("models") or {}
    scheme = ctx.get("scheme") or "holdout"
    per_fold = ctx.get("per_fold")
    kfold = scheme == "kfold" and per_fold is not None and len(per_fold)
    sizes = ctx.get("fold_sizes") or {}
    n_train, n_test = float(sizes.get("train") or 4), float(sizes.get("test") or 1)

    tables = {name: _test_table(e.get("predictions")) for name, e in models.items()}
    ids = None
    for t in tables.values():
        ids = set(t["id"]) if ids is None else ids & set(t["id"])
    common = sorted(ids) if ids else []
    entries, intervals = [], {}
    observed = None
    for name, e in models.items():
        kind = str(e.get("kind") or "cnn")
        t = tables[name].drop_duplicates("id").set_index("id")
        metrics = e.get("metrics") or {}
        entry = {"name": name, "kind": kind, "is_linear": _is_linear(kind),
                 "valid": {k: (metrics.get("valid") or {}).get(k) for k in ("pearson_r", "r2")}}
        if kfold:
            rows = per_fold[per_fold["model"] == name]
            test = {k: _fold_interval(pd.to_numeric(rows[k], errors="coerce").to_numpy(), n_train, n_test, k)
                    for k in ("pearson_r", "r2")}
        else:
            obs = t["observed"].to_numpy()
            prd = t["predicted"].to_numpy()
            test = {k: vd.metric_interval(obs, prd, k, n_boot=n_boot, seed=seed) for k in ("pearson_r", "r2")}
            if common:
                entry["predicted"] = t.loc[common, "predicted"].to_numpy()
                observed = t.loc[common, "observed"].to_numpy()
        entry["test"] = test
        intervals[name] = test
        entries.append(entry)

    paired = None
    if kfold:
        def paired(a, b):
            fa = per_fold[per_fold["model"] == a].set_index(["repeat", "fold"])["pearson_r"]
            fb = per_fold[per_fold["model"] == b].set_index(["repeat", "fold"])["pearson_r"]
            d = (pd.to_numeric(fa, errors="coerce") - pd.to_numeric(fb, errors="coerce")).dropna()
            if len(d) < 2:
                return None
            res = vd.corrected_resampled_t(d.to_numpy(), n_train, n_test)
            return dict(res, metric=METRIC, n=None, how=f"corrected resampled t-test over {len(d)} folds")
    out = vd.compare(entries, paired, metric=METRIC, select_by="valid", observed=observed,
                     n_boot=n_boot, seed=seed)
    out["scheme"] = scheme
    out["test"] = ("corrected resampled t-test over folds (Nadeau and Bengio 2003)" if kfold
                   else "paired bootstrap over the test samples")
    out["models"] = {name: {"kind": e["kind"], "linear": e["is_linear"],
                            **{f"test_{k}": intervals[e["name"]][k] for k in ("pearson_r", "r2")}}
                     for name, e in zip(models, entries)}
    src = ctx.get("ceiling_sources") or {}
    out["ceiling"] = vd.ceiling(replicate=src.get("replicate"), reml_h2=src.get("reml_h2"),
                                truth=src.get("truth"))
    out["relatives"] = ctx.get("relatives")
    out["sex_markers"] = ctx.get("sex_markers")
    return out
