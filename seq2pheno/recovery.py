"""Truth recovery on simulated cohorts: does the interpretation find the planted loci?

Given the simulation's ``data/truth.json`` (``causal``: 0-based positions of the causal
loci; ``epistatic_pairs``: pairs of positions that interact), this module scores

* causal loci against a per-position importance (ISM, saliency or |ridge coefficient|):
  precision of the top-k positions (k = number of causal loci) and the AUROC of
  importance for causal versus non-causal positions;
* epistatic pairs against the ranked pairs of :func:`seq2pheno.interactions.pairwise_epistasis`:
  the rank of each true pair, the precision of the top n_true pairs and the fraction of
  true pairs among the top 10 % of scored pairs.

:func:`true_pairwise_epistasis` computes the same epistasis for the simulation's generative
function G (exact, from the truth) on the same double mutants: the ceiling of pair recovery
for a perfect model, and the yardstick for how much of each planted interaction the trained
model represents (a planted term with a tiny coefficient has a tiny true epistasis).

Everything returned is JSON-serialisable (``None`` where a number is undefined).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd

__all__ = ["causal_recovery", "pair_recovery", "ridge_importance", "true_pairwise_epistasis",
           "truth_recovery", "write_truth_recovery"]


def _finite_or_none(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def causal_recovery(importance, causal) -> dict:
    """Recovery of causal positions by a per-position ``importance`` (L,).

    ``causal``: 0-based positions. Returns ``k`` (number of causal loci inside [0, L)),
    ``precision_at_k`` (fraction of the k most important positions that are causal; ties
    broken by position), ``auroc`` (sklearn ``roc_auc_score`` of importance for causal vs
    non-causal positions; None when either class is empty) and ``top_k`` (the positions).
    """
    from sklearn.metrics import roc_auc_score

    raw = np.asarray(importance, dtype=np.float64).reshape(-1)
    finite = np.isfinite(raw)
    lowest = (raw[finite].min() - 1.0) if finite.any() else 0.0
    imp = np.where(finite, raw, lowest)            # undefined importance ranks last
    L = len(imp)
    causal_set = sorted({int(c) for c in causal if 0 <= int(c) < L})
    k = len(causal_set)
    labels = np.zeros(L, dtype=bool)
    labels[causal_set] = True
    top = np.argsort(-imp, kind="stable")[:k]
    precision = float(labels[top].mean()) if k else None
    auroc = _finite_or_none(roc_auc_score(labels, imp)) if 0 < k < L else None
    return {"k": k, "precision_at_k": precision, "auroc": auroc,
            "top_k": [int(p) for p in top]}


def pair_recovery(interactions_df: pd.DataFrame, true_pairs) -> dict:
    """Recovery of true interacting pairs among the scored pairs of ``interactions_df``.

    ``interactions_df``: ``pos_a``, ``pos_b``, ``rank`` (1 = strongest), as written by
    :func:`seq2pheno.interactions.pairwise_epistasis`. ``true_pairs``: pairs of positions
    (order within a pair does not matter). Returns ``ranks`` (one per true pair, in the
    given order; None when the pair was not scored, e.g. a locus outside the top
    positions), ``n_true``, ``n_scored`` (pairs scored), ``n_true_scored``,
    ``precision_at_n_true`` (fraction of the n_true best-ranked pairs that are true pairs)
    and ``fraction_in_top_10pct`` (fraction of all true pairs ranked within the top
    ceil(10 %) of scored pairs; unscored pairs count as misses).
    """
    truth = [tuple(sorted((int(p[0]), int(p[1])))) for p in true_pairs]
    n_scored = int(len(interactions_df))
    lookup = {}
    if n_scored:
        a = interactions_df["pos_a"].to_numpy(dtype=np.int64)
        b = interactions_df["pos_b"].to_numpy(dtype=np.int64)
        r = interactions_df["rank"].to_numpy(dtype=np.int64)
        for pa, pb, rk in zip(np.minimum(a, b), np.maximum(a, b), r):
            lookup[(int(pa), int(pb))] = int(rk)
    ranks = [lookup.get(p) for p in truth]
    n_true = len(truth)
    true_set = set(truth)
    precision = None
    frac_top = None
    if n_true:
        if n_scored:
            best = sorted(lookup.items(), key=lambda kv: kv[1])[:n_true]
            precision = sum(1 for pair, _ in best if pair in true_set) / n_true
        else:
            precision = 0.0
        cutoff = math.ceil(0.1 * n_scored)
        frac_top = sum(1 for rk in ranks if rk is not None and rk <= cutoff) / n_true
    return {"ranks": ranks, "n_true": n_true, "n_scored": n_scored,
            "n_true_scored": sum(1 for rk in ranks if rk is not None),
            "precision_at_n_true": precision, "fraction_in_top_10pct": frac_top}


def ridge_importance(ridge_coef) -> np.ndarray:
    """Per-position importance (L,) from ridge coefficients on the one-hot (L x 4, or L*4).

    The spread (max - min) of the 4 coefficients of a position: the largest phenotype
    change one substitution there can make in the additive model (invariant to the
    one-hot's redundant per-position offset).
    """
    coef = np.asarray(ridge_coef, dtype=np.float64).reshape(-1, 4)
    return coef.max(axis=1) - coef.min(axis=1)


def true_pairwise_epistasis(x, positions, truth: dict) -> pd.DataFrame:
    """Epistasis of the generative function G itself on the double mutants of ``x``.

    Same definition, substitutions and output as
    :func:`seq2pheno.interactions.pairwise_epistasis` (``pos_a``, ``pos_b``, ``score`` = mean
    |G(x_ij) - G(x_i) - G(x_j) + G(x)|, ``signed_score``, ``rank``), with the model replaced
    by :func:`seq2pheno.simulate.genetic_values` of ``truth`` (``causal``, ``effects``,
    ``epistasis``). Pairs with a non-causal position are exactly 0 (G ignores those
    positions); rows that are not one-hot at a causal position of a pair are left out.
    """
    from .ism import _alternatives
    from .simulate import genetic_values

    positions = np.unique(np.asarray(positions, dtype=np.int64))
    x = np.asarray(x, dtype=np.float32)
    causal = np.asarray(truth["causal"], dtype=np.int64)
    effects = np.array([truth["effects"][str(int(p))] for p in causal], dtype=np.float64)
    col = {int(p): k for k, p in enumerate(causal)}
    terms = [dict(t, loci=[col[int(p)] for p in t["loci"]]) for t in truth.get("epistasis", [])]
    kcols = np.arange(len(causal))
    onehot_rows = (np.all((x[:, causal] == 0) | (x[:, causal] == 1), axis=(1, 2))
                   & np.all(x[:, causal].sum(axis=-1) == 1, axis=1))
    codes = x[:, causal].argmax(axis=-1).astype(np.uint8)          # (N, K) causal columns
    P = len(positions)
    ia, ib = np.triu_indices(P, k=1)
    score = np.zeros(len(ia))
    signed = np.zeros(len(ia))
    if len(causal) and len(x):
        G = lambda c: genetic_values(c, kcols, effects, terms)     # noqa: E731
        g0 = G(codes)
        for k, (a, b) in enumerate(zip(ia, ib)):
            pa, pb = int(positions[a]), int(positions[b])
            if pa not in col or pb not in col:
                continue
            ca, cb = col[pa], col[pb]
            alt, valid = _alternatives(x, np.array([pa, pb]))     # (2, N, A)
            vals, mask = [], []
            for i in range(alt.shape[2]):
                ci = codes.copy()
                ci[:, ca] = alt[0, :, i]
                gi = G(ci)
                for j in range(alt.shape[2]):
                    cj = codes.copy()
                    cj[:, cb] = alt[1, :, j]
                    cij = ci.copy()
                    cij[:, cb] = alt[1, :, j]
                    vals.append(G(cij) - gi - G(cj) + g0)
                    mask.append(valid[0, :, i] & valid[1, :, j] & onehot_rows)
            vals, mask = np.stack(vals), np.stack(mask)
            n = max(int(mask.sum()), 1)
            score[k] = np.abs(np.where(mask, vals, 0.0)).sum() / n
            signed[k] = np.where(mask, vals, 0.0).sum() / n
    df = pd.DataFrame({"pos_a": positions[ia], "pos_b": positions[ib], "score": score,
                       "signed_score": signed})
    order = np.lexsort((df["pos_b"].to_numpy(), df["pos_a"].to_numpy(), -score))
    rank = np.empty(len(df), dtype=np.int64)
    rank[order] = np.arange(1, len(df) + 1)
    df["rank"] = rank
    return df.sort_values("rank").reset_index(drop=True)


def truth_recovery(importance, interactions_df: pd.DataFrame | None, truth: dict,
                   ridge_coef=None) -> dict:
    """The content of ``interpret/{model}/truth_recovery.json``.

    ``importance`` (L,): ISM position importance; ``interactions_df``: scored pairs (or
    None); ``truth``: the simulation's truth dict (``causal``, ``epistatic_pairs``);
    ``ridge_coef`` (L x 4 or L*4): the ridge baseline's coefficients, when available.
    Returns ``{"causal": causal_recovery(...), "pairs": pair_recovery(...),
    "ridge": causal_recovery(ridge importance) or None, "n_causal", "n_true_pairs"}``.
    """
    causal = [int(c) for c in truth.get("causal", [])]
    pairs = [list(p) for p in truth.get("epistatic_pairs", [])]
    out = {"n_causal": len(causal), "n_true_pairs": len(pairs),
           "causal": causal_recovery(importance, causal),
           "pairs": pair_recovery(interactions_df if interactions_df is not None
                                  else pd.DataFrame(columns=["pos_a", "pos_b", "rank"]),
                                  pairs),
           "ridge": None}
    if ridge_coef is not None:
        out["ridge"] = causal_recovery(ridge_importance(ridge_coef), causal)
    return out


def write_truth_recovery(path: str | os.PathLike, result: dict) -> None:
    """Write ``result`` as JSON (temporary file, then rename)."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
