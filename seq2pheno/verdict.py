"""Comparing models honestly: intervals, paired differences, a verdict sentence, ceilings.

Everything here is a pure function over arrays and dicts (numpy, scipy.stats):

- :func:`metric_interval`: a test metric with a percentile bootstrap interval over test samples.
- :func:`paired_difference`: metric(a) - metric(b) on the *same* bootstrap resamples (paired).
- :func:`corrected_resampled_t`: the Nadeau & Bengio (2003) corrected resampled t-test over
  cross-validation folds (k-fold or repeated k-fold).
- :func:`pair_to_compare` and :func:`compare`: the verdict between the best model and the best
  linear baseline, with a plain-English sentence that carries the interval.
- :func:`ceiling`: the best R² reachable, from the simulation truth, replicates or REML h².
- :func:`relatives_note`: how many test samples have a close relative in training.

Metrics are ``"pearson_r"`` (Pearson correlation) or ``"r2"`` (coefficient of determination,
1 - SS_res / SS_tot around the observed mean), both unitless.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

METRICS = ("pearson_r", "r2")
#: model kinds that are linear baselines
LINEAR_KINDS = ("ridge", "kmer_ridge", "gblup", "sparse")
#: how a kind is named in sentences
KIND_LABELS = {"cnn": "CNN", "ridge": "ridge", "kmer_ridge": "k-mer ridge", "gblup": "GBLUP",
               "sparse": "sparse linear model"}
METRIC_LABELS = {"pearson_r": "Pearson r", "r2": "R²"}
#: KING kinship at or above this: duplicate / identical twin (plink2's cut-off)
DUPLICATE_KINSHIP = 0.354
#: resampled values held at once by the bootstrap (bounds its memory to ~8 bytes x this)
_BOOT_CELLS = 1 << 20


# ---- bootstrap ---------------------------------------------------------------------------


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def _clean(observed, *predicted):
    """Float64 copies with the rows where any array is NaN/inf dropped; lengths must agree."""
    arrays = [np.asarray(a, dtype=np.float64).ravel() for a in (observed, *predicted)]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"observed and predicted lengths differ: {[len(a) for a in arrays]}")
    ok = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return [a[ok] for a in arrays]


def _features(y, preds, metric):
    """Per-sample columns whose (weighted) sums give the metric of each prediction.

    y and predictions are centred and scaled first (on the full sample) so the sums formulas
    do not cancel catastrophically. Returns ``F`` (n, k) and a function sums (B, k) -> (B, m).
    """
    my, sy = y.mean(), y.std() or 1.0
    yc = (y - my) / sy
    cols = [np.ones_like(yc), yc, yc * yc]
    if metric == "pearson_r":
        for p in preds:
            mp, sp = p.mean(), p.std() or 1.0
            pc = (p - mp) / sp
            cols += [pc, pc * pc, yc * pc]
    else:
        for p in preds:
            r = yc - (p - my) / sy
            cols += [r * r]

    def finish(s):
        w, s_y, s_yy = s[:, 0], s[:, 1], s[:, 2]
        ss_y = s_yy - s_y * s_y / w
        out = []
        with np.errstate(invalid="ignore", divide="ignore"):
            for j in range(len(preds)):
                if metric == "pearson_r":
                    s_p, s_pp, s_yp = s[:, 3 + 3 * j], s[:, 4 + 3 * j], s[:, 5 + 3 * j]
                    ss_p = s_pp - s_p * s_p / w
                    cov = s_yp - s_y * s_p / w
                    den = np.sqrt(ss_y * ss_p)
                    r = np.where(den > 1e-12 * w, cov / den, np.nan)
                    out.append(np.clip(r, -1.0, 1.0))
                else:
                    ss_res = s[:, 3 + j]
                    out.append(np.where(ss_y > 1e-12 * w, 1.0 - ss_res / ss_y, np.nan))
        return np.stack(out, axis=1)

    return np.stack(cols, axis=1), finish


def _boot_stats(y, preds, metric, n_boot, seed):
    """Point metric (m,) and bootstrap metrics (n_boot, m) of each prediction on resampled rows.

    Resamples are drawn as an index matrix (chunks of rows), turned into counts per sample
    (bincount), and every sum is a matrix product counts @ F: O(n_boot * n), vectorised.
    """
    F, finish = _features(y, preds, metric)
    n = len(y)
    point = finish(F.sum(axis=0, keepdims=True))[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _BOOT_CELLS // max(n, 1)))
    offset = (np.arange(chunk) * n)[:, None]
    counts = np.empty((chunk, n))                    # reused: no fresh pages per chunk
    out = np.empty((n_boot, len(preds)))
    for start in range(0, n_boot, chunk):
        c = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(c, n))        # the index matrix of c resamples
        idx += offset[:c]
        np.copyto(counts[:c], np.bincount(idx.ravel(), minlength=c * n).reshape(c, n))
        out[start:start + c] = finish(counts[:c] @ F)
    return point, out


def _percentile(values, level):
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return None, None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [a, 1.0 - a])
    return float(lo), float(hi)


def _none_if_nan(x):
    return None if x is None or not np.isfinite(x) else float(x)


def metric_interval(observed, predicted, metric: str = "pearson_r", n_boot: int = 2000,
                    level: float = 0.95, seed: int = 0) -> dict:
    """A test metric with a percentile bootstrap interval over test samples.

    ``observed``, ``predicted``: (n,) phenotype values (rows with NaN on either side dropped).
    Resamples n rows with replacement ``n_boot`` times (seeded); a resample whose metric is
    undefined (constant side) is left out of the percentiles.

    Returns ``{"value": float|None, "lower": float|None, "upper": float|None, "n": int}``
    (metric units: unitless r or R²; ``None`` when the metric is undefined, e.g. n < 3 or a
    constant side).
    """
    _check_metric(metric)
    y, p = _clean(observed, predicted)
    n = len(y)
    out = {"value": None, "lower": None, "upper": None, "n": n}
    if n < 3:
        return out
    point, boot = _boot_stats(y, [p], metric, int(n_boot), seed)
    out["value"] = _none_if_nan(point[0])
    if out["value"] is not None:
        out["lower"], out["upper"] = _percentile(boot[:, 0], level)
    return out


def paired_difference(observed, pred_a, pred_b, metric: str = "pearson_r", n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> dict:
    """metric(a) - metric(b) with a paired bootstrap interval over the same test samples.

    Both predictions are scored on the same resampled rows, so sample-to-sample difficulty
    cancels. ``p_value``: two-sided bootstrap p for "no difference",
    ``min(1, 2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1))`` (approximate; its floor is
    2 / (B + 1)).

    Returns ``{"difference", "lower", "upper", "p_value", "n", "metric", "level"}`` (floats or
    ``None`` when either metric is undefined; n = test samples used).
    """
    _check_metric(metric)
    y, a, b = _clean(observed, pred_a, pred_b)
    n = len(y)
    out = {"difference": None, "lower": None, "upper": None, "p_value": None, "n": n,
           "metric": metric, "level": float(level)}
    if n < 3:
        return out
    point, boot = _boot_stats(y, [a, b], metric, int(n_boot), seed)
    d = point[0] - point[1]
    if not np.isfinite(d):
        return out
    diffs = boot[:, 0] - boot[:, 1]
    diffs = diffs[np.isfinite(diffs)]
    out["difference"] = float(d)
    out["lower"], out["upper"] = _percentile(diffs, level)
    if len(diffs):
        tail = min((diffs <= 0).sum(), (diffs >= 0).sum()) + 1
        out["p_value"] = float(min(1.0, 2.0 * tail / (len(diffs) + 1)))
    return out


# ---- cross-validation folds ----------------------------------------------------------------


def corrected_resampled_t(diffs_per_fold, n_train, n_test, level: float = 0.95) -> dict:
    """Nadeau & Bengio (2003) corrected resampled t-test of a mean difference over folds.

    ``diffs_per_fold``: (J,) or (repeats, folds) metric differences a - b, one per fold
    (repeated k-fold: J = repeats * folds); ``n_train``, ``n_test``: samples per fold (the
    training and held-out sizes, their mean when folds differ). The variance of the mean is
    ``(1/J + n_test/n_train) * s²`` (s² the unbiased variance of the J differences), which
    corrects the plain ``s²/J`` for the overlap of training sets; t has J - 1 df.

    Returns ``{"difference", "lower", "upper", "p_value", "t", "df", "n_folds",
    "test": "Nadeau-Bengio corrected resampled t"}``.
    """
    d = np.asarray(diffs_per_fold, dtype=np.float64).ravel()
    d = d[np.isfinite(d)]
    j = len(d)
    if j < 2:
        raise ValueError(f"need at least 2 folds, got {j}")
    if n_train <= 0 or n_test <= 0:
        raise ValueError("n_train and n_test must be positive")
    mean = float(d.mean())
    var = (1.0 / j + float(n_test) / float(n_train)) * float(d.var(ddof=1))
    se = math.sqrt(var)
    df = j - 1
    q = float(stats.t.ppf(0.5 + level / 2.0, df))
    if se > 0:
        t = mean / se
        p = float(2.0 * stats.t.sf(abs(t), df))
    else:
        t = math.copysign(math.inf, mean) if mean != 0 else 0.0
        p = 0.0 if mean != 0 else 1.0
    return {"difference": mean, "lower": mean - q * se, "upper": mean + q * se, "p_value": p,
            "t": float(t), "df": df, "n_folds": j, "test": "Nadeau-Bengio corrected resampled t"}


# ---- the verdict ---------------------------------------------------------------------------


def _value(x):
    """The point value of a metric given as a number or an interval dict; None when absent."""
    if isinstance(x, Mapping):
        x = x.get("value")
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _is_linear(model: Mapping) -> bool:
    if model.get("is_linear") is not None:
        return bool(model["is_linear"])
    return model.get("kind") in LINEAR_KINDS


def _score(model: Mapping, split: str, metric: str):
    return _value((model.get(split) or {}).get(metric))


def _best(models, split, metric):
    scored = [(s, i, m) for i, m in enumerate(models) if (s := _score(m, split, metric)) is not None]
    if not scored:
        return None
    return max(scored, key=lambda t: (t[0], -t[1]))[2]   # ties: the first listed


def _selection_split(models, metric, select_by):
    if select_by not in ("valid", "test"):
        raise ValueError(f"select_by must be 'valid' or 'test', got {select_by!r}")
    if select_by == "valid" and models and all(_score(m, "valid", metric) is not None
                                                 for m in models):
        return "valid"
    return "test"


def _choose(models, metric, select_by):
    """(best model, best linear, comparator, split used) by ``metric`` on the chosen split."""
    models = [m for m in models if _score(m, "test", metric) is not None]
    split = _selection_split(models, metric, select_by)
    best = _best(models, split, metric)
    best_linear = _best([m for m in models if _is_linear(m)], split, metric)
    if best is None:
        return None, None, None, split
    if _is_linear(best):
        other = _best([m for m in models if not _is_linear(m)], split, metric)
    else:
        other = best_linear
    return best, best_linear, other, split


def pair_to_compare(models: Sequence[Mapping], metric: str = "pearson_r",
                    select_by: str = "valid") -> tuple[str, str] | None:
    """The names ``(a, b)`` whose paired difference :func:`compare` needs, or None.

    a is the best model, b the best linear baseline; when a linear model is best, b is the best
    non-linear model. Selection as in :func:`compare`.
    """
    _check_metric(metric)
    best, _, other, _ = _choose(list(models), metric, select_by)
    if best is None or other is None:
        return None
    return str(best["name"]), str(other["name"])


def _label(model: Mapping) -> str:
    kind = str(model.get("kind") or "model")
    return f"{KIND_LABELS.get(kind, kind)} `{model['name']}`"


def _fmt(x: float) -> str:
    """Two decimals; small non-zero numbers keep two significant digits; no '-0.00'."""
    if x is None:
        return "n/a"
    if x != 0 and abs(x) < 0.005:
        s = f"{x:.2g}"
    else:
        s = f"{x:.2f}"
    return "0.00" if s in ("-0.00", "-0") else s


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _lookup_paired(paired, a, b):
    """The paired result a - b from a callable or a mapping keyed (a, b) (or (b, a), negated)."""
    if paired is None:
        return None
    if callable(paired):
        return paired(a, b)
    if isinstance(paired, Mapping):
        if "difference" in paired:                    # a single result, for this pair
            return paired
        if (a, b) in paired:
            return paired[(a, b)]
        if (b, a) in paired:
            r = dict(paired[(b, a)])
            neg = lambda v: None if v is None else -float(v)  # noqa: E731
            r["difference"], r["lower"], r["upper"] = (neg(r.get("difference")), neg(r.get("upper")),
                                                       neg(r.get("lower")))
            return r
    return None


def _ranking_note(best: Mapping, level: float) -> str:
    """When R² is not above 0 but Pearson r's interval is, the model still ranks individuals
    better than chance (what a selection decision reads); say so, without a verdict."""
    r = (best.get("test") or {}).get("pearson_r")
    if not isinstance(r, Mapping) or r.get("lower") is None or r.get("upper") is None:
        return ""
    lo = _value(r.get("lower"))
    if lo is None or lo <= 0:
        return ""
    pct = f"{100 * float(r.get('level', level)):g}"
    return (f"Its test Pearson r, {_fmt(_value(r))} ({pct} % interval {_fmt(lo)} to "
            f"{_fmt(_value(r.get('upper')))}), is above 0: its ranking of individuals carries "
            f"some signal, but its predicted values do not reliably improve on the phenotype "
            f"mean; treat a ranking from it as weak evidence.")


def compare(models: Sequence[Mapping], paired=None, *, metric: str = "pearson_r",
            select_by: str = "valid", observed=None, n_boot: int = 2000, level: float = 0.95,
            seed: int = 0) -> dict:
    """The verdict between the best model and the best linear baseline.

    ``models``: one dict per model, ``{"name": str, "kind": str ("cnn", "ridge", "kmer_ridge",
    "gblup", "sparse", ...), "is_linear": bool (optional; default: kind in LINEAR_KINDS),
    "test": {"pearson_r": interval, "r2": interval}, "valid": {"pearson_r": float, "r2": float}
    (optional), "predicted": (n,) test predictions (optional)}`` where an interval is
    :func:`metric_interval`'s dict (or a bare number).

    ``paired``: the paired bootstrap of the pair :func:`pair_to_compare` names, as
    :func:`paired_difference`'s dict, a mapping ``{(a, b): dict}`` (the reversed key is negated)
    or a callable ``(a, b) -> dict``; when absent and ``observed`` and both models'
    ``predicted`` are given, it is computed here (``n_boot``, ``level``, ``seed``).

    Selection: ``select_by="valid"`` chooses the best model (and the best linear) by the
    validation ``metric`` when every model has one, so the test split does not choose; else (or
    with ``select_by="test"``) by the test metric. Ties go to the model listed first.

    Rules: when the best model's test R² interval is not above 0 (lower <= 0; its value when
    no interval), ``comparison="no_model_predicts"`` and no difference is claimed. When a
    linear model is best, it is compared with the best non-linear model. A difference whose
    interval includes 0 is ``"indistinguishable"``; otherwise ``"better"``/``"worse"`` says
    whether the best model beats its comparator (difference = best - comparator).

    Returns ``{"best_model": name|None, "best_linear": name|None, "compared_with": name|None,
    "metric": metric, "comparison": "better"|"indistinguishable"|"worse"|"no_model_predicts"|
    None, "difference": {"value": float, "interval": [lo, hi]}|None, "sentence": str}``;
    comparison is None when there is nothing to compare with or no paired result.
    """
    _check_metric(metric)
    models = list(models)
    best, best_linear, other, split = _choose(models, metric, select_by)
    out = {"best_model": None if best is None else str(best["name"]),
           "best_linear": None if best_linear is None else str(best_linear["name"]),
           "compared_with": None if other is None else str(other["name"]),
           "metric": metric, "comparison": None, "difference": None, "sentence": ""}
    mlabel = METRIC_LABELS[metric]
    if best is None:
        out["sentence"] = f"No model has a test {mlabel}, so no verdict can be given."
        return out

    # does anything predict at all? the best model's test R² interval must be above 0
    r2 = (best.get("test") or {}).get("r2")
    r2_lower = r2.get("lower") if isinstance(r2, Mapping) else None
    r2_lower = _value(r2_lower) if r2_lower is not None else _value(r2)
    if r2_lower is not None and r2_lower <= 0:
        r2v = _value(r2)
        if isinstance(r2, Mapping) and r2.get("lower") is not None and r2.get("upper") is not None:
            pct = f"{100 * float(r2.get('level', level)):g}"
            r2txt = (f"a test R² of {_fmt(r2v)} ({pct} % interval {_fmt(float(r2['lower']))} to "
                     f"{_fmt(float(r2['upper']))}), not above 0")
        else:
            r2txt = f"a test R² of {_fmt(r2v)}, not above 0"
        out["comparison"] = "no_model_predicts"
        out["sentence"] = (f"No model predicts this phenotype from these data: the best model, "
                           f"{_label(best)}, has {r2txt}. Likely causes to check: too few samples, "
                           f"low heritability of the phenotype, or the wrong encoding of the "
                           f"genotypes or sequences.")
        rank = _ranking_note(best, level)
        if rank:
            out["sentence"] += " " + rank
        return out

    a_val = _score(best, "test", metric)
    if other is None:
        if _is_linear(best):
            out["sentence"] = (f"The linear model {_label(best)} is the best (test {mlabel} "
                               f"{_fmt(a_val)}); no non-linear model was fitted to compare it with.")
        else:
            out["sentence"] = _cap(f"{_label(best)} has test {mlabel} {_fmt(a_val)}; no linear "
                               f"baseline was fitted, so it cannot be compared with one.")
        return out
    b_val = _score(other, "test", metric)

    res = _lookup_paired(paired, out["best_model"], out["compared_with"])
    if res is None and observed is not None and best.get("predicted") is not None \
            and other.get("predicted") is not None:
        res = paired_difference(observed, best["predicted"], other["predicted"], metric=metric,
                                n_boot=n_boot, level=level, seed=seed)
    if res is not None and res.get("metric", metric) != metric:
        raise ValueError(f"paired comparison is on {res.get('metric')!r}, verdict on {metric!r}")
    d = _value(None if res is None else res.get("difference"))
    lo = _value(None if res is None else res.get("lower"))
    hi = _value(None if res is None else res.get("upper"))
    values = f"test {mlabel} {_fmt(a_val)} against {_fmt(b_val)}"
    if d is None or lo is None or hi is None:
        who = ("the best linear baseline, " if not _is_linear(best) else "the best non-linear model, ")
        out["sentence"] = _cap(f"{_label(best)} against {who}{_label(other)}: {values}; no paired "
                           f"comparison was computed, so no verdict is given.")
        return out

    out["difference"] = {"value": d, "interval": [lo, hi]}
    comparison = "indistinguishable" if lo <= 0 <= hi else ("better" if lo > 0 else "worse")
    out["comparison"] = comparison
    pct = f"{100 * float(res.get('level', level)):g}"
    n = res.get("n")
    how = res.get("how") or ("paired bootstrap" + (f" over {int(n):,} test samples" if n is not None else ""))
    interval = f"{pct} % interval {_fmt(lo)} to {_fmt(hi)}, {how}"
    chosen = " (chosen on validation)" if split == "valid" else ""
    if not _is_linear(best):
        verb = {"better": "predicts better than", "worse": "predicts worse than",
                "indistinguishable": "is not distinguishable from"}[comparison]
        out["sentence"] = _cap(f"{_label(best)}{chosen} {verb} the best linear baseline, "
                           f"{_label(other)}: {values}, a difference of {_fmt(d)} ({interval}).")
    else:
        head = (f"The linear model {_label(best)} is the best{chosen}; "
                f"the best non-linear model, {_label(other)},")
        tail = {"better": "predicts worse than it",
                "indistinguishable": "is not distinguishable from it",
                "worse": "predicts better than it"}[comparison]
        out["sentence"] = (f"{head} {tail}: {values}, a difference (linear minus non-linear) of "
                           f"{_fmt(d)} ({interval}).")
    return out


# ---- ceilings and relatedness --------------------------------------------------------------


def _num_or_key(x, keys):
    if isinstance(x, Mapping):
        for k in keys:
            if x.get(k) is not None:
                return _value(x[k])
        return None
    return _value(x)


def ceiling(replicate=None, reml_h2=None, truth=None) -> dict | None:
    """The highest R² any model can reach, from the best source available, or None.

    Order of preference: ``truth`` (simulated cohorts: the known broad-sense H²; a number or a
    dict with ``H2``/``h2``/``value``), then ``replicate`` (repeatability across replicate
    measurements of identical genotypes: a number or :func:`seq2pheno.curate.replicate_summary`'s
    dict), then ``reml_h2`` (genotype cohorts: SNP heritability estimated by REML from the
    kinship; a number or a dict with ``h2``/``value``): an estimate of the additive share only.

    Returns ``{"value": float, "source": "truth"|"replicates"|"reml_h2", "label": str}``
    (``label``: a phrase saying how it was estimated) or None when no source has a number.
    """
    v = _num_or_key(truth, ("H2", "h2", "value"))
    if v is not None:
        return {"value": v, "source": "truth", "label": "the simulated broad-sense heritability H²"}
    v = _num_or_key(replicate, ("ceiling", "value"))
    if v is not None:
        n = replicate.get("n_replicate_groups") if isinstance(replicate, Mapping) else None
        over = f" over {int(n):,} replicate groups" if n else ""
        return {"value": v, "source": "replicates",
                "label": f"the repeatability of replicate measurements{over}"}
    v = _num_or_key(reml_h2, ("h2", "value"))
    if v is not None:
        return {"value": v, "source": "reml_h2",
                "label": "the SNP heritability estimated by REML from the kinship (additive share)"}
    return None


def relatives_note(max_kinship_to_train, duplicates_in_train=None, threshold: float = 0.177,
                   reason_if_missing: str | None = None) -> dict:
    """A sentence on test samples with a close relative in training, and their share.

    ``max_kinship_to_train``: (n_test,) the highest KING kinship of each test sample to any
    training sample (NaN: unknown), or None; ``duplicates_in_train``: (n_test,) bool, a
    duplicate of the test sample is in training, or None (then kinship >= 0.354 stands for it).
    A test sample has a close relative when its kinship >= ``threshold`` (0.177: first-degree
    or closer) or it has a duplicate in training.

    Returns ``{"sentence": str, "share": float|None, "n_test": int|None, "n_close": int|None,
    "n_duplicates": int|None}``; without kinship, the sentence says "kinship could not be
    estimated: <reason>" (and still counts duplicates when given).
    """
    out = {"sentence": "", "share": None, "n_test": None, "n_close": None, "n_duplicates": None}
    dup = None if duplicates_in_train is None else np.asarray(duplicates_in_train, dtype=bool).ravel()
    if max_kinship_to_train is None:
        reason = reason_if_missing or "no kinship was computed"
        s = f"Kinship could not be estimated: {reason}."
        if dup is not None and len(dup):
            out.update(n_test=len(dup), n_duplicates=int(dup.sum()))
            s += (f" {int(dup.sum()):,} of {len(dup):,} test samples "
                  f"({100 * dup.mean():.1f} %) have a duplicate in training.")
        out["sentence"] = s
        return out
    k = np.asarray(max_kinship_to_train, dtype=np.float64).ravel()
    n = len(k)
    if dup is not None and len(dup) != n:
        raise ValueError(f"{len(dup)} duplicate flags for {n} test samples")
    known = np.isfinite(k)
    if dup is None:
        dup = known & (k >= DUPLICATE_KINSHIP)
    close = (known & (k >= threshold)) | dup
    n_close, n_dup = int(close.sum()), int(dup.sum())
    share = n_close / n if n else None
    out.update(share=share, n_test=n, n_close=n_close, n_duplicates=n_dup)
    if n == 0:
        out["sentence"] = "There are no test samples."
        return out
    s = (f"{n_close:,} of {n:,} test samples ({100 * share:.1f} %) have a close relative in "
         f"training (kinship >= {threshold:g}"
         + (", first-degree or closer" if abs(threshold - 0.177) < 1e-9 else ""))
    s += f"; {n_dup:,} of them a duplicate)." if n_dup else ")."
    if n_close:
        s += " Test metrics may overstate how well the models predict unrelated individuals."
    n_unknown = int((~known).sum())
    if n_unknown:
        s += f" Kinship is unknown for {n_unknown:,} test samples."
    out["sentence"] = s
    return out


def sex_marker_note(sex_markers: Mapping[str, int], covariates) -> dict | None:
    """A warning for a genotype cohort compared without covariates while some markers lie on
    sex chromosomes: the models can tell the sexes apart from those markers, so a sex
    difference in the phenotype is counted as genomic accuracy (on the mice BMI, boosted trees
    go from test r 0.43 to 0.24 once sex is a covariate; GBLUP stays at 0.28).

    sex_markers: contig -> marker count (:func:`seq2pheno.kinship.sex_chromosome_counts`);
    covariates: the cohort's covariate names. Returns ``{"sex_markers": {...}, "sentence"}``
    or None when there is nothing to warn about."""
    if covariates or not sex_markers:
        return None
    where = ", ".join(f"{n:,} on {c}" for c, n in sex_markers.items())
    return {"sex_markers": {str(c): int(n) for c, n in sex_markers.items()},
            "sentence": (f"No covariates were given, and {sum(sex_markers.values()):,} markers lie on "
                         f"sex chromosomes ({where}). A model can tell the sexes apart from those "
                         "markers, so any difference between the sexes in this phenotype is "
                         "counted here as genomic accuracy, and flexible models (trees, networks) "
                         "gain the most from it. If the phenotype differs by sex, give sex as a "
                         "covariate (covariates: [sex]) and compare the models again.")}
