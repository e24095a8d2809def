"""Pairwise interactions (epistasis) between positions, from double mutants.

For positions i and j of a sequence x and alternative bases a (at i) and b (at j)::

    epistasis(i, j; a, b) = f(x_ij^ab) - f(x_i^a) - f(x_j^b) + f(x)

on the model's output scale (the original phenotype scale for seq2pheno models): zero for
a model additive in i and j, the interaction coefficient for a multiplicative pair. It is
averaged over the 3 x 3 alternative allele pairs and the sequences: ``score`` is the mean
absolute value, ``signed_score`` the mean value.

Exact and batched; the cost is linear in the number of pairs. For models of the windowed
ISM family (see :mod:`seq2pheno.ism`) two substitutions whose receptive windows never meet
change the first Dense layer's pre-activation additively, so a double mutant costs only the
small head of the network; pairs whose windows meet (neighbours within a kernel/pool
window), and every pair of models outside the family, are evaluated with full forward
passes.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from seq2pheno import ism as _ism

__all__ = ["pairwise_epistasis"]

_COLUMNS = ["pos_a", "pos_b", "score", "signed_score", "rank"]


def _naive_pair_values(model, xb: np.ndarray, positions: np.ndarray, alt: np.ndarray,
                       pairs: np.ndarray, batch_size: int) -> np.ndarray:
    """Epistasis values (n_pairs, B, A, A) float64 by full forward passes.

    ``pairs`` (n, 2) indices into ``positions``; ``alt`` (P, B, A) bases (see
    :func:`seq2pheno.ism._alternatives`). Identity edits give 0 (the caller masks them).
    """
    B = len(xb)
    P, _, A = alt.shape
    eye = np.eye(4, dtype=np.float32)
    f_ref = _ism._predict(model, xb, batch_size)                           # (B,)
    involved = np.unique(pairs)
    # singles at the involved positions: (P, B, A)
    f_single = np.zeros((P, B, A))
    p_i, s_i, a_i = np.meshgrid(involved, np.arange(B), np.arange(A), indexing="ij")
    p_i, s_i, a_i = p_i.ravel(), s_i.ravel(), a_i.ravel()
    for c in range(0, len(p_i), batch_size):
        pp, ss, aa = p_i[c:c + batch_size], s_i[c:c + batch_size], a_i[c:c + batch_size]
        m = xb[ss].copy()
        m[np.arange(len(ss)), positions[pp]] = eye[alt[pp, ss, aa]]
        f_single[pp, ss, aa] = _ism._predict(model, m, batch_size)
    # doubles: (n_pairs, B, A, A)
    n = len(pairs)
    vals = np.zeros((n, B, A, A))
    k_i, s_i, a_i, b_i = np.meshgrid(np.arange(n), np.arange(B), np.arange(A), np.arange(A),
                                     indexing="ij")
    k_i, s_i, a_i, b_i = k_i.ravel(), s_i.ravel(), a_i.ravel(), b_i.ravel()
    for c in range(0, len(k_i), batch_size):
        kk, ss = k_i[c:c + batch_size], s_i[c:c + batch_size]
        aa, bb = a_i[c:c + batch_size], b_i[c:c + batch_size]
        pa, pb = pairs[kk, 0], pairs[kk, 1]
        m = xb[ss].copy()
        rows = np.arange(len(ss))
        m[rows, positions[pa]] = eye[alt[pa, ss, aa]]
        m[rows, positions[pb]] = eye[alt[pb, ss, bb]]
        f2 = _ism._predict(model, m, batch_size)
        vals[kk, ss, aa, bb] = (f2 - f_single[pa, ss, aa] - f_single[pb, ss, bb] + f_ref[ss])
    return vals


def _fast_pair_values(plan, xb: np.ndarray, positions: np.ndarray, alt: np.ndarray,
                      pairs: np.ndarray, batch_size: int) -> np.ndarray:
    """Epistasis values (n_pairs, B, A, A) for pairs whose windows never meet (additive
    at the first Dense pre-activation), from the windowed ISM plan. A reverse-complement
    average ``scale (f(x) + f(rc(x))) / 2 + offset`` gets the mean of its core's values on x at
    the positions and on rc(x) at the mirrored ones with the complementary bases (base b at i of
    x is base 3 - b at L-1-i of rc(x)): epistasis is linear in the network."""
    if isinstance(plan, _ism._RCAveragePlan):
        last = xb.shape[1] - 1
        rc = np.ascontiguousarray(xb[:, ::-1, ::-1])
        fwd = _fast_pair_values(plan.inner, xb, positions, alt, pairs, batch_size)
        rev = _fast_pair_values(plan.inner, rc, last - positions, 3 - alt, pairs, batch_size)
        return (0.5 * plan.scale) * (fwd + rev)
    B = len(xb)
    P, _, A = alt.shape
    ref = plan.reference(xb)
    ref_pre = ref[2]
    f_ref = plan.head(ref_pre).astype(np.float64)                          # (B,)
    ref32 = ref_pre.astype(np.float32)
    dpre = plan.pre_deltas(ref, positions, alt)                            # (P, B, A, U)
    f_single = plan.head((dpre + ref32[None, :, None, :]).reshape(-1, plan.units)
                         ).reshape(P, B, A).astype(np.float64)
    n = len(pairs)
    vals = np.zeros((n, B, A, A))
    step = max(1, batch_size // (B * A * A))
    for c in range(0, n, step):
        pa, pb = pairs[c:c + step, 0], pairs[c:c + step, 1]
        pre = (ref32[None, :, None, None, :] + dpre[pa][:, :, :, None, :]
               + dpre[pb][:, :, None, :, :])                                # (k, B, A, A, U)
        f2 = plan.head(pre.reshape(-1, plan.units), inplace=True).reshape(pre.shape[:4])
        vals[c:c + step] = (f2.astype(np.float64) - f_single[pa][:, :, :, None]
                            - f_single[pb][:, :, None, :] + f_ref[None, :, None, None])
    return vals


def pairwise_epistasis(model, x, positions, *, batch_size: int = 8192,
                       log: logging.Logger | None = None, naive: bool = False,
                       memory_mb: float | None = None) -> pd.DataFrame:
    """Mean epistasis of every pair of ``positions`` over all double mutants of ``x``.

    ``x`` (N, L, 4) float32 one-hot (array or memmap); ``positions``: 0-based columns
    (e.g. the top K by ISM importance; duplicates removed, sorted). For each pair i < j,
    each sequence and each pair of alternative bases (3 x 3 for one-hot rows; identity
    edits of ``N`` or heterozygous rows are left out), the epistasis
    f(x_ij) - f(x_i) - f(x_j) + f(x) is computed exactly on the model's output scale.

    Returns a DataFrame sorted by rank: ``pos_a``, ``pos_b`` (pos_a < pos_b), ``score``
    (mean |epistasis|, phenotype units), ``signed_score`` (mean epistasis), ``rank``
    (1 = largest score). ``batch_size`` bounds the mutants evaluated at once; ``naive``
    forces full forward passes for every pair (the reference implementation); ``memory_mb``
    (MB of working memory) bounds it further: full forward passes hold each mutant's input and
    activations, the windowed path each double mutant's head input. Progress (sequences done /
    total) goes to ``log.info``.
    """
    positions = np.unique(np.asarray(positions, dtype=np.int64))
    N, L = x.shape[0], x.shape[1]
    if len(positions) and (positions[0] < 0 or positions[-1] >= L):
        raise ValueError(f"positions must lie in [0, {L}), "
                         f"got {positions.min()}..{positions.max()}")
    P = len(positions)
    if P < 2 or N == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("pos_a", "pos_b", "rank")
                                          else "float64") for c in _COLUMNS})
    ia, ib = np.triu_indices(P, k=1)
    pairs = np.stack([ia, ib], axis=1)
    plan = None if naive else _ism._plan_or_none(model, log, "epistasis")
    if plan is not None:
        additive = np.array([plan.disjoint(int(positions[a]), int(positions[b]))
                             for a, b in pairs], dtype=bool)
    else:
        additive = np.zeros(len(pairs), dtype=bool)
    # mutants per forward pass: inputs and activations (full passes) within the budget
    naive_batch = _ism.rows_per_chunk(4.0 * 2 * (L * 4 + _ism.activation_floats(model)),
                                      memory_mb, cap=batch_size)
    fast_batch = batch_size
    if plan is not None:
        fast_batch = _ism.rows_per_chunk(4.0 * 3 * (getattr(plan, "units", 64) + 8), memory_mb,
                                          cap=batch_size)
    abs_sum = np.zeros(len(pairs))
    signed_sum = np.zeros(len(pairs))
    count = np.zeros(len(pairs))
    per_chunk = max(1, min(N, batch_size // max(1, 9 * len(pairs) + 3 * P + 1)))
    if plan is not None and additive.all():
        per_chunk = max(1, min(N, 64))
    if plan is not None:      # a chunk's reference activations and single-mutant deltas
        per_seq = 4.0 * (sum(loc.n_in * loc.c_in + loc.n_out * loc.c_out
                             for loc in getattr(plan, "local", [])) + 3 * P * getattr(plan, "units", 64)
                         + 2 * 9 * len(pairs))
        per_chunk = max(1, min(per_chunk, _ism.rows_per_chunk(per_seq, memory_mb)))
    next_report = 0
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        for s in range(0, N, per_chunk):
            xb = _ism._rows(x, s, s + per_chunk)
            alt, valid = _ism._alternatives(xb, positions)                  # (P, B, A)
            B, A = xb.shape[0], alt.shape[2]
            vals = np.zeros((len(pairs), B, A, A))
            if additive.any():
                vals[additive] = _fast_pair_values(plan, xb, positions, alt, pairs[additive],
                                                   fast_batch)
            if (~additive).any():
                vals[~additive] = _naive_pair_values(model, xb, positions, alt,
                                                     pairs[~additive], naive_batch)
            mask = valid[pairs[:, 0]][:, :, :, None] & valid[pairs[:, 1]][:, :, None, :]
            vals = np.where(mask, vals, 0.0)
            abs_sum += np.abs(vals).sum(axis=(1, 2, 3))
            signed_sum += vals.sum(axis=(1, 2, 3))
            count += mask.sum(axis=(1, 2, 3))
            done = min(s + per_chunk, N)
            if log is not None and (done >= next_report or done == N):
                log.info("epistasis: %d/%d sequences (%d pairs, %d by full forward passes)",
                         done, N, len(pairs), int((~additive).sum()))
                next_report = done + max(1, N // 20)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(count > 0, abs_sum / np.maximum(count, 1), np.nan)
        signed = np.where(count > 0, signed_sum / np.maximum(count, 1), np.nan)
    df = pd.DataFrame({"pos_a": positions[pairs[:, 0]], "pos_b": positions[pairs[:, 1]],
                       "score": score, "signed_score": signed})
    order = np.lexsort((df["pos_b"].to_numpy(), df["pos_a"].to_numpy(),
                        -np.nan_to_num(score, nan=-np.inf)))
    rank = np.empty(len(df), dtype=np.int64)
    rank[order] = np.arange(1, len(df) + 1)
    df["rank"] = rank
    return df.sort_values("rank").reset_index(drop=True)
