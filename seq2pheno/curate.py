"""Duplicate curation: group exact and near-duplicate sequences, then remove or keep them.

Distance between two sequences is the Hamming distance over tensor columns: the number of
positions whose (A, C, G, T) column differs. On plain one-hot rows this is the usual count of
mismatched bases; an ``N`` (0.25 each) differs from every base but equals another ``N``, and a
heterozygote (0.5/0.5) differs from both of its homozygotes. Columns are compared exactly
(by their float32 bytes), so any value (e.g. an imputed allele frequency) is its own state.

The tensor (an array, a read-only memmap, or a :class:`seq2pheno.tensorfile.TensorFile`,
whose positioned reads keep the file out of the resident set) is read in row blocks, several
times where needed. What is held per sequence is a few dozen bytes (labels, a difference
count, the k + 1 search keys below, a union-find parent), plus two blocks, whatever N is.

Exact duplicates: one pass hashes each row (16-byte BLAKE2b of its column state codes, which
stand one to one for the columns' bytes; see step 1 below), in O(N).

Near duplicates (``max_mismatch_fraction > 0``: threshold k mismatches), among distinct rows:

1. One pass decodes the rows into column state codes (0-3 = pure A, C, G, T; 4.. any other
   column vector) and counts the states of each column (consensus, varying columns).
2. A sample of distinct rows chooses the search: the candidate pairs of each keyed search
   below are counted on it, for each candidate center (the column-wise consensus, the sampled
   row closest to it, the most frequent sequence); the cheapest wins, unless even its
   candidates near all pairs (``INDEX_MAX_PAIR_SHARE``): then the dense search.
3. One pass keeps, per row, its number of differences from the center and k + 1 keys (int16
   where they fit, else int32):

   - ``index``, the prefix filter of set-similarity joins: a row is the set of its
     differences (position, state) from the center, and its keys are its k + 1 rarest
     differences (order: frequency in the sample, then id). Rows within k share one of them
     when either has more than k differences (at most k of a row's differences are missing
     from the other). Rows that both have at most k differences and are within k share a
     differing position unless their counts add up to at most k; those last are all within k
     of the row closest to the center (a star), by the triangle inequality.
   - ``segments``, the pigeonhole principle: hashes of k + 1 contiguous segments; rows within
     k have an identical segment.

   Partners also have difference counts within k of each other (triangle inequality).
4. Block pairs: rows are split into blocks, and for each pair of blocks the keys are joined
   into candidate pairs. Candidates already in one component (a union-find) are skipped;
   the blocks are then read (each pair of blocks once) as state codes, candidates whose
   segment sketch (per segment: differences from the center and a byte hash) bounds the
   distance above k are dropped, and the rest are compared column by column.
   ``dense`` instead multiplies one-hot state matrices of sub-blocks of each block pair.

Every search is exact: the groups are the connected components of the "within k" graph.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .tensorfile import CODE_COMPOSITION, CodedTensor


#: relative tolerance beyond which a duplicate group's phenotypes are "discordant"
DISCORDANT_RTOL = 1e-9
#: absolute tolerance (phenotype units) for the same test, for phenotypes near 0
DISCORDANT_ATOL = 1e-12
#: the keyed searches are used while their candidate pairs stay below this share of all pairs
INDEX_MAX_PAIR_SHARE = 0.05
#: fewer replicate groups (phenotypes that differ) than this and no noise ceiling is estimated
MIN_REPLICATE_GROUPS = 30
#: bytes of float32 rows read at a time
READ_BYTES = 4 << 20
#: bytes of one block of the pairwise search (state codes, sketch, keys; two are held at a time)
CODE_BLOCK_BYTES = 8 << 20
#: distinct rows sampled to choose the search and its center
SAMPLE_ROWS = 4096

METHODS = ("auto", "index", "segments", "dense")

_PAIR_CHUNK = 1 << 17      # candidate pairs generated at a time
_SKETCH_CHUNK = 1 << 15    # candidate pairs whose sketches are compared at a time
_VERIFY_BYTES = 2 << 20    # state codes gathered per column-by-column comparison
_KEY_COLUMNS = 1 << 17     # columns (rows x L) whose keys or sketch are computed at once
_DENSE_BYTES = 8 << 20     # one-hot state matrix of one dense sub-block
_SKETCH_SEGMENTS = 32
_UNIT = np.eye(4, dtype=np.float32)
_V16 = np.dtype((np.void, 16))
# a column's 16 bytes as two 64-bit words: (A, C) and (G, T); a pure column has one word equal
# to one of these and the other zero
_ONE_FIRST = np.array([1, 0], np.float32).view(np.uint64)[0]
_ONE_SECOND = np.array([0, 1], np.float32).view(np.uint64)[0]


# ----------------------------------------------------------------------------- helpers
def _check_tensor(onehot) -> tuple[int, int]:
    if getattr(onehot, "ndim", None) != 3 or onehot.shape[2] != 4:
        raise ValueError(f"expected an N x L x 4 one-hot tensor, got shape {getattr(onehot, 'shape', None)}")
    return int(onehot.shape[0]), int(onehot.shape[1])


def _read(onehot, rows) -> np.ndarray:
    """Rows (a slice or a sorted index array) as a C-contiguous float32 array; for a compact
    tensor (:class:`seq2pheno.tensorfile.CodedTensor`) their base codes (uint8 rows x L), which
    :class:`_Decoder` turns into the same state codes 16 times faster."""
    if isinstance(onehot, CodedTensor):
        return np.ascontiguousarray(onehot.codes[rows])
    return np.ascontiguousarray(onehot[rows], dtype=np.float32)


def _rows_of(onehot, first: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Distinct rows ``start:stop`` (tensor rows ``first[start:stop]``, increasing); a span with
    few rows between them is read whole."""
    idx = first[start:stop]
    if len(idx) == 0:
        return _read(onehot, idx)
    lo, span = int(idx[0]), int(idx[-1]) - int(idx[0]) + 1
    if span == len(idx):
        return _read(onehot, slice(lo, lo + span))
    if span <= len(idx) + max(16, len(idx) // 4):
        return np.take(_read(onehot, slice(lo, lo + span)), idx - lo, axis=0)
    return _read(onehot, idx)


def _read_rows(length: int, block_size: int | None) -> int:
    rows = max(1, READ_BYTES // (16 * max(length, 1)))
    return rows if block_size is None else max(1, min(int(block_size), rows))


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


# ----------------------------------------------------------------------------- reading rows
def _exact_labels(onehot, n: int, read_rows: int, decoder: "_Decoder", log) -> np.ndarray:
    """One pass: labels of identical rows, in order of first appearance.

    Rows are hashed (16-byte BLAKE2b) as state codes, which stand one to one for the columns'
    bytes (a row whose codes all fit a byte is hashed as bytes, whatever the decoder's width)."""
    digests = np.empty((n, 2), dtype=np.uint64)
    progress = _Progress(log, "duplicates: rows hashed", every=64)
    for s in range(0, n, read_rows):
        e = min(n, s + read_rows)
        codes = decoder(_read(onehot, slice(s, e)))
        if codes.dtype != np.uint8:
            wide = codes.max(axis=1) > 255
            rows = [c if w else c.astype(np.uint8) for c, w in zip(codes, wide)]
        else:
            rows = codes
        digests[s:e] = np.frombuffer(
            b"".join(hashlib.blake2b(row.data, digest_size=16).digest() for row in rows),
            dtype=np.uint64).reshape(-1, 2)
        progress(e, n)
    order = np.lexsort((digests[:, 1], digests[:, 0]))       # stable: first rows lead their runs
    new = np.ones(n, dtype=bool)
    h = digests[order, 0]
    new[1:] = h[1:] != h[:-1]
    h = digests[order, 1]
    new[1:] |= h[1:] != h[:-1]
    del h, digests
    first = order[new]
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    labels = np.empty(n, dtype=np.int64)
    labels[order] = rank[np.cumsum(new) - 1]
    return labels


class _Decoder:
    """Column state codes of float32 row blocks: 0-3 = pure A, C, G, T (by their bytes); 4.. each
    other column vector, numbered in order of first sight (the numbering lives with the decoder)."""

    def __init__(self):
        self.states: dict[bytes, int] = {_UNIT[i].tobytes(): i for i in range(4)}
        self.dtype = np.dtype(np.uint8)

    @property
    def n_states(self) -> int:
        return len(self.states)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if block.ndim == 2:
            return self._from_base_codes(block)
        b, length = block.shape[:2]
        words = block.reshape(b, length * 4).view(np.uint64).reshape(b, length, 2)
        lo, hi = words[:, :, 0], words[:, :, 1]
        hi_set = hi != 0
        word = lo | hi
        second = word == _ONE_SECOND
        code = (hi_set.view(np.uint8) << 1) | second.view(np.uint8)
        pure = (hi_set != (lo != 0)) & (second | (word == _ONE_FIRST))
        if self.dtype != np.uint8:
            code = code.astype(self.dtype)
        if not pure.all():
            odd = ~pure
            uniq, inv = np.unique(block[odd].view(_V16).ravel(), return_inverse=True)
            ids = np.array([self.states.setdefault(v.tobytes(), len(self.states)) for v in uniq],
                           dtype=np.int64)
            if len(self.states) > 65536:
                raise ValueError("more than 65,536 distinct column vectors: not a one-hot tensor")
            if len(self.states) > 256 and self.dtype == np.uint8:
                self.dtype = np.dtype(np.uint16)
                code = code.astype(self.dtype)
            code[odd] = ids[inv.ravel()]
        return code

    def _from_base_codes(self, codes: np.ndarray) -> np.ndarray:
        """State codes of a compact tensor's base codes: 0-3 stay; an ambiguity code gets the
        state of its composition, numbered as its float32 columns would be (sorted bytes)."""
        if not codes.size or int(codes.max()) < 4:
            return codes if self.dtype == np.uint8 else codes.astype(self.dtype)
        lut = np.arange(len(CODE_COMPOSITION), dtype=np.int64)
        present = np.unique(codes[codes >= 4])
        for vec, c in sorted((CODE_COMPOSITION[c].tobytes(), int(c)) for c in present):
            lut[c] = self.states.setdefault(vec, len(self.states))
        if len(self.states) > 256 and self.dtype == np.uint8:
            self.dtype = np.dtype(np.uint16)
        return np.take(lut.astype(self.dtype), codes, mode="clip")

    def read(self, onehot, first, start, stop, read_rows) -> np.ndarray:
        """State codes (stop - start, L) of distinct rows ``start:stop``."""
        out = np.empty((stop - start, int(onehot.shape[1])), dtype=self.dtype)
        for s in range(start, stop, read_rows):
            e = min(stop, s + read_rows)
            c = self(_rows_of(onehot, first, s, e))
            if c.dtype != out.dtype:
                out = out.astype(c.dtype)
            out[s - start:e - start] = c
        return out


def _state_counts(onehot, first, decoder: _Decoder, read_rows: int, log) -> np.ndarray:
    """One pass over the distinct rows: (L, S) int64 count of each state in each column."""
    nu, length = len(first), int(onehot.shape[1])
    counts = np.zeros((length, 4), dtype=np.int64)
    progress = _Progress(log, "duplicates: rows decoded", every=64)
    for s in range(0, nu, read_rows):
        e = min(nu, s + read_rows)
        codes = decoder(_rows_of(onehot, first, s, e))
        n_states = decoder.n_states
        if counts.shape[1] < n_states:
            counts = np.pad(counts, ((0, 0), (0, n_states - counts.shape[1])))
        idx = codes.astype(np.int64) + np.arange(length, dtype=np.int64) * n_states
        counts += np.bincount(idx.ravel(), minlength=length * n_states).reshape(length, n_states)
        progress(e, nu)
    return counts


# ----------------------------------------------------------------------------- search keys
@dataclass
class _Keys:
    """Per-row keys of a keyed search (``index`` or ``segments``) around ``center``."""

    kind: str
    center: np.ndarray                  # (L,) state codes
    k: int
    n_states: int
    rank: np.ndarray | None = None      # index: rank of each feature (position * S + state)
    feature: np.ndarray | None = None   # index: feature of each rank
    mult: np.ndarray | None = None      # segments: random odd multiplier per position
    starts: np.ndarray | None = None    # segments: first column of each of the k + 1 segments

    @classmethod
    def index(cls, sample: np.ndarray, center: np.ndarray, n_states: int, k: int) -> "_Keys":
        """Features ordered by their frequency among ``sample``'s differences from ``center``."""
        n_feats = sample.shape[1] * n_states
        freq = np.zeros(n_feats, dtype=np.int64)
        for s in range(0, len(sample), _key_rows(sample.shape[1])):
            _, _, f = _differences(sample[s:s + _key_rows(sample.shape[1])], center, n_states)
            freq += np.bincount(f, minlength=n_feats)
        order = np.argsort(freq, kind="stable")
        rank = np.empty(n_feats, dtype=np.int32)
        rank[order] = np.arange(n_feats, dtype=np.int32)
        return cls("index", center, k, n_states, rank=rank, feature=order)

    @classmethod
    def segments(cls, center: np.ndarray, n_states: int, k: int) -> "_Keys":
        length = len(center)
        rng = np.random.default_rng(20240917)
        mult = rng.integers(0, np.iinfo(np.uint64).max, length, dtype=np.uint64, endpoint=True) | np.uint64(1)
        starts = np.linspace(0, length, k + 2).astype(np.int64)[:-1]
        return cls("segments", center, k, n_states, mult=mult, starts=starts)

    def __call__(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(counts int32 (b,): differences from the center, keys int32 (b, k + 1), -1 = none)."""
        rows = _key_rows(codes.shape[1])
        if len(codes) <= rows:
            return self._keys(codes)
        counts = np.empty(len(codes), dtype=np.int32)
        keys = np.empty((len(codes), self.k + 1), dtype=self.key_dtype)
        for s in range(0, len(codes), rows):
            counts[s:s + rows], keys[s:s + rows] = self._keys(codes[s:s + rows])
        return counts, keys

    def _keys(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, k = len(codes), self.k
        if self.kind == "segments":
            counts = np.count_nonzero(codes != self.center, axis=1).astype(np.int32)
            h = np.add.reduceat(codes.astype(np.uint64) * self.mult, self.starts, axis=1)
            h ^= h >> np.uint64(29)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(32)
            return counts, (h >> np.uint64(33)).astype(np.int32)
        r, _, f = _differences(codes, self.center, self.n_states)
        counts = np.bincount(r, minlength=b)
        rk = self.rank[f]
        order = np.lexsort((rk, r))
        r, rk = r[order], rk[order]
        slot = np.arange(len(r)) - (np.cumsum(counts) - counts)[r]
        keep = slot <= k
        keys = np.full((b, k + 1), -1, dtype=self.key_dtype)
        keys[r[keep], slot[keep]] = rk[keep]
        return counts.astype(np.int32), keys

    @property
    def key_dtype(self) -> np.dtype:
        """int16 where the index's ranks fit (fewer than 32,767 features), else int32."""
        small = self.kind == "index" and len(self.rank) < np.iinfo(np.int16).max
        return np.dtype(np.int16 if small else np.int32)


def _key_rows(length: int) -> int:
    """Rows whose keys are computed at once (their temporaries are ~60 bytes a column)."""
    return max(1, _KEY_COLUMNS // max(length, 1))


def _differences(codes: np.ndarray, center: np.ndarray, n_states: int):
    """(row, position, feature = position * S + state) of every column that differs from center."""
    r, p = np.nonzero(codes != center)
    return r, p, p.astype(np.int64) * n_states + codes[r, p]


def _entries(keys: np.ndarray, counts: np.ndarray, row0: int, span: int, by_slot: bool = False):
    """Sorted join keys (key * span + count) of a block's rows, and their rows. ``by_slot``
    (segments): a key only meets keys of the same column (segment), whatever its hash."""
    r, j = np.nonzero(keys >= 0)
    key = keys[r, j].astype(np.int64)
    if by_slot:
        key = key * keys.shape[1] + j
    key = key * span + counts[r]
    order = np.argsort(key, kind="stable")
    return key[order], r[order] + row0


def _low_entries(keys: np.ndarray, counts: np.ndarray, row0: int, span: int, spec: _Keys):
    """index: (position * span + count, row) of every difference of rows with at most k."""
    low = (counts <= spec.k) & (counts > 0)
    r, j = np.nonzero((keys >= 0) & low[:, None])
    pos = spec.feature[keys[r, j]] // spec.n_states
    key = pos * span + counts[r]
    order = np.argsort(key, kind="stable")
    return key[order], r[order] + row0


def _window(key_a, key_b, lo_off, hi_off):
    """For each key of a: first index into sorted key_b, and number of keys in [key+lo, key+hi]."""
    lo = np.searchsorted(key_b, key_a + lo_off, side="left")
    hi = np.searchsorted(key_b, key_a + hi_off, side="right")
    return lo, np.maximum(hi - lo, 0)


def _low_offsets(key: np.ndarray, span: int, k: int):
    """Partners of a low row with c differences have k + 1 - c .. k of them."""
    c = key % span
    return k + 1 - 2 * c, k - c


def _join(a, b, lo_off, hi_off, same: bool):
    """Yield candidate pairs (row of a, row of b) whose keys fall in each other's window."""
    key_a, row_a = a
    key_b, row_b = b
    if len(key_a) == 0 or len(key_b) == 0:
        return
    lo, m = _window(key_a, key_b, lo_off, hi_off)
    cum = np.cumsum(m)
    total, done, e0 = int(cum[-1]), 0, 0
    while done < total:
        e1 = max(int(np.searchsorted(cum, done + _PAIR_CHUNK, side="right")), e0 + 1)
        mm = m[e0:e1]
        t = int(cum[e1 - 1]) - done
        if t:
            first = np.repeat(np.arange(e0, e1), mm)
            off = np.arange(t) - np.repeat(np.cumsum(mm) - mm, mm)
            pa, pb = row_a[first], row_b[lo[first] + off]
            if same:
                sel = pa < pb
                pa, pb = pa[sel], pb[sel]
            yield pa, pb
        done += t
        e0 = e1


def _count_candidates(spec: _Keys, codes: np.ndarray) -> int:
    """Candidate pairs of a keyed search among ``codes``' rows (with repeats, as generated)."""
    k, span = spec.k, codes.shape[1] + spec.k + 1
    counts, keys = spec(codes)
    key, _ = _entries(keys, counts, 0, span, spec.kind == "segments")
    _, m = _window(key, key, -k, k)
    total = (int(m.sum()) - len(key)) // 2
    if spec.kind == "index":
        key, _ = _low_entries(keys, counts, 0, span, spec)
        lo_off, hi_off = _low_offsets(key, span, k)
        _, m = _window(key, key, lo_off, hi_off)
        total += (int(m.sum()) - int((2 * (key % span) > k).sum())) // 2
    return total


# ----------------------------------------------------------------------------- components
class _Components:
    """Union-find over n nodes, merged in vectorized batches (roots are components' least node)."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
        self.merges = 0
        self._stale = 0

    def find(self, x: np.ndarray) -> np.ndarray:
        r = np.take(self.parent, x)
        while True:
            up = np.take(self.parent, r)
            if np.array_equal(up, r):
                return r
            r = up

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        if len(a) == 0:
            return
        ra, rb = self.find(a), self.find(b)
        keep = ra != rb
        if not keep.any():
            return
        ra, rb = ra[keep], rb[keep]
        nodes, inv = np.unique(np.concatenate([ra, rb]), return_inverse=True)
        m = len(ra)
        graph = sparse.csr_matrix((np.ones(m, dtype=np.int32), (inv[:m], inv[m:])),
                                  shape=(len(nodes), len(nodes)))
        n_comp, lab = connected_components(graph, directed=False)
        root = np.full(n_comp, len(self.parent), dtype=np.int64)
        np.minimum.at(root, lab, nodes)
        self.parent[nodes] = root[lab]          # roots only: the least root of each new component
        self.merges += len(nodes) - n_comp
        self._stale += 1                        # each batch adds at most one step to any path
        if self._stale >= 8:
            self.compress()

    def compress(self) -> None:
        p = self.parent
        while True:
            up = p[p]
            if np.array_equal(up, p):
                break
            p = up
        self.parent, self._stale = p, 0

    def roots(self) -> np.ndarray:
        self.compress()
        return self.parent


# ----------------------------------------------------------------------------- block pairs
class _Block:
    """State codes of distinct rows ``start:stop`` and their segment sketch, read when first used."""

    def __init__(self, search: "_Search", start: int, stop: int):
        self.search, self.start, self.stop = search, start, stop
        self._codes = self._sketch = None

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            s = self.search
            self._codes = s.decoder.read(s.onehot, s.first, self.start, self.stop, s.read_rows)
            s.blocks_read += 1
        return self._codes

    @property
    def sketch(self) -> tuple[np.ndarray, np.ndarray]:
        """Per segment of the row: differences from the center (at most 127) and a byte hash,
        as (b, m / 8) uint64 words of m bytes each (m a multiple of 8; unused bytes are 0)."""
        if self._sketch is None:
            s, codes = self.search, self.codes
            starts = s.sketch_starts
            m = -(-len(starts) // 8) * 8
            diff = np.zeros((len(codes), m), dtype=np.uint8)
            hashes = np.zeros((len(codes), m), dtype=np.uint8)
            rows = _key_rows(codes.shape[1])
            for i in range(0, len(codes), rows):
                c = codes[i:i + rows]
                d = np.add.reduceat((c != s.center).view(np.uint8), starts, axis=1, dtype=np.uint16)
                diff[i:i + rows, :len(starts)] = np.minimum(d, 127)
                hashes[i:i + rows, :len(starts)] = np.add.reduceat(c.astype(np.uint8) * s.sketch_mult, starts,
                                                                   axis=1, dtype=np.uint8)
            self._sketch = (diff.view(np.uint64), hashes.view(np.uint64))
        return self._sketch


def _sketch_bound(sketch_a, ia, sketch_b, ib, k: int) -> np.ndarray:
    """A lower bound on the distance of rows ia of one block and ib of another: the sum over
    segments of max(|difference counts|, hashes differ), each term clipped at min(k + 1, 31)."""
    (da, ha), (db, hb) = sketch_a, sketch_b
    gap = np.abs(np.take(da, ia, axis=0).view(np.int8) - np.take(db, ib, axis=0).view(np.int8)).view(np.uint8)
    differ = np.take(ha, ia, axis=0).view(np.uint8) != np.take(hb, ib, axis=0).view(np.uint8)
    np.maximum(gap, differ.view(np.uint8), out=gap)
    np.minimum(gap, min(k + 1, 31), out=gap)
    words = (gap.view(np.uint64) * np.uint64(0x0101010101010101)) >> np.uint64(56)  # byte sums
    total = words[:, 0].copy()
    for j in range(1, words.shape[1]):
        total += words[:, j]
    return total


class _Search:
    """State shared by the block-pair searches."""

    def __init__(self, onehot, first, decoder, center, k, comp, pair_rows, read_rows, log):
        self.onehot, self.first, self.decoder, self.center, self.k = onehot, first, decoder, center, k
        self.comp, self.pair_rows, self.read_rows, self.log = comp, pair_rows, read_rows, log
        length = int(onehot.shape[1])
        m = min(_SKETCH_SEGMENTS, length)
        self.sketch_starts = np.linspace(0, length, m + 1).astype(np.int64)[:-1]
        self.sketch_mult = (np.random.default_rng(7).integers(0, 128, length, dtype=np.uint8) * 2 + 1).astype(np.uint8)
        self.blocks_read = 0
        self.candidates = self.skipped = self.bounded = self.compared = 0
        nu = len(first)
        self.bounds = [(s, min(nu, s + pair_rows)) for s in range(0, nu, pair_rows)]

    def block_pairs(self):
        nb = len(self.bounds)
        progress = _Progress(self.log, "duplicates: block pairs", every=16)
        done = 0
        for bi in range(nb):
            bl_i = _Block(self, *self.bounds[bi])
            for bj in range(bi, nb):
                bl_j = bl_i if bj == bi else _Block(self, *self.bounds[bj])
                yield bi, bj, bl_i, bl_j
                done += 1
                progress(done, nb * (nb + 1) // 2,
                         f" ({self.candidates} candidate pairs, {self.compared} compared, {self.blocks_read} blocks read)")

    def check(self, a: np.ndarray, b: np.ndarray, bl_a: _Block, bl_b: _Block) -> None:
        """Link the candidate pairs (a in bl_a, b in bl_b) that are within k."""
        comp, k = self.comp, self.k
        self.candidates += len(a)
        keep = comp.find(a) != comp.find(b)
        self.skipped += len(a) - int(keep.sum())
        if not keep.any():
            return
        a, b = a[keep], b[keep]
        keep = np.empty(len(a), dtype=bool)
        for s in range(0, len(a), _SKETCH_CHUNK):
            aa, bb = a[s:s + _SKETCH_CHUNK], b[s:s + _SKETCH_CHUNK]
            keep[s:s + _SKETCH_CHUNK] = _sketch_bound(bl_a.sketch, aa - bl_a.start, bl_b.sketch, bb - bl_b.start, k) <= k
        self.bounded += len(a) - int(keep.sum())
        a, b = a[keep], b[keep]
        step = max(1, _VERIFY_BYTES // max(bl_a.codes.shape[1], 1))
        for s in range(0, len(a), step):
            aa, bb = a[s:s + step], b[s:s + step]
            d = np.count_nonzero(np.take(bl_a.codes, aa - bl_a.start, axis=0)
                                 != np.take(bl_b.codes, bb - bl_b.start, axis=0), axis=1)
            ok = d <= k
            self.compared += len(aa)
            comp.union(aa[ok], bb[ok])

    def keyed(self, spec: _Keys, keys: np.ndarray, counts: np.ndarray) -> None:
        k, span = self.k, int(self.onehot.shape[1]) + self.k + 1
        index = spec.kind == "index"

        def entries(i):
            s, e = self.bounds[i]
            return (_entries(keys[s:e], counts[s:e], s, span, not index),
                    _low_entries(keys[s:e], counts[s:e], s, span, spec) if index else None)

        current = -1
        for bi, bj, bl_i, bl_j in self.block_pairs():
            if bi != current:
                current, (main_i, low_i) = bi, entries(bi)
            main_j, low_j = entries(bj) if bj != bi else (main_i, low_i)
            for a, b in _join(main_i, main_j, -k, k, bi == bj):
                self.check(a, b, bl_i, bl_j)
            if index:
                lo_off, hi_off = _low_offsets(low_i[0], span, k)
                for a, b in _join(low_i, low_j, lo_off, hi_off, bi == bj):
                    self.check(a, b, bl_i, bl_j)

    def dense(self, state_counts: np.ndarray) -> None:
        k, comp = self.k, self.comp
        present = state_counts > 0
        varying = np.flatnonzero(present.sum(axis=1) > 1)
        nv = len(varying)
        if nv <= k:                                   # every pair is within k
            nu = len(self.first)
            comp.union(np.arange(1, nu), np.zeros(nu - 1, dtype=np.int64))
            return
        occ = present[varying]
        fmap = np.full(occ.shape, -1, dtype=np.int64)
        fmap[occ] = np.arange(int(occ.sum()))
        n_occ = int(occ.sum())
        sub = max(1, min(_DENSE_BYTES // (4 * n_occ), math.isqrt(_DENSE_BYTES // 4)))   # X and X X^T
        col = np.arange(nv)

        def states(codes):
            x = np.zeros((len(codes), n_occ), dtype=np.float32)
            np.put_along_axis(x, fmap[col, codes[:, varying]], 1.0, axis=1)
            return x

        for bi, bj, bl_i, bl_j in self.block_pairs():
            ci, cj = bl_i.codes, bl_j.codes
            for i0 in range(0, len(ci), sub):
                xi = states(ci[i0:i0 + sub])
                for j0 in range(i0 if bi == bj else 0, len(cj), sub):
                    xj = xi if (bi == bj and j0 == i0) else states(cj[j0:j0 + sub])
                    ii, jj = np.nonzero(xi @ xj.T >= nv - k - 0.5)   # matches among varying columns
                    if bi == bj and j0 == i0:
                        sel = ii < jj
                        ii, jj = ii[sel], jj[sel]
                    self.candidates += len(ii)
                    comp.union(ii + bl_i.start + i0, jj + bl_j.start + j0)


# ----------------------------------------------------------------------------- choosing the search
@dataclass
class _Plan:
    kind: str                 # index | segments | dense
    spec: _Keys | None
    description: str
    estimate: float           # candidate pairs expected (scaled from the sample)


def _plan(onehot, first, copies, decoder, state_counts, k, method, read_rows) -> _Plan:
    nu, length = len(first), int(onehot.shape[1])
    n_states = decoder.n_states
    consensus = state_counts.argmax(axis=1).astype(decoder.dtype)
    all_pairs = nu * (nu - 1) / 2
    if method == "dense":
        return _Plan("dense", None, "dense", all_pairs)
    sidx = np.unique(np.round(np.linspace(0, nu - 1, min(nu, SAMPLE_ROWS))).astype(np.int64))
    sfirst = first[sidx]
    sample = decoder.read(onehot, sfirst, 0, len(sfirst), read_rows)
    ns = len(sample)
    options: list[tuple[int, int, _Keys, str]] = []
    if method in ("auto", "index") and length * n_states < 2**31:
        centers = [("consensus", consensus)]
        closest = int(np.argmin(np.count_nonzero(sample != consensus, axis=1)))
        centers.append(("sampled sequence closest to the consensus", sample[closest]))
        top = int(np.argmax(copies))
        if copies[top] > 1:
            centers.append(("most frequent sequence", decoder.read(onehot, first, top, top + 1, 1)[0]))
        for name, center in centers:
            if any(np.array_equal(center, c.center) for _, _, c, _ in options):
                continue
            spec = _Keys.index(sample, center, n_states, k)
            options.append((_count_candidates(spec, sample), len(options), spec, f"index around the {name}"))
    if method in ("auto", "segments") or not options:
        spec = _Keys.segments(consensus, n_states, k)
        options.append((_count_candidates(spec, sample), len(options), spec, f"{k + 1} segments"))
    count, _, spec, description = min(options, key=lambda o: o[:2])
    sample_pairs = ns * (ns - 1) / 2
    estimate = count * (all_pairs / sample_pairs) if sample_pairs else 0.0
    if method == "auto" and count > INDEX_MAX_PAIR_SHARE * sample_pairs:
        return _Plan("dense", None, f"dense ({description} would give about {estimate:.3g} candidate pairs)",
                     all_pairs)
    return _Plan(spec.kind, spec, description, estimate)


# ----------------------------------------------------------------------------- public API
def duplicate_groups(onehot, max_mismatch_fraction: float = 0.0, *, block_size: int | None = None,
                     log: logging.Logger | None = None, method: str = "auto",
                     exact: np.ndarray | None = None) -> np.ndarray:
    """Label each sequence with its duplicate group.

    onehot: N x L x 4 tensor (array, read-only memmap or TensorFile), read in row blocks.
    Rows within ``floor(max_mismatch_fraction * L)`` mismatched positions are linked, and groups
    are the connected components (so a~b and b~c put a, b, c together). Fraction 0 gives exact
    duplicates (identical row bytes) by hashing, in O(N).
    ``method``: ``"auto"`` (the keyed search with the fewest candidate pairs on a sample, unless
    they near all pairs: then dense), ``"index"``, ``"segments"`` or ``"dense"``; all give the
    same groups (see the module docstring).
    ``block_size``: rows per block (reads and the pairwise search); None: about
    ``CODE_BLOCK_BYTES`` per search block (codes, sketch, keys) and ``READ_BYTES`` per read.
    ``exact``: the labels of ``duplicate_groups(onehot, 0.0)`` when already known (skips hashing).
    Memory, whatever N is: two blocks, plus per sequence 8 bytes (labels), per distinct sequence
    12 + 2 (k + 1) bytes (4 (k + 1) for ``segments`` or more than 32,767 column states), and
    transients of a few dozen bytes per sequence (sorting labels).
    Returns int64 (N,) labels 0..G-1 in order of first appearance.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if block_size is not None and int(block_size) < 1:
        raise ValueError("block_size must be >= 1")
    n, length = _check_tensor(onehot)
    k = _threshold(max_mismatch_fraction, length)
    t0 = time.time()
    read_rows = _read_rows(length, block_size)
    decoder = _Decoder()
    hashed = exact is None
    if hashed:
        exact = _exact_labels(onehot, n, read_rows, decoder, log)
    else:
        exact = np.asarray(exact)
        if exact.shape != (n,):
            raise ValueError(f"exact has shape {exact.shape}, expected ({n},)")
        inv = _group_index(exact)[1]         # the labels themselves when already 0..G-1 in order
        exact = inv if np.shares_memory(inv, exact) else _first_appearance(exact)
    n_exact = int(exact.max()) + 1 if n else 0
    if log is not None and hashed:
        log.info("duplicates: %d sequences, %d distinct (%.1f s)", n, n_exact, time.time() - t0)
    if k == 0 or n_exact < 2:
        return exact
    first = np.unique(exact, return_index=True)[1]   # first row of each distinct sequence, increasing
    if n < 2**31:
        first = first.astype(np.int32)
    state_counts = _state_counts(onehot, first, decoder, read_rows, log)
    plan = _plan(onehot, first, np.bincount(exact), decoder, state_counts, k, method, read_rows)
    nu = len(first)
    if log is not None:
        log.info("duplicates: threshold %d mismatches of %d; %s search (about %.3g candidate pairs of %d) "
                 "(%.1f s)", k, length, plan.description, plan.estimate, nu * (nu - 1) // 2, time.time() - t0)
    # a block's state codes, sketch (2 x 32 bytes) and join entries (16 bytes a key, twice)
    row_bytes = length * decoder.dtype.itemsize + 2 * _SKETCH_SEGMENTS + 32 * (k + 1)
    pair_rows = int(block_size) if block_size is not None else max(1, CODE_BLOCK_BYTES // row_bytes)
    comp = _Components(nu)
    if plan.kind == "dense":
        search = _Search(onehot, first, decoder, state_counts.argmax(axis=1), k, comp, pair_rows, read_rows, log)
        search.dense(state_counts)
    else:
        spec = plan.spec
        keys = np.empty((nu, k + 1), dtype=spec.key_dtype)
        counts = np.empty(nu, dtype=np.int32)
        for s in range(0, nu, read_rows):
            e = min(nu, s + read_rows)
            counts[s:e], keys[s:e] = spec(decoder(_rows_of(onehot, first, s, e)))
        z = int(np.argmin(counts))
        star = np.flatnonzero(counts.astype(np.int64) + int(counts[z]) <= k)
        comp.union(star, np.full(len(star), z, dtype=np.int64))     # within k through the center
        search = _Search(onehot, first, decoder, spec.center, k, comp, pair_rows, read_rows, log)
        search.keyed(spec, keys, counts)
        del keys, counts
    labels = _first_appearance(comp.roots()[exact])
    if log is not None:
        log.info("duplicates: %d candidate pairs (%d already linked, %d bounded by the sketch, %d compared); "
                 "%d blocks read; %d near-duplicate links, %d groups (%.1f s)",
                 search.candidates, search.skipped, search.bounded, search.compared, search.blocks_read,
                 comp.merges, int(labels.max()) + 1, time.time() - t0)
    return labels


def group_distances(onehot, groups, *, block_size: int | None = None) -> np.ndarray:
    """Hamming distance (mismatched positions) of each row to the first row of its group.

    onehot: N x L x 4 (array, memmap or TensorFile), read in blocks of ``block_size`` rows
    (None: about ``READ_BYTES``); groups: (N,) labels. Returns int64 (N,); 0 for first rows
    and exact copies.
    """
    n, length = _check_tensor(onehot)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups has shape {groups.shape}, expected ({n},)")
    first_idx, inv = _group_index(groups)
    rep = first_idx[inv]
    del inv
    out = np.zeros(n, dtype=np.int64)
    rows = _read_rows(length, block_size)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        r = rep[s:e]
        todo = np.flatnonzero(r != np.arange(s, e))
        if len(todo) == 0:
            continue
        x = _read(onehot, slice(s, e))[todo]
        uniq, where = np.unique(r[todo], return_inverse=True)
        ref = _read(onehot, uniq)[where.ravel()]
        if x.ndim == 2:                      # base codes: one per column, one to one with columns
            out[s + todo] = np.count_nonzero(x != ref, axis=1)
            continue
        differ = x.reshape(len(x), -1).view(np.uint64) != ref.reshape(len(ref), -1).view(np.uint64)
        out[s + todo] = np.count_nonzero(differ.reshape(len(x), length, 2).any(axis=2), axis=1)
    return out


def _group_index(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each group, row -> group index), groups in sorted label order (np.unique's);
    labels already 0..G-1 in order of first appearance (duplicate_groups') skip the sort."""
    g = np.asarray(g)
    if g.dtype.kind in "iu" and len(g) and g[0] == 0:
        running = np.maximum.accumulate(g)
        step = np.diff(running)
        if int(g.min()) >= 0 and (len(step) == 0 or int(step.max()) <= 1):
            first = np.concatenate(([0], np.flatnonzero(step) + 1))
            return first, g.astype(np.int64, copy=False)
    _, first, inv = np.unique(g, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _group_phenotypes(y: np.ndarray, g: np.ndarray):
    """Per group: first row, row->group index, mean phenotype (NaN ignored), discordance flag."""
    first_idx, inv = _group_index(g)
    uniq = first_idx
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


def as_text(ids) -> np.ndarray:
    """Ids as an object array of str; a bytes array (compact ids of large cohorts) is read as UTF-8."""
    ids = np.asarray(ids)
    if ids.dtype.kind == "S":
        ids = np.char.decode(ids, "utf-8")
    return ids.astype(object)


@dataclass
class Resolution:
    """The outcome of :func:`resolve` as row indices into the input (no per-row text).

    kept: rows kept, increasing, with ``kept_phenotype`` (the group mean in mode "remove", the
    row's own in mode "group") and ``kept_group``; removed: rows removed, increasing, each with
    the kept ``representative`` row of its group, its ``mismatches`` to it (0 = exact duplicate)
    and whether its group's phenotypes are ``discordant``.
    """

    kept: np.ndarray
    kept_phenotype: np.ndarray
    kept_group: np.ndarray
    removed: np.ndarray
    representative: np.ndarray
    mismatches: np.ndarray
    discordant: np.ndarray

    def kept_table(self, ids, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """kept.tsv rows ``start:stop`` (id, phenotype, group); ``ids`` (N,) str or UTF-8 bytes."""
        sl = slice(start, stop)
        return pd.DataFrame({"id": as_text(np.asarray(ids)[self.kept[sl]]), "phenotype": self.kept_phenotype[sl],
                             "group": self.kept_group[sl]})

    def removed_table(self, ids, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """removed.tsv rows ``start:stop`` (id, reason, detail)."""
        sl = slice(start, stop)
        ids = np.asarray(ids)
        rep = as_text(ids[self.representative[sl]])
        reasons, details = [], []
        for of, d, disc in zip(rep, self.mismatches[sl].tolist(), self.discordant[sl].tolist()):
            reasons.append("near duplicate" if d > 0 else "exact duplicate")
            text = f"of {of}"
            if d > 0:
                text += f" ({d} mismatch{'es' if d != 1 else ''})"
            if disc:
                text += "; discordant phenotypes in group, kept their mean"
            details.append(text)
        return pd.DataFrame({"id": as_text(ids[self.removed[sl]]), "reason": np.array(reasons, dtype=object),
                             "detail": np.array(details, dtype=object)}, columns=["id", "reason", "detail"])

    def removed_by_reason(self) -> dict[str, int]:
        """Rows removed per reason, most first (ties: first seen first, as value_counts)."""
        near = self.mismatches > 0
        found = [(int(np.count_nonzero(m)), int(np.argmax(m)), reason)
                 for m, reason in ((~near, "exact duplicate"), (near, "near duplicate")) if m.any()]
        return {reason: count for count, _, reason in sorted(found, key=lambda c: (-c[0], c[1]))}


def resolve(phenotypes, groups, *, mode: str = "remove", distances=None) -> Resolution:
    """Apply the config's choice to duplicate groups, as row indices (see :func:`resolve_duplicates`)."""
    if mode not in ("remove", "group"):
        raise ValueError(f"duplicate mode must be 'remove' or 'group', got {mode!r}")
    y = np.asarray(phenotypes, dtype=np.float64)
    g = np.asarray(groups, dtype=np.int64)
    n = len(y)
    if y.shape != (n,) or g.shape != (n,):
        raise ValueError("ids, phenotypes and groups must have the same length")
    dist = np.zeros(n, dtype=np.int64) if distances is None else np.asarray(distances, dtype=np.int64)
    if dist.shape != (n,):
        raise ValueError("distances must have the same length as ids")
    none = np.zeros(0, dtype=np.int64)
    if mode == "group":
        return Resolution(np.arange(n), y, g, none, none, none, np.zeros(0, dtype=bool))
    first_idx, inv, mean, discordant = _group_phenotypes(y, g)
    keep_rows = np.sort(first_idx)
    drop = np.ones(n, dtype=bool)
    drop[keep_rows] = False
    drop = np.flatnonzero(drop)
    gi = inv[drop]
    return Resolution(keep_rows, mean[inv[keep_rows]], g[keep_rows], drop, first_idx[gi], dist[drop],
                      discordant[gi])


def resolve_duplicates(ids, phenotypes, groups, *, mode: str = "remove",
                       distances=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the config's choice to duplicate groups.

    ids, phenotypes (float, NaN = unphenotyped), groups: (N,) aligned arrays; distances: optional
    (N,) mismatches to the group's first row (see :func:`group_distances`); 0 -> "exact duplicate",
    > 0 -> "near duplicate"; None treats every group as exact duplicates.
    mode "remove": keep the first row of each group with the group's mean phenotype (NaN ignored);
    mode "group": keep every row, labelled with its group (a group never straddles splits).
    Returns (kept: id, phenotype, group; removed: id, reason, detail). For large cohorts,
    :func:`resolve` gives the same as row indices, and its tables can be built in chunks.
    """
    ids = np.asarray(ids, dtype=object)
    if len(ids) != len(np.asarray(phenotypes)):
        raise ValueError("ids, phenotypes and groups must have the same length")
    res = resolve(phenotypes, groups, mode=mode, distances=distances)
    return res.kept_table(ids), res.removed_table(ids)


def replicate_summary(phenotypes, groups, min_groups: int | None = None) -> dict:
    """Noise ceiling on R² from replicate groups (identical genotypes), copies counted apart.

    ``phenotypes`` (n,) float (NaN = not phenotyped, ignored), ``groups`` (n,) labels of
    identical-genotype groups. A group with >= 2 phenotyped members is a *replicate group* when
    its phenotypes differ (beyond ``DISCORDANT_RTOL``/``DISCORDANT_ATOL``) and a *copy group*
    when they are all identical: identical values are one measurement copied, not repeated,
    and would pull the within-group variance (and so the ceiling) towards a spurious 1.

    ceiling = 1 - pooled within-group variance of the replicate groups / total phenotypic
    variance (both unbiased, phenotype units²); the total variance is over all phenotyped rows
    with each copy group counted once. ``None`` when fewer than ``min_groups`` (default
    ``MIN_REPLICATE_GROUPS`` = 30) replicate groups exist, or the variances are degenerate.

    Returns ``{"ceiling": float | None, "n_replicate_groups": int, "n_copy_groups": int}``.
    """
    min_groups = MIN_REPLICATE_GROUPS if min_groups is None else int(min_groups)
    y = np.asarray(phenotypes, dtype=np.float64).ravel()
    g = np.asarray(groups).ravel()
    ok = ~np.isnan(y)
    y, g = y[ok], g[ok]
    out = {"ceiling": None, "n_replicate_groups": 0, "n_copy_groups": 0}
    if len(y) < 2:
        return out
    if g.dtype.kind in "iu" and int(g.min()) >= 0 and int(g.max()) < 4 * len(g) + 1024:
        inv = g.astype(np.intp, copy=False)          # small non-negative labels: no sort
        size = np.bincount(inv)
    else:
        _, inv, size = np.unique(g, return_inverse=True, return_counts=True)
        inv = inv.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(inv, weights=y, minlength=len(size)) / size
    hi = np.full(len(size), -np.inf)
    lo = np.full(len(size), np.inf)
    np.maximum.at(hi, inv, y)
    np.minimum.at(lo, inv, y)
    multi = size >= 2
    scale = np.where(multi, np.maximum(np.abs(hi), np.abs(lo)), 0.0)
    with np.errstate(invalid="ignore"):
        differs = multi & (hi - lo > DISCORDANT_RTOL * scale + DISCORDANT_ATOL)
    copies = multi & ~differs
    out["n_replicate_groups"] = int(differs.sum())
    out["n_copy_groups"] = int(copies.sum())
    if out["n_replicate_groups"] < max(min_groups, 1):
        return out
    rep_row = differs[inv]
    ss_within = float(((y[rep_row] - mean[inv[rep_row]]) ** 2).sum())
    df_within = int((size[differs] - 1).sum())
    # total variance: every phenotyped row, but a copy group once (its first row stands for it)
    keep = ~copies[inv]
    first_of_copy = _first_rows(inv, copies)
    keep[first_of_copy] = True
    yt = y[keep]
    total_var = float(np.var(yt, ddof=1)) if len(yt) > 1 else 0.0
    if df_within == 0 or total_var == 0:
        return out
    out["ceiling"] = 1.0 - (ss_within / df_within) / total_var
    return out


def _first_rows(inv, selected) -> np.ndarray:
    """Row index of the first member of each selected group (``selected`` bool per group)."""
    rows = np.flatnonzero(selected[inv])
    if len(rows) == 0:
        return rows
    _, first = np.unique(inv[rows], return_index=True)
    return rows[first]


def replicate_repeatability(phenotypes, groups, min_groups: int | None = None) -> float | None:
    """The replicate noise ceiling on R² (or ``None``); see :func:`replicate_summary`."""
    return replicate_summary(phenotypes, groups, min_groups)["ceiling"]
