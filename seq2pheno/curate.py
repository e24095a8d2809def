"""Duplicate curation: group exact and near-duplicate sequences, then remove or keep them.

Distance between two sequences is the Hamming distance over tensor columns: the number of
positions whose (A, C, G, T) column differs. On plain one-hot rows this is the usual count of
mismatched bases; an ``N`` (0.25 each) differs from every base but equals another ``N``, and a
heterozygote (0.5/0.5) differs from both of its homozygotes. Columns are compared exactly
(by their float32 bytes), so any value (e.g. an imputed allele frequency) is its own state.

Near duplicates (``max_mismatch_fraction > 0``) are found without an N x N matrix: exact
duplicates are collapsed by hashing rows, every distinct row is written as its differences from
the column-wise consensus, and candidate pairs come from an inverted index over a prefix of each
row's rarest differences (the prefix filter of set-similarity joins, exact for Hamming
thresholds), verified column by column. When the candidates would approach all pairs (diverse
cohorts, large thresholds), a blocked dense search (one-hot matrix products, block x block) is
used instead. Both are exact; memory is O(N x L) bytes of state codes plus one block pair.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components


#: relative tolerance beyond which a duplicate group's phenotypes are "discordant"
DISCORDANT_RTOL = 1e-9
#: absolute tolerance (phenotype units) for the same test, for phenotypes near 0
DISCORDANT_ATOL = 1e-12
#: the inverted-index search is used while its candidate pairs stay below this share of all pairs
INDEX_MAX_PAIR_SHARE = 0.05
#: fewer replicate groups than this and no noise ceiling is estimated
MIN_REPLICATE_GROUPS = 10

_PAIR_CHUNK = 1 << 20      # candidate pairs generated per chunk
_VERIFY_CHUNK = 1 << 15    # candidate pairs compared per gather (x L bytes)
_UNIT = np.eye(4, dtype=np.float32)


# ----------------------------------------------------------------------------- helpers
def _check_tensor(onehot) -> tuple[int, int]:
    if getattr(onehot, "ndim", None) != 3 or onehot.shape[2] != 4:
        raise ValueError(f"expected an N x L x 4 one-hot tensor, got shape {getattr(onehot, 'shape', None)}")
    return int(onehot.shape[0]), int(onehot.shape[1])


def _block(onehot, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` as a C-contiguous float32 array (a copy of one block only)."""
    return np.ascontiguousarray(onehot[start:stop], dtype=np.float32)


