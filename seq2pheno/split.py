"""Train/valid/test split: stratified on phenotype quantile bins and group-aware.

Groups (duplicate groups, families) are the units of allocation: all phenotyped members of a
group land in the same split, so no sequence of the test set occurs in train or valid. Units are
ranked by their mean phenotype and cut into equal-count quantile bins; within each bin, units go
(largest first, ties in seeded random order) to the split furthest below its running target,
targets being the fractions of the cumulative sample count, so every bin and the whole cohort
are within about one group of the requested fractions. Unphenotyped rows (NaN) form their own
set ("unphenotyped") and are only ever predicted.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InputError

SPLITS = ("train", "valid", "test")
UNPHENOTYPED = "unphenotyped"
#: fewest training samples a model can be fitted on
MIN_TRAIN = 10
#: fewest validation / test samples (early stopping, R²)
MIN_EVAL = 2
_FRACTION_TOL = 1e-6


def _check_fractions(fractions) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or np.any(~np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"fractions must be three non-negative numbers (train, valid, test), got {fractions}")
    if abs(f.sum() - 1.0) > _FRACTION_TOL:
        raise ValueError(f"split fractions must sum to 1, got {' + '.join(f'{v:g}' for v in f)} = {f.sum():g}")
    return f


def _largest_remainder(total: int, fractions: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``total * fractions``."""
    raw = total * fractions
    out = np.floor(raw).astype(np.int64)
    rest = total - int(out.sum())
    if rest > 0:
        out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def assign_splits(phenotypes, groups=None, *, fractions=(0.7, 0.15, 0.15), n_bins: int = 10,
                  seed: int = 0) -> np.ndarray:
    """Assign each sample to "train", "valid", "test" or "unphenotyped".

    phenotypes: (N,) float, NaN = unphenotyped. groups: optional (N,) labels; a group's
    phenotyped members share one split, and the group is binned by its mean phenotype.
    fractions: (train, valid, test), summing to 1. n_bins: phenotype quantile bins (fewer when
    there are too few groups to fill them). Same inputs and seed give the same split.
    Returns an (N,) array of str. Raises InputError when a split is too small to train or
    evaluate (train < MIN_TRAIN, valid or test < MIN_EVAL samples).
    """
    f = _check_fractions(fractions)
    y = np.asarray(phenotypes, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError("phenotypes must be one-dimensional")
    n = len(y)
    g = np.arange(n) if groups is None else np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups has shape {g.shape}, expected ({n},)")
    if int(n_bins) < 1:
        raise ValueError("n_bins must be >= 1")
    out = np.full(n, UNPHENOTYPED, dtype=object)
    ok = np.flatnonzero(~np.isnan(y))
    side = _allocate(y, g, f, int(n_bins), np.random.default_rng(seed))
    out[ok] = np.asarray(SPLITS, dtype=object)[side[ok]]
    counts = {s: int((out == s).sum()) for s in SPLITS}
    for s, frac in zip(SPLITS, f):
        need = MIN_TRAIN if s == "train" else MIN_EVAL
        if counts[s] < need:
            raise InputError(
                None,
                f"split {s!r} has {counts[s]} sample{'s' if counts[s] != 1 else ''}; at least {need} are "
                f"needed to train — raise its fraction (now {frac:g}) or add samples "
                f"({len(ok)} phenotyped after curation)")
    return out.astype(str)


def _allocate(y: np.ndarray, g: np.ndarray, f: np.ndarray, n_bins: int, rng) -> np.ndarray:
    """Index into ``f`` for each sample (-1 when its phenotype is NaN): units (groups) ranked
    by mean phenotype, cut into quantile bins, each bin's units dealt largest first to the part
    furthest below its running target ``f``."""
    side_of = np.full(len(y), -1, dtype=np.int64)
    ok = np.flatnonzero(~np.isnan(y))
    if not len(ok):
        return side_of
    _, unit = np.unique(g[ok], return_inverse=True)
    unit = unit.ravel()
    n_units = int(unit.max()) + 1
    size = np.bincount(unit, minlength=n_units)
    mean = np.bincount(unit, weights=y[ok], minlength=n_units) / size
    # equal-count quantile bins over units; about 1/min(positive fraction) units per bin at least
    per_bin = int(np.ceil(1.0 / f[f > 0].min()))
    nb = max(1, min(int(n_bins), n_units // per_bin))
    tie = rng.permutation(n_units)
    rank = np.empty(n_units, dtype=np.int64)
    rank[np.lexsort((tie, mean))] = np.arange(n_units)
    bin_of = rank * nb // n_units
    side = np.empty(n_units, dtype=np.int64)
    assigned = np.zeros(len(f), dtype=np.int64)
    seen = 0
    for b in range(nb):
        members = np.flatnonzero(bin_of == b)
        members = members[rng.permutation(len(members))]
        members = members[np.argsort(-size[members], kind="stable")]  # big groups first
        seen += int(size[members].sum())
        target = _largest_remainder(seen, f)
        for u in members:
            deficit = target - assigned
            deficit[f == 0] = np.iinfo(np.int64).min  # never into an empty-fraction part
            s = int(np.argmax(deficit))
            side[u] = s
            assigned[s] += size[u]
    side_of[ok] = side[unit]
    return side_of


def assign_folds(phenotypes, groups=None, *, k: int = 5, repeats: int = 1, n_bins: int = 10,
                 seed: int = 0) -> np.ndarray:
    """Stratified, group-aware k-fold assignment: ``(repeats, N)`` int, folds 1..k, 0 for
    unphenotyped samples (NaN phenotype).

    Every group's phenotyped members share a fold; folds are balanced on phenotype quantile
    bins as :func:`assign_splits` balances splits. Repeat ``r`` (0-based) uses the seed
    ``[seed, r]``. Raises InputError when a fold would hold fewer than ``MIN_EVAL`` samples.
    """
    y = np.asarray(phenotypes, dtype=np.float64)
    n = len(y)
    g = np.arange(n) if groups is None else np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups has shape {g.shape}, expected ({n},)")
    k, repeats = int(k), int(repeats)
    if k < 2 or repeats < 1:
        raise ValueError("k-fold needs k >= 2 and repeats >= 1")
    out = np.zeros((repeats, n), dtype=np.int64)
    f = np.full(k, 1.0 / k)
    for r in range(repeats):
        side = _allocate(y, g, f, int(n_bins), np.random.default_rng([int(seed), r]))
        out[r] = side + 1
        counts = np.bincount(out[r][out[r] > 0], minlength=k + 1)[1:]
        if counts.min() < MIN_EVAL:
            n_units = len(np.unique(g[~np.isnan(y)]))
            raise InputError(None, f"{k}-fold cross-validation: fold {int(np.argmin(counts)) + 1} has "
                                   f"{int(counts.min())} samples ({int((~np.isnan(y)).sum())} phenotyped "
                                   f"in {n_units} groups); use fewer folds or keep relatives "
                                   "(relatedness: keep)")
    return out


def fold_split(phenotypes, groups, folds, fold: int, *, valid: float = 0.15, n_bins: int = 10,
               seed: int = 0) -> np.ndarray:
    """The split of one fold: ``"test"`` where ``folds == fold``; the other phenotyped samples
    dealt group-aware into ``"train"`` and ``"valid"`` (``valid`` = the share of them used for
    early stopping and tuning); ``"unphenotyped"`` as is. Returns (N,) str."""
    y = np.asarray(phenotypes, dtype=np.float64)
    folds = np.asarray(folds)
    n = len(y)
    g = np.arange(n) if groups is None else np.asarray(groups)
    out = np.full(n, UNPHENOTYPED, dtype=object)
    test = (folds == fold) & ~np.isnan(y)
    out[test] = "test"
    rest_y = np.where(test, np.nan, y)
    f = np.array([1.0 - float(valid), float(valid)])
    side = _allocate(rest_y, g, f, int(n_bins), np.random.default_rng([int(seed), int(fold)]))
    out[side == 0] = "train"
    out[side == 1] = "valid"
    counts = {s: int((out == s).sum()) for s in SPLITS}
    for s in SPLITS:
        need = MIN_TRAIN if s == "train" else MIN_EVAL
        if counts[s] < need:
            raise InputError(None, f"fold {fold}: split {s!r} has {counts[s]} samples; at least {need} "
                                   "are needed (use fewer folds, or a larger evaluation.valid)")
    return out.astype(str)


def _num(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def split_distribution(phenotypes, splits) -> dict:
    """Phenotype distribution per split and the two-sample KS test for every pair of splits.

    Returns {"pairs": [{"a", "b", "ks_statistic", "p_value"}, ...] (train-valid, train-test,
    valid-test, skipping empty splits), "n": per split incl. "unphenotyped", "mean", "sd"
    (ddof 1; None where undefined)}. Values are plain floats, ready for JSON.
    """
    y = np.asarray(phenotypes, dtype=np.float64)
    sp = np.asarray(splits).astype(str)
    vals = {s: y[(sp == s) & ~np.isnan(y)] for s in SPLITS}
    pairs = []
    for a, b in itertools.combinations(SPLITS, 2):
        if len(vals[a]) and len(vals[b]):
            res = stats.ks_2samp(vals[a], vals[b])
            pairs.append({"a": a, "b": b, "ks_statistic": float(res.statistic), "p_value": float(res.pvalue)})
    n = {s: int(len(vals[s])) for s in SPLITS}
    n[UNPHENOTYPED] = int((sp == UNPHENOTYPED).sum())
    return {
        "pairs": pairs,
        "n": n,
        "mean": {s: _num(vals[s].mean()) if len(vals[s]) else None for s in SPLITS},
        "sd": {s: _num(vals[s].std(ddof=1)) if len(vals[s]) > 1 else None for s in SPLITS},
    }


def rare_value_weights(phenotypes, splits, *, n_bins: int = 20, cap: float | None = 5.0) -> np.ndarray:
    """Training-only sample weights that up-weight rare phenotype values.

    Training rows get the inverse count of their phenotype bin (n_bins equal-width bins over the
    training range), scaled to mean 1 over training rows and capped at ``cap`` (the excess is
    spread over the uncapped rows so the mean stays 1 and no weight exceeds cap). Every other
    row gets exactly 1.0. Returns float64 (N,).
    """
    y = np.asarray(phenotypes, dtype=np.float64)
    sp = np.asarray(splits).astype(str)
    w = np.ones(len(y), dtype=np.float64)
    tr = np.flatnonzero((sp == "train") & ~np.isnan(y))
    if cap is not None and cap < 1:
        raise ValueError(f"cap must be >= 1 (weights have mean 1), got {cap}")
    if int(n_bins) < 1:
        raise ValueError("n_bins must be >= 1")
    if len(tr) == 0:
        return w
    edges = np.histogram_bin_edges(y[tr], bins=int(n_bins))
    b = np.clip(np.searchsorted(edges, y[tr], side="right") - 1, 0, int(n_bins) - 1)
    r = 1.0 / np.bincount(b, minlength=int(n_bins))[b]
    capped = np.zeros(len(tr), dtype=bool)
    while True:  # water-filling: fixed weights at cap, the rest scaled to keep mean 1
        free = ~capped
        if not free.any():
            wt = np.full(len(tr), float(cap))
            break
        scale = (len(tr) - (cap or 0) * capped.sum()) / r[free].sum()
        wt = np.where(capped, cap if cap is not None else 0.0, r * scale)
        if cap is None:
            break
        over = free & (wt > cap * (1 + 1e-12))
        if not over.any():
            break
        capped |= over
    w[tr] = wt
    return w


def split_table(ids, splits, groups=None, weights=None) -> pd.DataFrame:
    """The split.tsv table: columns id, split, group, weight (groups default to one per row)."""
    ids = np.asarray(ids, dtype=object)
    n = len(ids)
    g = np.arange(n) if groups is None else np.asarray(groups)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    sp = np.asarray(splits).astype(str)
    if not (len(sp) == len(g) == len(w) == n):
        raise ValueError("ids, splits, groups and weights must have the same length")
    return pd.DataFrame({"id": ids, "split": sp, "group": g, "weight": w})
