"""KING-robust kinship, unrelated sets and relatedness groups.

The estimator is Manichaikul et al. (2010)'s between-family KING-robust kinship, computed as
plink2 ``--make-king-table`` does. For samples i, j over the sites where *both* are called:

- ``NSNP``: number of such sites;
- ``HETHET``: sites where both are heterozygous;
- ``IBS0``: sites where one is homozygous REF and the other homozygous ALT;
- ``het_i``, ``het_j``: each sample's heterozygote count over those same sites;

    kinship = 0.5 - (4 * IBS0 + (het_i - HETHET) + (het_j - HETHET)) / (4 * min(het_i, het_j))

(equal to (HETHET - 2 IBS0) / (2 min) + 1/2 - (het_i + het_j) / (4 min), Manichaikul's eq. 11).
``min(het_i, het_j) = 0`` gives -inf (or NaN when the numerator is also 0), as in plink2.
Expected values: 0.5 duplicates / MZ twins, 0.25 first degree, 0.125 second, 0.0625 third;
plink2's cut-offs 0.354, 0.177, 0.0884, 0.0442 sit halfway (on a log scale) between degrees.

All counts come from matrix products of indicator matrices, over blocks of ``block_size``
variants, so memory is O(N x block_size + N^2 + sparse indicators), never an N x M float copy.
Common variants go through dense float32 BLAS (exact for integers below 2^24 per block): with
centred genotypes z = g - 1 (in {-1, 0, 1}) and called/het indicators C, H,

    NSNP = C C^T,  HETHET = H H^T,  het_i(ij) = (H C^T)_ij,
    IBS0 = (homhom - Z Z^T) / 2  with  homhom = C C^T - H C^T - C H^T + H H^T,

where only the symmetric H H^T and Z Z^T are dense products (upper tiles only) and the
missing-call terms are sparse products. Rare variants (few non-major genotypes) go through
sparse products of het / minor-homozygote / missing indicators (see :func:`king_counts`).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

KING_COLUMNS = ["id1", "id2", "nsnp", "hethet", "ibs0", "kinship"]
DEGREE_CUTOFFS = {"duplicate": 0.354, "first": 0.177, "second": 0.0884, "third": 0.0442}

_NON_AUTOSOMES = {"X", "Y", "XY", "MT", "M", "23", "24", "25", "26", "0"}


def autosomal_mask(chroms: Sequence[str], non_autosomes: Sequence[str] | None = None) -> np.ndarray:
    """bool (M,): True for autosomal contigs as plink2 sees a human-style genome.

    A contig is autosomal when its name (without a leading ``chr``) is a number other than
    0 and 23-26 (plink's X, Y, XY, MT codes) and not X, Y, XY, M or MT. Unplaced or non-numeric
    contigs are not autosomal (plink2 ``--allow-extra-chr`` contigs are excluded from KING).
    ``non_autosomes`` adds names to exclude.
    """
    extra = {str(c) for c in (non_autosomes or ())}
    out = np.zeros(len(chroms), bool)
    for i, c in enumerate(chroms):
        c = str(c)
        base = re.sub(r"^chr", "", c, flags=re.IGNORECASE)
        out[i] = base.isdigit() and base.lstrip("0") not in _NON_AUTOSOMES and base not in _NON_AUTOSOMES \
            and c not in extra and base not in extra
    return out


def _tile_product(acc: np.ndarray, X: np.ndarray, a: slice, b: slice) -> None:
    """acc[a, b] += X[a] @ X[b].T (float32 BLAS, exact for counts below 2^24; float64 accumulate)."""
    acc[a, b] += X[a] @ X[b].T


def king_counts(dosage: np.ndarray, *, block_size: int = 4096, sparse_fraction: float = 0.03,
                threads: int = 1) -> dict:
    """Pairwise KING counts for all samples.

    dosage: int8 (N, M), ALT allele counts 0/1/2, -1 = missing.
    Returns dict of int64 (N, N) matrices: ``nsnp``, ``hethet``, ``ibs0``, ``het`` (``het[i, j]``
    = sample i's heterozygote count over sites both i and j have called).

    Variants are read ``block_size`` at a time. In each block, a variant whose non-major
    genotypes (heterozygous, minor homozygous or missing; "major" = the commoner homozygote)
    number at most ``sparse_fraction * N`` goes to a sparse path (like plink2's rare-variant
    path): its het (H), minor-hom (A) and missing (Mi) indicators are kept as sparse matrices
    and, once all blocks are read,

        HETHET += H H^T,   NSNP += Ms - mi_i - mi_j + Mi Mi^T,   het_i += h_i - (H Mi^T)_ij,
        IBS0 += a_i + a_j - 2 A A^T - H A^T - A H^T - Mi A^T - A Mi^T.

    The other (common) variants take the dense path: H H^T and Z Z^T with z = g - 1 by float32
    BLAS (exact per block) on the upper tiles of a 4 x 4 tiling of the samples (10 of 16 tiles),
    missing calls corrected with sparse products. ``threads`` worker threads share the tile
    products, each calling single-threaded BLAS (robust on a busy machine, unlike BLAS's own
    thread pool).
    """
    from scipy import sparse

    d = np.asarray(dosage)
    if d.ndim != 2:
        raise ValueError("dosage must be 2-D (samples x variants)")
    N, M = d.shape
    block_size = int(min(max(1, block_size), 1 << 22))
    limit = sparse_fraction * N
    # dense path: H H^T and Z Z^T on the upper tiles of an nt x nt tiling of the samples
    # (float32 BLAS sgemm, exact per block; accumulated in float64), symmetrised at the end
    nt = 1 if N < 512 else 4
    edges = np.linspace(0, N, nt + 1).astype(int)
    tiles = [(slice(edges[a], edges[a + 1]), slice(edges[b], edges[b + 1]))
             for a in range(nt) for b in range(a, nt)]
    hh = np.zeros((N, N), np.float64)
    zz = np.zeros((N, N), np.float64)
    hmi_d = np.zeros((N, N), np.float64)  # sum over dense variants of H_i Mi_j
    h_d = np.zeros(N, np.float64)
    n_dense = 0
    # sparse indicators: (rows, cols) per kind; dense-variant missing calls kept sparse too
    parts = {k: ([], []) for k in ("H", "A", "Mi", "Mi_d")}
    n_sparse = 0
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import ExitStack

    stack = ExitStack()
    pool = None
    if threads > 1:
        from threadpoolctl import threadpool_limits

        stack.enter_context(threadpool_limits(1))
        pool = stack.enter_context(ThreadPoolExecutor(threads))
    with stack:
        for s in range(0, M, block_size):
            blk = d[:, s:s + block_size]
            n0 = (blk == 0).sum(axis=0)
            n2 = (blk == 2).sum(axis=0)
            major = np.where(n0 >= n2, 0, 2).astype(np.int8)
            is_sparse = (N - np.maximum(n0, n2)) <= limit
            if is_sparse.any():
                sb = blk[:, is_sparse]
                r, c = np.nonzero(sb != major[is_sparse][None, :])
                v = sb[r, c]
                c = c.astype(np.int32) + n_sparse
                for key, sel in (("H", v == 1), ("Mi", v < 0), ("A", v > 1), ("A", v == 0)):
                    parts[key][0].append(r[sel].astype(np.int32))
                    parts[key][1].append(c[sel])
                n_sparse += int(is_sparse.sum())
            if is_sparse.all():
                continue
            db = blk[:, ~is_sparse]
            k = db.shape[1]
            H = (db == 1).astype(np.float32)
            Z = db.astype(np.float32) - np.float32(1.0)
            miss = db < 0
            if miss.any():
                Z[miss] = 0.0
                r, c = np.nonzero(miss)
                Mi = sparse.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(N, k))
                hmi_d += np.asarray(Mi @ H.T).T
                parts["Mi_d"][0].append(r.astype(np.int32))
                parts["Mi_d"][1].append(c.astype(np.int32) + n_dense)
            jobs = [(acc, X, a, b) for a, b in tiles for acc, X in ((hh, H), (zz, Z))]
            if pool is None:
                for job in jobs:
                    _tile_product(*job)
            else:
                list(pool.map(lambda job: _tile_product(*job), jobs))
            h_d += H.sum(axis=1, dtype=np.float64)
            n_dense += k
    for a, b in tiles:
        if a != b:
            hh[b, a] = hh[a, b].T
            zz[b, a] = zz[a, b].T

    def csr(key, ncol):
        rows, cols = parts[key]
        r = np.concatenate(rows) if rows else np.empty(0, np.int32)
        c = np.concatenate(cols) if cols else np.empty(0, np.int32)
        return sparse.csr_matrix((np.ones(len(r), np.float64), (r, c)), shape=(N, max(ncol, 1)))

    def prod(x, y):
        if x.nnz == 0 or y.nnz == 0:
            return np.zeros((N, N))
        return (x @ y.T).toarray()

    def rowsum(x):
        return np.asarray(x.sum(axis=1)).ravel()

    # dense variants
    Mi_d = csr("Mi_d", n_dense)
    mi_d = rowsum(Mi_d)
    nsnp = n_dense - mi_d[:, None] - mi_d[None, :] + prod(Mi_d, Mi_d)
    het = h_d[:, None] - hmi_d
    ibs0 = (nsnp - het - het.T + hh - zz) / 2
    hethet = hh
    del zz, hmi_d
    # sparse variants
    if n_sparse:
        Hs, As, Ms = csr("H", n_sparse), csr("A", n_sparse), csr("Mi", n_sparse)
        h, a, mi = rowsum(Hs), rowsum(As), rowsum(Ms)
        hethet += prod(Hs, Hs)
        HA = prod(Hs, As)
        ibs0 += a[:, None] + a[None, :] - 2 * prod(As, As) - HA - HA.T
        del HA
        if Ms.nnz:
            MiA = prod(Ms, As)
            ibs0 -= MiA + MiA.T
            del MiA
        nsnp += n_sparse - mi[:, None] - mi[None, :] + prod(Ms, Ms)
        het += h[:, None] - prod(Hs, Ms)
    out = {}
    for key, val in (("nsnp", nsnp), ("hethet", hethet), ("ibs0", ibs0), ("het", het)):
        out[key] = np.rint(val).astype(np.int64)
    return out


def kinship_from_counts(hethet, ibs0, het1, het2) -> np.ndarray:
    """KING-robust kinship from counts (arrays broadcast); see the module docstring."""
    hethet, ibs0, het1, het2 = (np.asarray(x, np.float64) for x in (hethet, ibs0, het1, het2))
    num = 4.0 * ibs0 + (het1 - hethet) + (het2 - hethet)
    den = 4.0 * np.minimum(het1, het2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 - num / den


def king_table(dosage: np.ndarray, ids: Sequence[str], *, block_size: int = 4096,
               min_kinship: float | None = None, sparse_fraction: float = 0.03,
               threads: int = 1) -> pd.DataFrame:
    """KING-robust kinship of every pair, like ``plink2 --make-king-table counts``.

    dosage: int8 (N, M) ALT counts (0/1/2, -1 missing) over filtered autosomal biallelic SNVs
    (see :func:`autosomal_mask` and ``GenotypeData.dosage``); ids: N sample ids.
    Returns DataFrame with columns id1, id2, nsnp, hethet, ibs0, kinship: one row per pair,
    in plink2's order (id1 = the later sample i, id2 = each earlier sample j < i). ``hethet``
    and ``ibs0`` are counts (plink2's ``counts`` modifier). ``min_kinship`` keeps only rows
    with kinship >= it (``--king-table-filter``). ``block_size``, ``sparse_fraction`` and
    ``threads`` are passed to :func:`king_counts` (speed only; results are identical).
    """
    ids = list(ids)
    N = len(ids)
    if dosage.shape[0] != N:
        raise ValueError(f"dosage has {dosage.shape[0]} rows but {N} ids were given")
    c = king_counts(dosage, block_size=block_size, sparse_fraction=sparse_fraction, threads=threads)
    i, j = np.tril_indices(N, -1)
    flat = i * N + j
    flat_t = j * N + i
    hethet, ibs0 = c["hethet"].ravel()[flat], c["ibs0"].ravel()[flat]
    kin = kinship_from_counts(hethet, ibs0, c["het"].ravel()[flat], c["het"].ravel()[flat_t])
    ids_arr = np.asarray(ids, dtype=object)
    df = pd.DataFrame({"id1": ids_arr[i], "id2": ids_arr[j], "nsnp": c["nsnp"].ravel()[flat],
                       "hethet": hethet, "ibs0": ibs0, "kinship": kin})
    if min_kinship is not None:
        df = df[df["kinship"] >= min_kinship].reset_index(drop=True)
    return df


def read_king_table(path) -> pd.DataFrame:
    """Read a plink2 ``.kin0`` (or our kinship.tsv) into the columns of :func:`king_table`."""
    df = pd.read_csv(path, sep="\t")
    df.columns = [c.lstrip("#").lower() for c in df.columns]
    df = df.rename(columns={"iid1": "id1", "iid2": "id2"})
    df["id1"] = df["id1"].astype(str)
    df["id2"] = df["id2"].astype(str)
    return df[[c for c in KING_COLUMNS if c in df.columns]]


def related_pairs(table: pd.DataFrame, cutoff: float = 0.0884) -> pd.DataFrame:
    """Pairs with kinship > cutoff (plink2's ``--king-cutoff`` rule), highest kinship first."""
    out = table[table["kinship"] > cutoff]
    return out.sort_values(["kinship", "id1", "id2"], ascending=[False, True, True]).reset_index(drop=True)


def _adjacency(table: pd.DataFrame, ids: Sequence[str], cutoff: float):
    pos = {s: k for k, s in enumerate(ids)}
    pairs = related_pairs(table, cutoff)
    keep = pairs["id1"].isin(pos) & pairs["id2"].isin(pos)
    pairs = pairs[keep]
    adj = [set() for _ in ids]
    for a, b in zip(pairs["id1"], pairs["id2"]):
        ia, ib = pos[a], pos[b]
        if ia != ib:
            adj[ia].add(ib)
            adj[ib].add(ia)
    return adj, pairs


def _components(adj) -> list[list[int]]:
    seen = np.zeros(len(adj), bool)
    comps = []
    for v in range(len(adj)):
        if seen[v]:
            continue
        stack, comp = [v], []
        seen[v] = True
        while stack:
            u = stack.pop()
            comp.append(u)
            for w in adj[u]:
                if not seen[w]:
                    seen[w] = True
                    stack.append(w)
        comps.append(sorted(comp))
    return comps


def _exact_mis(nodes: list[int], adj) -> list[int]:
    """Maximum independent set of a small graph by branch and bound on bitmasks."""
    idx = {v: k for k, v in enumerate(nodes)}
    nb = [0] * len(nodes)
    for v in nodes:
        for w in adj[v]:
            if w in idx:
                nb[idx[v]] |= 1 << idx[w]
    best = [0, 0]  # size, mask

    def popcount(x):
        return bin(x).count("1")

    def rec(cand, chosen, size):
        if size + popcount(cand) <= best[0]:
            return
        if cand == 0:
            best[0], best[1] = size, chosen
            return
        # take vertices of degree 0 or 1 within cand greedily (always safe)
        c = cand
        while c:
            low = c & -c
            v = low.bit_length() - 1
            c ^= low
            if popcount(nb[v] & cand) <= 1:
                rec(cand & ~(nb[v] | low), chosen | low, size + 1)
                return
        # branch on the vertex of maximum degree
        v = max((b for b in range(len(nodes)) if cand >> b & 1), key=lambda b: popcount(nb[b] & cand))
        rec(cand & ~(nb[v] | (1 << v)), chosen | (1 << v), size + 1)
        rec(cand & ~(1 << v), chosen, size)

    rec((1 << len(nodes)) - 1, 0, 0)
    return [nodes[b] for b in range(len(nodes)) if best[1] >> b & 1]


def _greedy_min_degree(nodes: list[int], adj) -> list[int]:
    alive = set(nodes)
    kept = []
    while alive:
        v = min(alive, key=lambda u: (len(adj[u] & alive), u))
        kept.append(v)
        alive -= adj[v] | {v}
    return kept


def _greedy_plink(nodes: list[int], adj) -> list[int]:
    """plink2 ``--king-cutoff`` (KinshipPruneDestructive): while related pairs remain, remove the
    partner of the first degree-1 sample if there is one, else the first sample of maximum
    degree ("first" = lowest index); then add back any removed sample left with no kept
    relative (never smaller than plink2's set)."""
    alive = set(nodes)
    deg = {u: len(adj[u]) for u in nodes}
    active = {u for u in nodes if deg[u] > 0}
    while active:
        ones = [u for u in active if deg[u] == 1]
        if ones:
            v = min(ones)
            prune = next(w for w in adj[v] if w in alive)
        else:
            prune = min(active, key=lambda u: (-deg[u], u))
        alive.discard(prune)
        active.discard(prune)
        for w in adj[prune]:
            if w in alive:
                deg[w] -= 1
                if deg[w] == 0:
                    active.discard(w)
    for u in sorted(nodes):
        if u not in alive and not (adj[u] & alive):
            alive.add(u)
    return sorted(alive)


def unrelated_set(table: pd.DataFrame, ids: Sequence[str], cutoff: float = 0.0884, *,
                  exact_max: int = 30) -> tuple[list, pd.DataFrame]:
    """Largest set of samples with no pair above ``cutoff`` (kinship > cutoff = related).

    Works per connected component of the relatedness graph: a maximum independent set found
    exactly (branch and bound) on components of at most ``exact_max`` samples; on larger ones
    the better of a minimum-degree greedy and plink2's rule (drop the sample with most related
    pairs), so at least as many samples are kept as ``plink2 --king-cutoff``.

    Returns (kept ids in ``ids`` order, removed DataFrame with columns id, reason
    (``related``), detail, related_to (the kept sample it is most related to), kinship).
    """
    ids = list(ids)
    adj, pairs = _adjacency(table, ids, cutoff)
    kept = np.ones(len(ids), bool)
    for comp in _components(adj):
        if len(comp) == 1:
            continue
        if len(comp) <= exact_max:
            best = _exact_mis(comp, adj)
        else:
            a, b = _greedy_min_degree(comp, adj), _greedy_plink(comp, adj)
            best = a if len(a) >= len(b) else b
        inset = set(best)
        for v in comp:
            kept[v] = v in inset
    kin = {}
    for a, b, k in zip(pairs["id1"], pairs["id2"], pairs["kinship"]):
        kin[(a, b)] = kin[(b, a)] = k
    rows = []
    for v in np.flatnonzero(~kept):
        partners = [w for w in adj[v] if kept[w]] or list(adj[v])
        w = max(partners, key=lambda u: (kin[(ids[v], ids[u])], -u))
        k = kin[(ids[v], ids[w])]
        rows.append((ids[v], "related", f"kinship {k:.4f} with {ids[w]} > {cutoff}", ids[w], k))
    removed = pd.DataFrame(rows, columns=["id", "reason", "detail", "related_to", "kinship"])
    return [ids[v] for v in np.flatnonzero(kept)], removed


def relatedness_groups(table: pd.DataFrame, ids: Sequence[str], cutoff: float = 0.0884) -> np.ndarray:
    """int (N,) group labels: connected components of the graph with edges kinship > cutoff.

    Labels are 0..G-1 in order of each group's first sample in ``ids``; an unrelated sample is
    its own group.
    """
    ids = list(ids)
    adj, _ = _adjacency(table, ids, cutoff)
    labels = np.full(len(ids), -1, np.int64)
    nxt = 0
    for comp in _components(adj):  # components come in order of their first (lowest) index
        labels[comp] = nxt
        nxt += 1
    return labels