def _threshold(fraction: float, length: int) -> int:
    if not (0.0 <= float(fraction) < 1.0) or math.isnan(float(fraction)):
        raise ValueError(f"max_mismatch_fraction must be in [0, 1), got {fraction}")
    return int(math.floor(float(fraction) * length + 1e-9))


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Relabel arbitrary integer labels 0..G-1 in order of first appearance."""
    uniq, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    return rank[inv.ravel()]


class _Progress:
    """Logs ``what: done/total`` every ``every`` steps (blocks, chunks) and at the last one."""

    def __init__(self, log, what: str, every: int = 8):
        self.log, self.what, self.every, self.t0, self.calls = log, what, every, time.time(), 0

    def __call__(self, done, total, extra: str = ""):
        self.calls += 1
        if self.log is not None and (self.calls % self.every == 0 or done >= total):
            self.log.info("%s: %s/%s%s (%.1f s)", self.what, done, total, extra, time.time() - self.t0)


def _scan(onehot, block_size: int, want_codes: bool, log):
    """One pass over row blocks: exact-duplicate labels (row hashes) and, if asked, state codes.

    Returns ``(exact, codes, n_states)``: exact int64 (N,) labels in order of first appearance;
    codes (N, L) uint8/uint16, column state ids (0-3 = pure A, C, G, T; 4.. other vectors).
    """
    n, length = _check_tensor(onehot)
    exact = np.empty(n, dtype=np.int64)
    seen: dict[bytes, int] = {}
    codes = np.empty((n, length), dtype=np.uint8) if want_codes else None
    states: dict[bytes, int] = {_UNIT[i].tobytes(): i for i in range(4)}
    progress = _Progress(log, "duplicates: read rows")
    for start in range(0, n, block_size):
        b = _block(onehot, start, min(n, start + block_size))
        flat = b.reshape(len(b), -1)
        for i, row in enumerate(flat):
            h = hashlib.blake2b(row.data, digest_size=16).digest()
            exact[start + i] = seen.setdefault(h, len(seen))
        if want_codes:
            c = b.argmax(axis=2)
            pure = (b.max(axis=2) == 1.0) & (b.sum(axis=2) == 1.0)
            if not pure.all():
                odd = b[~pure].view(np.dtype((np.void, 16))).ravel()
                uniq, inv = np.unique(odd, return_inverse=True)
                ids = np.array([states.setdefault(u.tobytes(), len(states)) for u in uniq], dtype=np.int64)
                c[~pure] = ids[inv.ravel()]
                if len(states) > 256 and codes.dtype == np.uint8:
                    codes = codes.astype(np.uint16)
                if len(states) > 65536:
                    raise ValueError("more than 65,536 distinct column vectors: not a one-hot tensor")
            codes[start:start + len(b)] = c
        progress(min(n, start + block_size), n)
    return exact, codes, len(states)


def _consensus(codes: np.ndarray, n_states: int, block_size: int) -> np.ndarray:
    """Most frequent state per column (ties: lowest id), shape (L,)."""
    n, length = codes.shape
    counts = np.zeros(length * n_states, dtype=np.int64)
    offset = np.arange(length, dtype=np.int64) * n_states
    for s in range(0, n, block_size):
        counts += np.bincount((codes[s:s + block_size] + offset).ravel(), minlength=length * n_states)
    return counts.reshape(length, n_states).argmax(axis=1)


def _prefix_entries(diff_rows, diff_feats, counts, n_feats, prefix_len):
    """Keep, per row, its ``prefix_len`` rarest features (global order: frequency, then id)."""
    freq = np.bincount(diff_feats, minlength=n_feats)
    order = np.lexsort((np.arange(n_feats), freq))
    rank = np.empty(n_feats, dtype=np.int64)
    rank[order] = np.arange(n_feats)
    r = rank[diff_feats]
    idx = np.lexsort((r, diff_rows))
    rows, r = diff_rows[idx], r[idx]
    starts = np.concatenate(([0], np.cumsum(counts)))[:-1]
    pos_in_row = np.arange(len(rows)) - starts[rows]
    keep = pos_in_row < prefix_len
    return rows[keep], r[keep]


def _posting_pairs(rows, feats, counts, k):
    """Sort entries by (feature, count) and give each entry's partner range ``e+1 .. end-1``.

    Partners share the feature and have a count within ``k`` above (the length filter).
    """
    cnt = counts[rows]
    span = int(cnt.max(initial=0)) + k + 2
    key = feats.astype(np.int64) * span + cnt
    order = np.lexsort((rows, key))
    rows, key = rows[order], key[order]
    end = np.searchsorted(key, key + k, side="right")
    m = end - np.arange(len(key)) - 1
    return rows, m


def _iter_pairs(rows, m, chunk=_PAIR_CHUNK):
    """Yield (a, b) index arrays for every entry e and partner e+1..e+m[e], in chunks."""
    cum = np.cumsum(m)
    e0, total, done = 0, int(cum[-1]) if len(cum) else 0, 0
    while done < total:
        e1 = int(np.searchsorted(cum, done + chunk, side="right"))
        e1 = max(e1, e0 + 1)
        mm = m[e0:e1]
        t = int(mm.sum())
        if t:
            first = np.repeat(np.arange(e0, e1), mm)
            off = np.arange(t) - np.repeat(np.cumsum(mm) - mm, mm)
            yield rows[first], rows[first + 1 + off]
        done += t
        e0 = e1


def _verify(codes, a, b, k):
    """Pairs among (a, b) whose Hamming distance is <= k."""
    keep_a, keep_b = [], []
    for s in range(0, len(a), _VERIFY_CHUNK):
        aa, bb = a[s:s + _VERIFY_CHUNK], b[s:s + _VERIFY_CHUNK]
        d = np.count_nonzero(codes[aa] != codes[bb], axis=1)
        ok = (d <= k) & (aa != bb)
        keep_a.append(aa[ok])
        keep_b.append(bb[ok])
    return np.concatenate(keep_a), np.concatenate(keep_b)


class _Edges:
    """Accumulates links; past a size bound, replaces them by a star per component (same groups)."""

    def __init__(self, n: int):
        self.n = n
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.size = 0
        self.total = 0
        self.bound = max(4 * n, 1 << 22)

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a.append(np.asarray(a, dtype=np.int64))
        self.b.append(np.asarray(b, dtype=np.int64))
        self.size += len(a)
        self.total += len(a)
        if self.size > self.bound:
            self.compact()

    def components(self) -> np.ndarray:
        a = np.concatenate(self.a) if self.a else np.zeros(0, np.int64)
        b = np.concatenate(self.b) if self.b else np.zeros(0, np.int64)
        graph = sparse.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(self.n, self.n))
        return connected_components(graph.tocsr(), directed=False)[1]

    def compact(self) -> None:
        comp = self.components()
        _, first = np.unique(comp, return_index=True)
        root = first[comp]
        nodes = np.flatnonzero(root != np.arange(self.n))
        self.a, self.b, self.size = [nodes], [root[nodes]], len(nodes)


def _onehot_states(codes_block, varying, n_states):
    """(b, V*S) float32 one-hot of the states of the varying columns."""
    c = codes_block[:, varying].astype(np.int64) + np.arange(len(varying)) * n_states
    x = np.zeros((len(codes_block), len(varying) * n_states), dtype=np.float32)
    np.put_along_axis(x, c, 1.0, axis=1)
    return x


def _edges_dense(codes, n_states, k, block_size, log):
    """All pairs within distance k by blocked one-hot matrix products (exact, O(block^2) memory)."""
    n, length = codes.shape
    varying = np.flatnonzero((codes != codes[:1]).any(axis=0)) if n else np.array([], dtype=np.int64)
    nv = len(varying)
    edges = _Edges(n)
    nb = (n + block_size - 1) // block_size
    progress = _Progress(log, "duplicates: dense blocks")
    done = 0
    for bi in range(nb):
        i0 = bi * block_size
        xi = _onehot_states(codes[i0:i0 + block_size], varying, n_states)
        for bj in range(bi, nb):
            j0 = bj * block_size
            xj = xi if bj == bi else _onehot_states(codes[j0:j0 + block_size], varying, n_states)
            matches = xi @ xj.T          # positions (of the varying ones) where the rows agree
            ii, jj = np.nonzero(matches >= nv - k - 0.5)
            if bj == bi:
                sel = ii < jj
                ii, jj = ii[sel], jj[sel]
            edges.add(ii + i0, jj + j0)
            done += 1
            progress(done, nb * (nb + 1) // 2, " block pairs")
    return edges


def _index_plan(codes, n_states, k, block_size):
    """Inverted-index search plan over distinct rows: returns (plan, number of candidate pairs)."""
    n, length = codes.shape
    cons = _consensus(codes, n_states, block_size)
    rows_l, feats_l = [], []
    for s in range(0, n, block_size):
        r, p = np.nonzero(codes[s:s + block_size] != cons)
        rows_l.append(r + s)
        feats_l.append(p)
    diff_rows = np.concatenate(rows_l).astype(np.int64)
    diff_pos = np.concatenate(feats_l).astype(np.int64)
    counts = np.bincount(diff_rows, minlength=n).astype(np.int64)
    diff_feats = diff_pos * n_states + codes[diff_rows, diff_pos]
    # (1) pairs where one row has > k differences: they share an identical difference among
    #     the k+1 rarest of each row (prefix filter, overlap >= max(ca, cb) - k >= 1)
    pr, pf = _prefix_entries(diff_rows, diff_feats, counts, length * n_states, k + 1)
    main = _posting_pairs(pr, pf, counts, k)
    # (2) pairs where both have <= k differences and ca + cb > k share a differing position
    low = counts[diff_rows] <= k
    lowp = _posting_pairs(diff_rows[low], diff_pos[low], counts, k)
    n_cand = int(main[1].sum() + lowp[1].sum())
    # (3) pairs with ca + cb <= k are all linked through the row with the fewest differences
    z = int(np.argmin(counts)) if n else 0
    star = np.flatnonzero(counts + counts[z] <= k) if n else np.zeros(0, np.int64)
    star = star[star != z]
    return (main, lowp, z, star), n_cand


def _edges_index(codes, plan, k, log):
    (main, lowp, z, star) = plan
    edges = _Edges(len(codes))
    edges.add(star, np.full(len(star), z, dtype=np.int64))
    total = int(main[1].sum() + lowp[1].sum())
    done = 0
    progress = _Progress(log, "duplicates: candidate pairs verified")
    for rows, m in (main, lowp):
        for a, b in _iter_pairs(rows, m):
            edges.add(*_verify(codes, a, b, k))
            done += len(a)
            progress(done, total)
    return edges


# ----------------------------------------------------------------------------- public API
def duplicate_groups(onehot, max_mismatch_fraction: float = 0.0, *, block_size: int = 4096,
                     log: logging.Logger | None = None, method: str = "auto") -> np.ndarray:
    """Label each sequence with its duplicate group.

    onehot: N x L x 4 tensor (array or read-only memmap; read in blocks of ``block_size`` rows).
    Rows within ``floor(max_mismatch_fraction * L)`` mismatched positions are linked, and groups
    are the connected components (so a~b and b~c put a, b, c together). Fraction 0 gives exact
    duplicates (identical row bytes) by hashing, in O(N).
    ``method``: ``"auto"`` (inverted index unless its candidate pairs near all pairs), ``"index"``
    or ``"dense"`` (blocked matrix products); all three give the same groups.
    Returns int64 (N,) labels 0..G-1 in order of first appearance.
    """
    if method not in ("auto", "index", "dense"):
        raise ValueError(f"method must be 'auto', 'index' or 'dense', got {method!r}")
    if int(block_size) < 1:
        raise ValueError("block_size must be >= 1")
    block_size = int(block_size)
    n, length = _check_tensor(onehot)
    k = _threshold(max_mismatch_fraction, length)
    t0 = time.time()
    exact, codes, n_states = _scan(onehot, block_size, want_codes=k > 0, log=log)
    n_exact = int(exact.max()) + 1 if n else 0
    if log is not None:
        log.info("duplicates: %d sequences, %d distinct (%.1f s)", n, n_exact, time.time() - t0)
    if k == 0 or n_exact < 2:
        return exact
    # one row per distinct sequence
    first = np.full(n_exact, n, dtype=np.int64)
    np.minimum.at(first, exact, np.arange(n))
    ucodes = codes[first]
    del codes
    nu = len(ucodes)
    all_pairs = nu * (nu - 1) // 2
    plan, n_cand = (None, all_pairs)
    if method != "dense":
        plan, n_cand = _index_plan(ucodes, n_states, k, block_size)
    use_index = method == "index" or (method == "auto" and n_cand <= INDEX_MAX_PAIR_SHARE * all_pairs)
    if log is not None:
        log.info("duplicates: threshold %d mismatches of %d; %s search (%d candidate pairs of %d)",
                 k, length, "index" if use_index else "dense", n_cand, all_pairs)
    if use_index:
        edges = _edges_index(ucodes, plan, k, log)
    else:
        del plan
        edges = _edges_dense(ucodes, n_states, k, block_size, log)
    labels = _first_appearance(edges.components()[exact])
    if log is not None:
        log.info("duplicates: %d near-duplicate links, %d groups (%.1f s)",
                 edges.total, int(labels.max()) + 1, time.time() - t0)
    return labels


def group_distances(onehot, groups, *, block_size: int = 4096) -> np.ndarray:
    """Hamming distance (mismatched positions) of each row to the first row of its group.

    onehot: N x L x 4; groups: (N,) labels. Returns int64 (N,); 0 for first rows and exact copies.
    """
    n, _ = _check_tensor(onehot)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups has shape {groups.shape}, expected ({n},)")
    _, first_idx, inv = np.unique(groups, return_index=True, return_inverse=True)
    rep = first_idx[inv.ravel()]
    out = np.zeros(n, dtype=np.int64)
    for s in range(0, n, int(block_size)):
        e = min(n, s + int(block_size))
        r = rep[s:e]
        todo = np.flatnonzero(r != np.arange(s, e))
        if len(todo) == 0:
            continue
        b = _block(onehot, s, e)[todo]
        ref_idx = r[todo]
        order = np.argsort(ref_idx, kind="stable")
        ref = np.empty_like(b)
        ref[order] = np.asarray(onehot[ref_idx[order]], dtype=np.float32)
        out[s + todo] = np.count_nonzero((b != ref).any(axis=2), axis=1)
    return out


def _group_phenotypes(y: np.ndarray, g: np.ndarray):
    """Per group: first row, row->group index, mean phenotype (NaN ignored), discordance flag."""
    uniq, first_idx, inv = np.unique(g, return_index=True, return_inverse=True)
    inv = inv.ravel()
    ok = ~np.isnan(y)
    n_ok = np.bincount(inv, weights=ok, minlength=len(uniq))
    total = np.bincount(inv, weights=np.where(ok, y, 0.0), minlength=len(uniq))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_ok > 0, total / np.maximum(n_ok, 1), np.nan)
    hi = np.full(len(uniq), -np.inf)
    lo = np.full(len(uniq), np.inf)
    np.maximum.at(hi, inv[ok], y[ok])
    np.minimum.at(lo, inv[ok], y[ok])
    scale = np.where(n_ok > 0, np.maximum(np.abs(hi), np.abs(lo)), 0.0)
    with np.errstate(invalid="ignore"):
        discordant = (n_ok > 1) & (hi - lo > DISCORDANT_RTOL * scale + DISCORDANT_ATOL)
    return first_idx, inv, mean, discordant


def resolve_duplicates(ids, phenotypes, groups, *, mode: str = "remove",
                       distances=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the config's choice to duplicate groups.

    ids, phenotypes (float, NaN = unphenotyped), groups: (N,) aligned arrays; distances: optional
    (N,) mismatches to the group's first row (see :func:`group_distances`); 0 -> "exact duplicate",
    > 0 -> "near duplicate"; None treats every group as exact duplicates.
    mode "remove": keep the first row of each group with the group's mean phenotype (NaN ignored);
    mode "group": keep every row, labelled with its group (a group never straddles splits).
    Returns (kept: id, phenotype, group; removed: id, reason, detail).
    """
    if mode not in ("remove", "group"):
        raise ValueError(f"duplicate mode must be 'remove' or 'group', got {mode!r}")
    ids = np.asarray(ids, dtype=object)
    y = np.asarray(phenotypes, dtype=np.float64)
    g = np.asarray(groups, dtype=np.int64)
    n = len(ids)
    if y.shape != (n,) or g.shape != (n,):
        raise ValueError("ids, phenotypes and groups must have the same length")
    dist = np.zeros(n, dtype=np.int64) if distances is None else np.asarray(distances, dtype=np.int64)
    if dist.shape != (n,):
        raise ValueError("distances must have the same length as ids")
    removed_cols = ["id", "reason", "detail"]
    if mode == "group":
        kept = pd.DataFrame({"id": ids, "phenotype": y, "group": g})
        return kept, pd.DataFrame({c: pd.Series(dtype=object) for c in removed_cols})

    first_idx, inv, mean, discordant = _group_phenotypes(y, g)

    keep_rows = np.sort(first_idx)
    kept = pd.DataFrame({"id": ids[keep_rows], "phenotype": mean[inv[keep_rows]], "group": g[keep_rows]})
    drop = np.setdiff1d(np.arange(n), keep_rows)
    reasons, details = [], []
    for r in drop:
        gi = inv[r]
        near = dist[r] > 0
        reasons.append("near duplicate" if near else "exact duplicate")
        d = f"of {ids[first_idx[gi]]}"
        if near:
            d += f" ({dist[r]} mismatch{'es' if dist[r] != 1 else ''})"
        if discordant[gi]:
            d += "; discordant phenotypes in group, kept their mean"
        details.append(d)
    removed = pd.DataFrame({"id": ids[drop], "reason": np.array(reasons, dtype=object),
                            "detail": np.array(details, dtype=object)}, columns=removed_cols)
    return kept.reset_index(drop=True), removed.reset_index(drop=True)


def replicate_repeatability(phenotypes, groups) -> float | None:
    """Noise ceiling on R² from replicate groups (identical genotypes).

    1 - pooled within-group variance / total phenotypic variance (both unbiased, phenotype units²),
    over groups with >= 2 phenotyped members; total variance over all phenotyped rows.
    None when fewer than MIN_REPLICATE_GROUPS such groups exist.
    """
    y = np.asarray(phenotypes, dtype=np.float64)
    g = np.asarray(groups)
    ok = ~np.isnan(y)
    y, g = y[ok], g[ok]
    if len(y) < 2:
        return None
    _, inv, size = np.unique(g, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    if int((size >= 2).sum()) < MIN_REPLICATE_GROUPS:
        return None
    mean = np.bincount(inv, weights=y) / size
    ss_within = float(((y - mean[inv]) ** 2).sum())
    df_within = int((size - 1).sum())
    total_var = float(np.var(y, ddof=1))
    if df_within == 0 or total_var == 0:
        return None
    return 1.0 - (ss_within / df_within) / total_var
