"""Evaluation schemes: one holdout split, or k-fold cross-validation as breeders run it.

Folds are named ``"holdout"`` (the single split of a holdout run) or ``"{repeat}_{fold}"``
(1-based, e.g. ``"1_3"``). Every model is fitted once per fold on that fold's training
samples; these functions gather the per-fold tables into the per-model files the report
and users read, and into the evaluation tables (per fold, and mean and SD over folds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError
from .evaluate import regression_metrics

HOLDOUT = "holdout"


def fold_names(scheme: str, folds: int = 5, repeats: int = 1) -> list[str]:
    """``["holdout"]``, or ``"{repeat}_{fold}"`` for every repeat and fold."""
    if scheme == "holdout":
        return [HOLDOUT]
    return [f"{r}_{f}" for r in range(1, int(repeats) + 1) for f in range(1, int(folds) + 1)]


def gather_folds(folds: list[str], predictions: list[pd.DataFrame], metrics: list[dict],
                 unphenotyped: list[pd.DataFrame], scheme: str):
    """One model's per-fold results -> (predictions, metrics, unphenotyped ranking).

    holdout: the single fold's tables, unchanged. kfold: ``predictions`` are the out-of-fold
    test predictions (id, split = "test", observed, predicted, repeat, fold), each phenotyped
    sample once per repeat; ``metrics`` has, per split, the mean over folds of each metric with
    ``{metric}_sd`` beside it and ``n`` the total, plus ``pooled_test`` (metrics of the pooled
    out-of-fold predictions of repeat 1), ``scheme``, ``folds`` and ``interval`` (mean test
    coverage of the folds' prediction intervals); ``unphenotyped`` is the mean prediction over
    the fold models, with ``sd`` (their spread), the mean ``lower``/``upper`` bounds and ``rank``.
    """
    if scheme == "holdout":
        if len(folds) != 1:
            raise ValueError("a holdout run has exactly one fold")
        return predictions[0], dict(metrics[0], scheme="holdout", folds=1), unphenotyped[0]
    parts = []
    for name, table in zip(folds, predictions):
        repeat, fold = (int(v) for v in name.split("_"))
        test = table[table["split"] == "test"].copy()
        test["repeat"], test["fold"] = repeat, fold
        parts.append(test)
    oof = pd.concat(parts, ignore_index=True)
    summary: dict = {"scheme": "kfold", "folds": len(folds)}
    for split in ("train", "valid", "test"):
        rows = [m.get(split) or {} for m in metrics]
        entry = {"n": int(sum(r.get("n") or 0 for r in rows))}
        for key in ("r2", "mse", "pearson_r", "spearman_r"):
            vals = np.array([r.get(key) for r in rows if r.get(key) is not None], dtype=float)
            entry[key] = float(vals.mean()) if len(vals) else None
            entry[f"{key}_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else None
        summary[split] = entry
    if metrics and metrics[0].get("ensemble"):        # each member's test metrics, mean over folds
        summary["ensemble"] = metrics[0]["ensemble"]
        summary["members"] = [
            {"test": {key: _mean([(m["members"][k].get("test") or {}).get(key) for m in metrics])
                      for key in ("r2", "pearson_r")}}
            for k in range(len(metrics[0]["members"]))]
    first = oof[oof["repeat"] == oof["repeat"].min()]
    summary["pooled_test"] = regression_metrics(first["observed"], first["predicted"])
    coverages = [((m.get("interval") or {}).get("test_coverage")) for m in metrics]
    coverages = [c for c in coverages if c is not None]
    if coverages:
        summary["interval"] = {"level": (metrics[0].get("interval") or {}).get("level"),
                               "test_coverage": float(np.mean(coverages))}
    if len(unphenotyped) and len(unphenotyped[0]):
        def column(name):
            return pd.concat([u.set_index("id")[name].rename(f) for f, u in zip(folds, unphenotyped)], axis=1)

        preds = column("predicted")
        ranking = pd.DataFrame({"id": preds.index.to_numpy(dtype=str), "predicted": preds.mean(axis=1).to_numpy(),
                                "sd": preds.std(axis=1, ddof=1).to_numpy() if preds.shape[1] > 1 else 0.0})
        for bound in ("lower", "upper", "reliability"):
            if all(bound in u.columns for u in unphenotyped):
                ranking[bound] = column(bound).mean(axis=1).to_numpy()
        ranking = ranking.sort_values("predicted", ascending=False, kind="stable")
        ranking["rank"] = np.arange(1, len(ranking) + 1)
    else:
        ranking = pd.DataFrame({"id": pd.Series([], dtype=str), "predicted": pd.Series([], dtype=float),
                                "sd": pd.Series([], dtype=float), "rank": pd.Series([], dtype=int)})
    return oof, summary, ranking


def _mean(values) -> float | None:
    v = np.array([x for x in values if x is not None], dtype=float)
    return float(v.mean()) if len(v) else None


def per_fold_table(models: list[str], folds: list[str], metrics: list[dict]) -> pd.DataFrame:
    """model, repeat, fold, n, pearson_r, r2 of each model's test fold; ``metrics`` model-major
    (``metrics[i * len(folds) + j]`` is model i on fold j). Holdout: repeat 1, fold 1."""
    if len(metrics) != len(models) * len(folds):
        raise ValueError(f"{len(metrics)} metric files for {len(models)} models x {len(folds)} folds")
    rows = []
    for i, model in enumerate(models):
        for j, fold in enumerate(folds):
            test = metrics[i * len(folds) + j].get("test") or {}
            repeat, k = (1, 1) if fold == HOLDOUT else (int(v) for v in fold.split("_"))
            rows.append({"model": model, "repeat": repeat, "fold": k, "n": test.get("n"),
                         "pearson_r": test.get("pearson_r"), "r2": test.get("r2")})
    return pd.DataFrame(rows, columns=["model", "repeat", "fold", "n", "pearson_r", "r2"])


def summary_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """model, folds, pearson_r_mean, pearson_r_sd, r2_mean, r2_sd (SD over folds, ddof 1;
    empty when there is one fold), in the order models first appear."""
    rows = []
    for model, g in per_fold.groupby("model", sort=False):
        r = pd.to_numeric(g["pearson_r"], errors="coerce").dropna()
        r2 = pd.to_numeric(g["r2"], errors="coerce").dropna()
        rows.append({"model": model, "folds": int(len(g)),
                     "pearson_r_mean": float(r.mean()) if len(r) else np.nan,
                     "pearson_r_sd": float(r.std(ddof=1)) if len(r) > 1 else np.nan,
                     "r2_mean": float(r2.mean()) if len(r2) else np.nan,
                     "r2_sd": float(r2.std(ddof=1)) if len(r2) > 1 else np.nan})
    return pd.DataFrame(rows, columns=["model", "folds", "pearson_r_mean", "pearson_r_sd", "r2_mean", "r2_sd"])


def _components(labels_a: np.ndarray, labels_b: np.ndarray) -> np.ndarray:
    """Connected components of samples linked by sharing either label (int labels 0..G-1)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, a = np.unique(labels_a, return_inverse=True)
    _, b = np.unique(labels_b, return_inverse=True)
    n = len(a)
    na = int(a.max()) + 1 if n else 0
    # bipartite graph: samples -> label nodes of both kinds
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([n + a, n + na + b])
    size = n + na + (int(b.max()) + 1 if n else 0)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, comp = connected_components(graph, directed=False)
    _, out = np.unique(comp[:n], return_inverse=True)
    return out.astype(np.int64)


def _column(kept: pd.DataFrame, columns: pd.DataFrame | None, name: str) -> pd.Series:
    if columns is None or name not in columns.columns:
        raise InputError("config", f"evaluation: column {name!r} is not in the cohort's phenotype table")
    values = columns.drop_duplicates("id").set_index("id")[name].reindex(kept["id"])
    return values


def fold_groups(kept: pd.DataFrame, columns: pd.DataFrame | None, group_column: str) -> np.ndarray:
    """Groups that never straddle folds: kept.tsv's groups (duplicates, families) joined with
    a column of the phenotype table (e.g. ``family``); a sample with an empty value is alone."""
    values = _column(kept, columns, group_column)
    labels = np.where(values.isna(), "\x00" + kept["id"].astype(str), values.astype(str))
    return _components(kept["group"].to_numpy(), labels)


def folds_from_column(kept: pd.DataFrame, columns: pd.DataFrame | None, fold_column: str,
                      groups: np.ndarray) -> np.ndarray:
    """Folds 1..K from a column of the phenotype table (published folds), 0 for unphenotyped.

    Values are mapped to 1..K in sorted order. A phenotyped sample without a value, or a group
    of kept samples (duplicates, families) spread over two folds, stops with an InputError.
    """
    values = _column(kept, columns, fold_column)
    phenotyped = kept["phenotype"].notna().to_numpy()
    missing = kept["id"][phenotyped & values.isna().to_numpy()]
    if len(missing):
        raise InputError("config", f"evaluation.fold_column {fold_column!r}: sample {missing.iloc[0]!r} "
                                   f"has no fold ({len(missing)} phenotyped samples without one)")
    levels = sorted(pd.unique(values[phenotyped].astype(str)))
    if len(levels) < 2:
        raise InputError("config", f"evaluation.fold_column {fold_column!r} has {len(levels)} distinct value(s); "
                                   "cross-validation needs at least 2 folds")
    index = {v: i + 1 for i, v in enumerate(levels)}
    folds = np.where(phenotyped, [index.get(str(v), 0) for v in values], 0).astype(np.int64)
    g = np.asarray(groups)
    for label in np.unique(g[phenotyped]):
        f = np.unique(folds[phenotyped & (g == label)])
        if len(f) > 1:
            ids = kept["id"][phenotyped & (g == label)].tolist()
            raise InputError("config", f"evaluation.fold_column {fold_column!r} puts related or duplicate "
                                       f"samples {ids[:3]} in different folds ({', '.join(levels[i - 1] for i in f)}); "
                                       "they would leak between training and test")
    return folds
