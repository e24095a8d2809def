"""Naming motifs: first-layer filters and TF-MoDISco patterns matched to JASPAR.

A motif found by a model (a first-layer filter's PFM, :func:`seq2pheno.filters.filter_pwms`,
or a TF-MoDISco pattern found in the ISM attributions, :func:`run_modisco`) is named by
comparing it with the JASPAR database (:func:`match_motifs`) and the result tabulated
(:func:`motif_table`).

* **Database.** JASPAR 2024 (:data:`JASPAR_RELEASE`), CORE collection, vertebrates, the
  latest version of each profile (879 PFMs, JASPAR's "CORE vertebrates non-redundant" set),
  read from the SQLite file that the ``pyjaspar`` package ships: nothing is downloaded.
  Loaded once per process (:func:`jaspar_motifs`).
* **Comparison.** Tomtom (Gupta et al. 2007) as implemented by ``memelite`` (tomtom-lite,
  numba, no MEME binary): every alignment of query and target, both strands of the target,
  with the complete score (overhanging columns scored by the query column's median score),
  and a p-value per (query, target) from the query columns' score distributions over all
  database columns. memelite scores columns by minus their Euclidean distance. Given raw
  probabilities, nearly uniform columns are then closest to each other, so a flat or random
  PFM matches the flat flanks of long JASPAR motifs (CTCF) at p < 1e-10. To avoid this, each
  target column is centred on the uniform background and scaled to unit length, and each
  query column is only centred (``p - 1/4``). The Euclidean distance is then
  ``sqrt(|v|^2 + 1 - 2 |v| r)``, where ``r`` is the Pearson correlation of the two columns
  (MEME Tomtom's default column score) and ``|v|`` the query column's distance from uniform.
  Within one query column the score ranks the targets by ``r``. A flat query column scores
  the same against every target, so it counts for nothing, and an informative one counts
  more. q-values: Benjamini-Hochberg over all the query x target p-values of one call.
  numba compiles memelite's kernels on the first call (about a minute of CPU) into its
  on-disk cache; later processes load them in about 2 s.
* **TF-MoDISco.** ``modisco-lite`` (``modiscolite``) on the one-hot sequences and
  hypothetical contributions from ISM: with ``delta(i, b) = f(x with base b at i) - f(x)``,
  the hypothetical contribution is ``h(i, b) = delta(i, b) - mean_b' delta(i, b')`` (the
  mean-centred ISM map). The contribution of the observed base is then
  ``h(i, ref) = -mean_b delta(i, b)``, i.e. how much the output falls on average when that
  base is mutated. Contributions are additive across positions for an additive model.

Arrays: one-hot ``N x L x 4`` (A, C, G, T); a PFM is ``w x 4`` (rows: positions 5'->3',
columns A, C, G, T; rows sum to 1), as in :mod:`seq2pheno.filters`.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["JASPAR_RELEASE", "JASPAR_COLLECTION", "JASPAR_TAX_GROUP", "JasparMotif",
           "jaspar_motifs", "jaspar_motif", "match_motifs", "hypothetical_contributions",
           "run_modisco", "ModiscoMotifs", "motif_table", "MATCH_COLUMNS", "TABLE_COLUMNS"]

#: The JASPAR release read from pyjaspar's bundled SQLite files (pyjaspar 4.0.0).
JASPAR_RELEASE = "JASPAR2024"
JASPAR_COLLECTION = "CORE"
JASPAR_TAX_GROUP = "vertebrates"
#: Pseudocount added to each JASPAR count column, as a fraction of the column's total
#: (a column of 100 sites gets 0.25 per base): no probability is exactly 0.
_PSEUDO_FRACTION = 0.01
#: A query or target column closer to uniform than this (Euclidean, in probability units)
#: is taken as flat: a target column is left unscaled, its direction being noise.
_FLAT = 1e-3

MATCH_COLUMNS = ["source", "motif", "jaspar_id", "jaspar_name", "p_value", "q_value", "rank"]
TABLE_COLUMNS = ["source", "motif", "jaspar_id", "jaspar_name", "q_value", "rank"]

_log = logging.getLogger(__name__)


class JasparMotif(tuple):
    """A JASPAR profile: ``(matrix_id, name, pfm)`` with ``pfm`` (w x 4) float64."""

    __slots__ = ()

    def __new__(cls, matrix_id: str, name: str, pfm: np.ndarray):
        return super().__new__(cls, (matrix_id, name, pfm))

    @property
    def matrix_id(self) -> str:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]

    @property
    def pfm(self) -> np.ndarray:
        return self[2]


@lru_cache(maxsize=4)
def jaspar_motifs(release: str = JASPAR_RELEASE, collection: str = JASPAR_COLLECTION,
                  tax_group: str | None = JASPAR_TAX_GROUP) -> tuple[JasparMotif, ...]:
    """The latest version of every JASPAR profile of ``collection`` and ``tax_group``.

    Read from the SQLite database bundled with ``pyjaspar`` (no network). Each PFM is the
    count matrix plus a pseudocount of 1 % of the column total spread over the 4 bases,
    normalised per position. Cached: the database is read once per process (about 2 s).
    """
    from pyjaspar import jaspardb, jaspar_releases

    if release not in jaspar_releases:
        raise ValueError(f"unknown JASPAR release {release!r}; pyjaspar has "
                         f"{sorted(jaspar_releases)}")
    db = jaspardb(release=release)
    try:
        record = db.fetch_motifs(collection=collection,
                                 tax_group=[tax_group] if tax_group else None)
        out = []
        for m in record:
            counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64).T  # w x 4
            pseudo = _PSEUDO_FRACTION * counts.sum(axis=1, keepdims=True) / 4.0
            counts = counts + np.maximum(pseudo, 1e-6)
            out.append(JasparMotif(str(m.matrix_id), str(m.name),
                                   counts / counts.sum(axis=1, keepdims=True)))
    finally:
        db.conn.close()
    if not out:
        raise ValueError(f"{release} has no {collection} profiles for {tax_group!r}")
    return tuple(out)


def jaspar_motif(matrix_id: str, release: str = JASPAR_RELEASE) -> JasparMotif:
    """One profile of the cached database by matrix ID (``"MA0139.2"``) or base ID
    (``"MA0139"``: the latest version). KeyError when it is not there."""
    for m in jaspar_motifs(release):
        if m.matrix_id == matrix_id or m.matrix_id.split(".")[0] == matrix_id:
            return m
    raise KeyError(f"{matrix_id} is not among the {release} {JASPAR_COLLECTION} "
                   f"{JASPAR_TAX_GROUP} profiles")


def _as_pfm(pfm, what: str) -> np.ndarray:
    a = np.asarray(pfm, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] < 1:
        raise ValueError(f"{what}: expected a w x 4 PFM, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or (a < 0).any():
        raise ValueError(f"{what}: PFM entries must be finite and non-negative")
    rows = a.sum(axis=1, keepdims=True)
    return np.where(rows > 0, a / np.where(rows > 0, rows, 1.0), 0.25)


def _query_columns(pfm: np.ndarray) -> np.ndarray:
    """memelite layout (4 x w) of a query: columns centred on the uniform background."""
    return np.ascontiguousarray((pfm - 0.25).T)


def _target_columns(pfm: np.ndarray) -> np.ndarray:
    """memelite layout (4 x w) of a target: centred columns scaled to unit length."""
    v = pfm - 0.25
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.ascontiguousarray((v / np.where(norm > _FLAT, norm, 1.0)).T)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the p-values ``p`` (any shape)."""
    flat = np.asarray(p, dtype=np.float64).ravel()
    m = flat.size
    if m == 0:
        return flat.reshape(np.shape(p))
    order = np.argsort(flat, kind="stable")
    ranked = flat[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out.reshape(np.shape(p))


@lru_cache(maxsize=4)
def _targets(release: str) -> list[np.ndarray]:
    return [_target_columns(m.pfm) for m in jaspar_motifs(release)]


def match_motifs(pfms: Sequence[tuple[str, np.ndarray]], database: str = JASPAR_RELEASE, *,
                 q_threshold: float = 0.05, top: int = 3, source: str = "query",
                 n_jobs: int = -1) -> pd.DataFrame:
    """Match query PFMs against JASPAR with Tomtom (memelite); significant matches only.

    ``pfms``: ``(name, pfm)`` pairs, each ``pfm`` w x 4 (rows are normalised here; a row of
    zeros becomes uniform). ``database``: a JASPAR release bundled with pyjaspar (CORE
    vertebrates, :func:`jaspar_motifs`). For each query, the JASPAR profiles with
    ``q_value <= q_threshold`` (Benjamini-Hochberg over all query x target p-values of the
    call), best first, at most ``top`` of them. ``n_jobs``: numba threads (-1: all).

    Returns a DataFrame with the columns :data:`MATCH_COLUMNS`: ``source`` (the argument),
    ``motif`` (the query's name), ``jaspar_id`` (``MA0139.2``), ``jaspar_name`` (``CTCF``),
    ``p_value``, ``q_value``, ``rank`` (1 = the query's best match). Sorted by motif in
    input order, then rank. Empty (same columns) when nothing matches.
    """
    pfms = list(pfms)
    if not pfms:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    names = [str(n) for n, _ in pfms]
    queries = [_query_columns(_as_pfm(p, f"motif {n!r}")) for n, p in pfms]
    db = jaspar_motifs(database)
    targets = _targets(database)
    from memelite import tomtom

    p = np.ones((len(queries), len(targets)))
    live = [i for i, q in enumerate(queries) if np.abs(q).max() > _FLAT]
    if live:   # an entirely flat query matches nothing (and memelite refuses all-zeros)
        p[live] = tomtom([queries[i] for i in live], targets, n_jobs=n_jobs)[0]
    p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
    q = _bh(p)
    rows = []
    for i, name in enumerate(names):
        order = np.lexsort((p[i], q[i]))
        kept = [j for j in order[:max(int(top), 0)] if q[i, j] <= q_threshold]
        for r, j in enumerate(kept, 1):
            rows.append({"source": source, "motif": name, "jaspar_id": db[j].matrix_id,
                         "jaspar_name": db[j].name, "p_value": float(p[i, j]),
                         "q_value": float(q[i, j]), "rank": r})
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def hypothetical_contributions(ism_deltas) -> np.ndarray:
    """Hypothetical contributions (N, L, 4) float32 from ISM deltas (N, L, 4).

    ``h(i, b) = delta(i, b) - mean over the 4 bases of delta(i, .)``: the ISM map centred
    per position. With delta 0 at the reference base, ``h(i, ref) = -mean_b delta(i, b)``
    is the observed base's contribution (``onehot * h`` summed over bases).
    """
    d = np.asarray(ism_deltas, dtype=np.float64)
    if d.ndim != 3 or d.shape[2] != 4:
        raise ValueError(f"ISM deltas must be N x L x 4, got shape {d.shape}")
    return (d - d.mean(axis=2, keepdims=True)).astype(np.float32)


class ModiscoMotifs(list):
    """The motifs :func:`run_modisco` found (a list of dicts); ``reason`` says why the list
    is empty (None when TF-MoDISco ran and found patterns)."""

    def __init__(self, motifs: Iterable[dict] = (), reason: str | None = None):
        super().__init__(motifs)
        self.reason = reason


def _trim(ppm: np.ndarray, cwm: np.ndarray, fraction: float) -> tuple[int, int]:
    """(start, stop) of the span whose |CWM| row sums reach ``fraction`` of the maximum
    (TF-MoDISco's report trims the same way before Tomtom)."""
    score = np.abs(cwm).sum(axis=1)
    keep = np.nonzero(score >= fraction * score.max())[0] if score.max() > 0 else []
    if len(keep) == 0:
        return 0, len(ppm)
    return int(keep[0]), int(keep[-1]) + 1


def _cache_modisco_kernels() -> None:
    """Turn on numba's on-disk cache for modisco-lite's kernels (best effort).

    modisco-lite caches its kernels only when it can compile them in forked children, which
    it refuses once numba's OpenMP threading layer is running (memelite's Tomtom starts it),
    and would then compile them in this process on every run (about 30 s of CPU). With the
    cache on, they are compiled once per installation and loaded afterwards.
    """
    try:
        from numba.core.dispatcher import Dispatcher
        from modiscolite import precompile

        for group in precompile._kernels():
            for dispatcher, _ in group:
                if isinstance(dispatcher, Dispatcher) and not dispatcher.overloads:
                    dispatcher.enable_caching()
    except Exception as exc:   # no writable cache, or modisco-lite's internals moved
        _log.debug("modisco-lite kernels not cached: %s", exc)


def run_modisco(onehot, ism_deltas, max_seqlets: int = 2000, window: int | None = None, *,
                sliding_window_size: int = 15, flank_size: int = 5,
                min_metacluster_size: int = 50, final_min_cluster_size: int = 20,
                n_leiden_runs: int = 2, nearest_neighbors: int = 100,
                target_seqlet_fdr: float = 0.05,
                trim_fraction: float = 0.3, min_sequences: int = 10,
                log: logging.Logger | None = None) -> ModiscoMotifs:
    """TF-MoDISco (modisco-lite) on ISM attributions; the motifs it finds.

    ``onehot`` (N, L, 4) and ``ism_deltas`` (N, L, 4, :func:`seq2pheno.ism.ism`) of the same
    sequences; the hypothetical contributions are :func:`hypothetical_contributions`.
    ``window``: only the central ``window`` positions are used (None: all). ``max_seqlets``
    caps the seqlets per metacluster (positive / negative contributions).
    ``sliding_window_size``, ``flank_size``, ``target_seqlet_fdr``, ``n_leiden_runs``,
    ``nearest_neighbors`` (TF-MoDISco's ``nearest_neighbors_to_compute``),
    ``min_metacluster_size`` and ``final_min_cluster_size`` are TF-MoDISco's. The defaults
    are sized for a few hundred sequences of ~200 bp on 2 cores (about 20 s): smaller
    seqlet windows, a sparser similarity graph and fewer Leiden runs than modisco-lite's
    command line (window 15 / flank 5 / 100 neighbours / 2 runs instead of 21 / 10 / 500 /
    50); raise them for large sets.

    Returns a :class:`ModiscoMotifs` list of dicts, positive patterns first, then by pattern
    index: ``name`` (``pos_pattern_0`` ...), ``metacluster`` (``pos`` | ``neg``), ``pfm``
    (w x 4 position probability matrix of the seqlets), ``cwm`` (w x 4 mean contribution),
    ``hcwm`` (w x 4 mean hypothetical contribution), ``n_seqlets``, ``trimmed`` ((start,
    stop) of the rows whose |CWM| reaches ``trim_fraction`` of the maximum, the part that
    :func:`motif_table` matches to JASPAR). Empty, with ``.reason`` set, when there are
    fewer than ``min_sequences`` sequences, the window is longer than the sequences, the
    attributions are all zero, or too few seqlets pass TF-MoDISco's threshold for either
    sign (``min_metacluster_size``).
    """
    log = log or _log
    x = np.asarray(onehot, dtype=np.float32)
    d = np.asarray(ism_deltas, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 4 or d.shape != x.shape:
        raise ValueError(f"onehot {x.shape} and ISM deltas {d.shape} must both be N x L x 4")
    n, length = x.shape[0], x.shape[1]

    def skip(reason: str) -> ModiscoMotifs:
        log.info("TF-MoDISco skipped: %s", reason)
        return ModiscoMotifs([], reason)

    if n < min_sequences:
        return skip(f"{n} sequences; need at least {min_sequences}")
    if window is not None:
        window = int(window)
        if window > length:
            return skip(f"window {window} is longer than the sequences ({length} bases)")
        start = (length - window) // 2
        x, d = x[:, start:start + window], d[:, start:start + window]
    if x.shape[1] < sliding_window_size + 2 * flank_size:
        return skip(f"{x.shape[1]} positions; need at least "
                    f"{sliding_window_size + 2 * flank_size} for seqlets")
    hyp = hypothetical_contributions(d)
    if not np.any(x * hyp):
        return skip("the attributions are all zero")

    import modiscolite

    _cache_modisco_kernels()
    try:
        pos, neg = modiscolite.tfmodisco.TFMoDISco(
            one_hot=np.ascontiguousarray(x), hypothetical_contribs=np.ascontiguousarray(hyp),
            sliding_window_size=sliding_window_size, flank_size=flank_size,
            min_metacluster_size=min_metacluster_size,
            max_seqlets_per_metacluster=int(max_seqlets), target_seqlet_fdr=target_seqlet_fdr,
            n_leiden_runs=n_leiden_runs, nearest_neighbors_to_compute=nearest_neighbors,
            final_min_cluster_size=final_min_cluster_size,
            verbose=False)
    except (ValueError, IndexError) as exc:   # degenerate score distributions / clusters
        return skip(f"TF-MoDISco could not run on these attributions: {exc}")
    motifs = []
    for sign, patterns in (("pos", pos), ("neg", neg)):
        for k, pat in enumerate(patterns or []):
            ppm = np.asarray(pat.sequence, dtype=np.float64)
            cwm = np.asarray(pat.contrib_scores, dtype=np.float64)
            motifs.append({"name": f"{sign}_pattern_{k}", "metacluster": sign, "pfm": ppm,
                           "cwm": cwm,
                           "hcwm": np.asarray(pat.hypothetical_contribs, dtype=np.float64),
                           "n_seqlets": int(len(pat.seqlets)),
                           "trimmed": _trim(ppm, cwm, trim_fraction)})
    if not motifs:
        return skip(f"too few seqlets for TF-MoDISco (no metacluster reached "
                    f"{min_metacluster_size} seqlets, or no pattern kept "
                    f"{final_min_cluster_size})")
    log.info("TF-MoDISco: %d patterns (%s)", len(motifs),
             ", ".join(f"{m['name']}: {m['n_seqlets']} seqlets" for m in motifs))
    return ModiscoMotifs(motifs)


def motif_table(filter_pwms: Iterable[dict], modisco_motifs: Iterable[dict], *,
                database: str = JASPAR_RELEASE, q_threshold: float = 0.05,
                top: int = 3) -> pd.DataFrame:
    """The named motifs of one model: filter PWMs and TF-MoDISco patterns vs JASPAR.

    ``filter_pwms``: :func:`seq2pheno.filters.filter_pwms` dicts (only ``informative`` ones
    are matched; each named ``filter_<i>`` as in the MEME file). ``modisco_motifs``:
    :func:`run_modisco` dicts, matched on their trimmed PFM. Up to ``top`` JASPAR matches
    per motif with ``q_value <= q_threshold`` (:func:`match_motifs`; one Tomtom call, and
    so one Benjamini-Hochberg correction, per source).

    Columns, in order: ``source`` (``filter`` | ``modisco``), ``motif``, ``jaspar_id``,
    ``jaspar_name``, ``q_value``, ``rank`` (1.. within the source, by q-value then p-value),
    ``n_seqlets`` (TF-MoDISco patterns; empty for filters). A TF-MoDISco pattern with no
    significant match gets one row with empty JASPAR fields (and no rank); a filter with
    none gets no row. Sorted by source (filters first), then rank.
    """
    frames = []
    filters = [(f"filter_{int(p['filter'])}", p["pfm"]) for p in filter_pwms
               if p.get("informative", True)]
    if filters:
        frames.append(match_motifs(filters, database, q_threshold=q_threshold, top=top,
                                   source="filter").assign(n_seqlets=None))
    modisco_motifs = list(modisco_motifs)
    if modisco_motifs:
        queries = []
        for m in modisco_motifs:
            a, b = m.get("trimmed", (0, len(m["pfm"])))
            queries.append((m["name"], np.asarray(m["pfm"])[a:b]))
        found = match_motifs(queries, database, q_threshold=q_threshold, top=top,
                             source="modisco")
        seqlets = {m["name"]: int(m["n_seqlets"]) for m in modisco_motifs}
        missing = [name for name, _ in queries if name not in set(found["motif"])]
        if missing:
            unmatched = pd.DataFrame({"source": "modisco", "motif": missing}).reindex(
                columns=MATCH_COLUMNS)
            found = pd.concat([found, unmatched], ignore_index=True) if len(found) else unmatched
        found["n_seqlets"] = found["motif"].map(seqlets)
        frames.append(found)
    columns = TABLE_COLUMNS + ["n_seqlets"]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = []
    for part in frames:                      # one per source: filters, then TF-MoDISco
        part = part.sort_values(["q_value", "p_value"], kind="stable", na_position="last")
        ranked = part["jaspar_id"].notna().to_numpy()
        rank = pd.array([pd.NA] * len(part), dtype="Int64")
        rank[ranked] = np.arange(1, int(ranked.sum()) + 1)
        part = part.assign(rank=rank, n_seqlets=part["n_seqlets"].astype("Int64"))
        out.append(part[columns])
    return pd.concat(out, ignore_index=True)
