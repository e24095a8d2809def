"""KING-robust kinship (or VanRaden's G on the kinship scale), unrelated sets, relatedness groups.

Also: :func:`autosomal_mask` (which contigs kinship uses, ``curation.autosomes``),
:func:`choose_measure` (KING-robust, or :func:`grm_kinship_from_sums` for inbred / haploid
cohorts, computed in the same tiles), and for the report :func:`max_kinship_to` and
:func:`accuracy_by_relatedness`.

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

**Tiles.** The samples are cut into blocks of ``tile`` (:data:`TILE`); the counts of sample
block I x sample block J (J <= I) are computed over all variants, read ``block`` variants at a
time from the dosage (an array, or a ``.npy`` path read by positioned reads: nothing is mapped
or loaded whole), and the tile's pairs are filtered (``--king-table-filter``) before anything is
kept. Memory is O(tile^2 + tile x block) per worker thread plus the pairs kept, never N x N
(:func:`king_tiles`, :func:`king_pairs`, :func:`write_king_table`). A first pass over the
dosage counts each variant's genotypes (for the rare-variant path below).

All counts come from matrix products of indicator matrices. Common variants go through
popcounts of packed bits (:mod:`seq2pheno._popcount`, compiled with numba: 64 variants per
machine word, as plink2 does; several times float32 BLAS on the same products): with het
indicators H, homozygous-REF and homozygous-ALT indicators R and A, and missing-call
indicators Mi (rows of tile side I or J),

    NSNP = M - mi_i - mi_j + Mi_I Mi_J^T,   HETHET = H_I H_J^T,   het_i(ij) = h_i - (H_I Mi_J^T)_ij,
    IBS0 = R_I A_J^T + A_I R_J^T  (one popcount: both homozygous, ALT bits differing),

where HETHET and IBS0 are the popcount products and the missing-call terms sparse products.
Rare variants (few non-major genotypes) go through sparse products of het / minor-homozygote /
missing indicators (see :func:`king_tiles`). Every count is an exact integer in float64, so the
results do not depend on the tile or block sizes, the thread count or the rare/common split.
"""

from __future__ import annotations

import os
import re
from collections import deque
from contextlib import ExitStack
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

KING_COLUMNS = ["id1", "id2", "nsnp", "hethet", "ibs0", "kinship"]
DEGREE_CUTOFFS = {"duplicate": 0.354, "first": 0.177, "second": 0.0884, "third": 0.0442}
#: relationship measures: KING-robust kinship, or VanRaden's G scaled to the kinship scale
MEASURES = {"king": "KING-robust", "vanraden": "VanRaden G/2 (diagonal-scaled)"}
#: a sample counts as inbred (or haploid) when its heterozygosity is below (1 - INBRED_F) of the
#: cohort's Hardy-Weinberg expectation; KING-robust is replaced by G when more than
#: MAX_INBRED_SHARE of the samples are (KING-robust divides by the smaller heterozygote count)
INBRED_F = 0.8
MAX_INBRED_SHARE = 0.05

#: samples per side of a KING tile: its six float64 accumulators are 2 MB each at 512, and with
#: a variant block's indicators and packed bits a tile's work arrays are about 40 MB
TILE = 512
#: genotypes (samples x variants, per side) of rare variants turned into coordinates at a time
BLOCK_GENOTYPES = 1 << 20
#: genotypes (per side) of common variants packed into bits per popcount kernel call
PACK_GENOTYPES = 1 << 23
#: genotypes (int8, per side) read from a dosage file at a time (whole rows when they fit)
READ_GENOTYPES = 1 << 23
#: pairs one strip of rows may hold when nothing filters them (:func:`write_king_table`
#: without a floor): the strip's rows are reduced to keep its pairs below this
STRIP_PAIRS = 1 << 20
#: sparse indicator entries (rare variants, missing calls) gathered before they are multiplied
_SPARSE_FLUSH = 1 << 20

#: contigs that are not autosomes by default (sex chromosomes and organelles), matched
#: case-insensitively with or without a leading ``chr``
NON_AUTOSOMES = ("X", "Y", "XY", "Z", "W", "M", "MT", "Mito", "Pt", "Pltd", "chloroplast",
                 "mitochondrion")
_NON_AUTOSOMES_LOWER = frozenset(n.lower() for n in NON_AUTOSOMES)
_PLINK_NON_AUTOSOMES = {"X", "Y", "XY", "MT", "M", "23", "24", "25", "26", "0"}


#: sex chromosomes (of XY and ZW systems), matched like :data:`NON_AUTOSOMES`
SEX_CHROMOSOMES = ("X", "Y", "XY", "Z", "W")
_SEX_LOWER = frozenset(n.lower() for n in SEX_CHROMOSOMES)


def _bare(contig: str) -> str:
    """A contig name compared with the lists above: lower case, without a leading ``chr``."""
    return re.sub(r"^chr", "", contig, flags=re.IGNORECASE).lower()


def sex_chromosome_counts(chroms: Sequence[str]) -> dict[str, int]:
    """Markers per sex chromosome (contig name as given -> count), in order of first
    appearance; names as in :data:`SEX_CHROMOSOMES`, case-insensitive, with or without ``chr``."""
    out: dict[str, int] = {}
    for c in map(str, chroms):
        if _bare(c) in _SEX_LOWER:
            out[c] = out.get(c, 0) + 1
    return out


def autosomal_mask(chroms: Sequence[str], autosomes=None, *,
                   non_autosomes: Sequence[str] | None = None) -> np.ndarray:
    """bool (M,): True for the variants on autosomes (the contigs kinship is computed on).

    ``autosomes`` (the config's ``curation.autosomes``):

    - None (default): every contig is autosomal except the sex and organelle names of
      :data:`NON_AUTOSOMES` (X, Y, XY, Z, W, M, MT, Mito, Pt, Pltd, chloroplast, mitochondrion),
      compared case-insensitively with or without a leading ``chr`` (``chrX``, ``chrM``, ``ChrPt``).
      So ``1A``, ``ssa01``, ``Chr01``, ``LG3``, ``scaffold_12`` and numbered contigs above 22 are
      autosomes (plink2's human numeric codes 23-26 are *not* read as X/Y/XY/MT);
    - a list of contig names: exactly those (compared as strings);
    - a string: a regular expression that the whole contig name must match (``re.fullmatch``),
      e.g. ``"(chr)?[0-9]+"`` for numbered chromosomes only;
    - ``"plink"``: plink2's human reading (:func:`plink_autosomal_mask`).

    ``non_autosomes`` adds names to exclude (exact, or without the ``chr`` prefix).
    """
    chroms = [str(c) for c in chroms]
    if isinstance(autosomes, str) and autosomes == "plink":
        out = plink_autosomal_mask(chroms)
    elif autosomes is None:
        out = np.array([_bare(c) not in _NON_AUTOSOMES_LOWER and c.lower() not in _NON_AUTOSOMES_LOWER
                        for c in chroms], bool)
    elif isinstance(autosomes, str):
        try:
            pattern = re.compile(autosomes)
        except re.error as err:
            raise ValueError(f"autosomes {autosomes!r} is not a regular expression: {err}") from None
        out = np.array([pattern.fullmatch(c) is not None for c in chroms], bool)
    else:
        names = {str(a) for a in autosomes}
        out = np.array([c in names for c in chroms], bool)
    if non_autosomes:
        extra = {str(c) for c in non_autosomes}
        out &= np.array([c not in extra and re.sub(r"^chr", "", c, flags=re.IGNORECASE) not in extra
                         for c in chroms], bool)
    return out.reshape(len(chroms))


def plink_autosomal_mask(chroms: Sequence[str]) -> np.ndarray:
    """bool (M,): the autosomes of a human-style genome as plink2 reads it without ``--chr-set``:
    numbered contigs (``1``, ``chr1``) other than 0 and 23-26 (plink's X, Y, XY, MT codes), not
    X, Y, XY, M or MT; unplaced or non-numeric contigs are not autosomal."""
    out = np.zeros(len(chroms), bool)
    for i, c in enumerate(chroms):
        base = re.sub(r"^chr", "", str(c), flags=re.IGNORECASE)
        out[i] = base.isdigit() and base.lstrip("0") not in _PLINK_NON_AUTOSOMES \
            and base not in _PLINK_NON_AUTOSOMES
    return out


class _Dosage:
    """Blocks of an (N, M) dosage matrix: an array (or memmap), or a ``.npy`` path.

    A path is read by positioned reads (``os.preadv``) into fresh arrays, so only the blocks
    being worked on are in memory (a memory map would keep every page it touched resident).
    """

    def __init__(self, dosage):
        self._file = None
        if isinstance(dosage, (str, os.PathLike)):
            from .tensorfile import TensorFile

            self._file = TensorFile(dosage)
            self.shape, self.dtype = self._file.shape, self._file.dtype
        else:
            if not hasattr(dosage, "shape") or not hasattr(dosage, "__getitem__"):
                dosage = np.asarray(dosage)
            self._array = dosage
            self.shape, self.dtype = tuple(dosage.shape), np.dtype(dosage.dtype)
        if len(self.shape) != 2:
            raise ValueError("dosage must be 2-D (samples x variants)")

    def block(self, a: int, b: int, c: int, d: int) -> np.ndarray:
        """dosage[a:b, c:d] (a view of an array argument; a new array read from a file)."""
        if self._file is None:
            return self._array[a:b, c:d]
        n_var, size, offset = self.shape[1], self.dtype.itemsize, self._file.offset
        out = np.empty((b - a, d - c), self.dtype)
        if out.size == 0:
            return out
        if c == 0 and d == n_var:  # whole rows: one read
            self._file.read_into(out, offset + a * n_var * size)
        else:
            for r in range(b - a):
                self._file.read_into(out[r], offset + ((a + r) * n_var + c) * size)
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()


class _Prepass:
    """What the tiles need from one pass over all samples (O(N + M) memory).

    ``major``: int8 (M,) each variant's commoner homozygote (0 or 2); ``rare``: bool (M,) True for
    variants whose non-major genotypes (het, minor hom, missing) are <= sparse_fraction * N;
    ``het``, ``miss``: float64 (N,) each sample's heterozygous and missing calls over all variants;
    ``n0``, ``n1``, ``n2``: int64 (M,) each variant's genotype counts; ``two_p``: float64 (M,) its
    mean ALT dosage over the called samples (2 x the ALT frequency; 0 when nobody is called).
    """

    def __init__(self, src: _Dosage, sparse_fraction: float, threads: int = 1):
        N, M = src.shape
        n0 = np.zeros(M, np.int64)
        n1 = np.zeros(M, np.int64)
        n2 = np.zeros(M, np.int64)
        self.het, self.miss = np.zeros(N), np.zeros(N)
        step = max(1, (4 * BLOCK_GENOTYPES) // max(M, 1))

        from ._popcount import genotype_counts  # numba, compiled (and cached) on first use

        def block(a):  # one block of samples: its genotype counts per variant, het and missing per sample
            blk = np.ascontiguousarray(src.block(a, min(N, a + step), 0, M), np.int8)
            c0, c1, c2 = (np.zeros(M, np.int64) for _ in range(3))
            het, miss = np.zeros(len(blk), np.int64), np.zeros(len(blk), np.int64)
            genotype_counts(blk, c0, c1, c2, het, miss)
            return a, c0, c1, c2, het, miss

        for a, c0, c1, c2, het, miss in _ordered_map(block, range(0, N, step), max(1, int(threads))):
            n0 += c0
            n1 += c1
            n2 += c2
            self.het[a:a + len(het)] = het
            self.miss[a:a + len(miss)] = miss
        self.n0, self.n1, self.n2 = n0, n1, n2
        called = n0 + n1 + n2
        self.two_p = np.divide(n1 + 2.0 * n2, called, out=np.zeros(M), where=called > 0)
        self.n_variants = M
        self.major = np.where(n0 >= n2, 0, 2).astype(np.int8)
        self.rare = (N - np.maximum(n0, n2)) <= sparse_fraction * N
        self.n_rare = int(self.rare.sum())


def _add_product(acc: np.ndarray, prod) -> None:
    """acc += prod: prod a dense array or a sparse matrix (added by entries)."""
    if not isinstance(prod, np.ndarray):
        if prod.nnz == 0:
            return
        if prod.nnz * 8 > prod.shape[0] * prod.shape[1]:
            prod = prod.toarray()
        else:
            coo = prod.tocoo()
            acc[coo.row, coo.col] += coo.data
            return
    acc += prod


def _coords(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) int32 of the True entries of a 2-D mask (a flat search, in memory order:
    a column selection of a block is column-major, and is searched as such without a copy)."""
    if mask.flags.f_contiguous and not mask.flags.c_contiguous:
        c, r = np.divmod(np.flatnonzero(mask.T), mask.shape[0])
    else:
        r, c = np.divmod(np.flatnonzero(mask), mask.shape[1])
    return r.astype(np.int32), c.astype(np.int32)


def _pack_calls(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Genotypes (rows x K, int8) as three uint64 (rows x ceil(K / 64)) bit sets, one bit per
    variant (zero padded): heterozygous, homozygous (either; not a missing call) and
    homozygous ALT."""
    from ._popcount import pack_calls  # numba, compiled (and cached) on first use

    out = tuple(np.empty((d.shape[0], -(-d.shape[1] // 64)), np.uint64) for _ in range(3))
    pack_calls(d, *out)
    return out


_KINDS = ("H", "A", "Mi", "Md")  # rare het, rare minor hom, rare missing; missing at common variants


class _TileCounts:
    """Accumulates the KING counts of sample rows I x sample columns J (see :func:`king_tiles`).

    Matrix terms summed over all variants: ``hethet`` (H_I H_J^T), ``mimi`` (Mi_I Mi_J^T),
    ``hmi1`` (H_I Mi_J^T; its common-variant part transposed in ``hmi1t``), ``hmi2``
    (Mi_I H_J^T), and ``rest``: the matrix terms of 2 IBS0 (twice the opposite homozygotes at
    common variants, and the rare-variant products), so that 2 IBS0 = rest + 2 a_i + 2 a_j
    (see :meth:`counts`).
    Indicators of rare variants and missing calls are gathered as coordinates (variant = the
    global column) and multiplied as sparse matrices in batches (:meth:`flush`).
    """

    def __init__(self, pre: _Prepass, rows: tuple[int, int], cols: tuple[int, int]):
        (i0, i1), (j0, j1) = rows, cols
        h, w = i1 - i0, j1 - j0
        self.pre, self.rows, self.cols = pre, rows, cols
        self.same = rows == cols
        self.hethet, self.mimi, self.hmi1 = np.zeros((h, w)), np.zeros((h, w)), np.zeros((h, w))
        self.hmi2, self.rest, self.hmi1t = np.zeros((h, w)), np.zeros((h, w)), np.zeros((w, h))
        # rare-variant minor-hom counts of each row (side 1) and column (side 2)
        self.rare_minor = {1: np.zeros(h), 2: np.zeros(w)}
        self._clear()

    def _clear(self) -> None:
        self.parts = {side: {k: ([], []) for k in _KINDS} for side in (1, 2)}
        self.nnz = 0

    def _keep(self, side: int, key: str, r: np.ndarray, c: np.ndarray) -> None:
        self.parts[side][key][0].append(r)
        self.parts[side][key][1].append(c)
        self.nnz += len(r)

    # -- common variants: popcount products of packed bits
    def add_common(self, d1: np.ndarray, d2: np.ndarray | None, columns: np.ndarray) -> None:
        """Genotypes (rows x len(columns)) of common variants ``columns``; d2 None on a diagonal tile."""
        from ._popcount import missing_het, packed_products  # numba, compiled (and cached) on first use

        def side_bits(side, d):
            r, c = _coords(d < 0)
            if len(r):
                self._keep(side, "Md", r, columns[c])
            return _pack_calls(d), (r, c)

        P1, miss1 = side_bits(1, d1)
        P2, miss2 = (P1, miss1) if d2 is None else side_bits(2, d2)
        # HETHET += H_I H_J^T and rest += 2 IBS0 (opposite homozygotes), by popcounts
        packed_products(*P1, *P2, self.hethet, self.rest, d2 is None)
        # the het calls facing a missing call: hmi1t += Mi_J H_I^T, hmi2 += Mi_I H_J^T
        if len(miss2[0]):
            missing_het(*miss2, P1[0], self.hmi1t)
        if len(miss1[0]):
            missing_het(*miss1, P2[0], self.hmi2)
        if self.nnz > _SPARSE_FLUSH:
            self.flush()

    # -- rare variants: sparse indicators
    def add_rare(self, d1: np.ndarray, d2: np.ndarray | None, columns: np.ndarray) -> None:
        major = self.pre.major[columns]
        for side, d in ((1, d1), (2, d2)):
            if d is None:
                continue
            r, c = _coords(d != major[None, :])
            v = d[r, c]
            c = columns[c]
            for key, sel in (("H", v == 1), ("Mi", v < 0), ("A", (v == 0) | (v > 1))):
                self._keep(side, key, r[sel], c[sel])
        if self.nnz > _SPARSE_FLUSH:
            self.flush()

    def flush(self) -> None:
        """Multiply the gathered indicators (sparse) into the matrix terms."""
        from scipy import sparse

        if self.nnz == 0:
            return
        n_var = max(1, self.pre.n_variants)

        def csr(side, key):
            rows, cols = self.parts[side][key]
            r = np.concatenate(rows) if rows else np.empty(0, np.int32)
            c = np.concatenate(cols) if cols else np.empty(0, np.int32)
            n = self.hethet.shape[0] if side == 1 else self.hethet.shape[1]
            return sparse.csr_matrix((np.ones(len(r), np.float64), (r, c)), shape=(n, n_var))

        X1 = {k: csr(1, k) for k in _KINDS}
        X2 = X1 if self.same else {k: csr(2, k) for k in _KINDS}

        s1 = np.asarray(X1["A"].sum(axis=1)).ravel()
        self.rare_minor[1] += s1
        self.rare_minor[2] += s1 if self.same else np.asarray(X2["A"].sum(axis=1)).ravel()
        H1, A1, M1, D1 = (X1[k] for k in _KINDS)
        H2, A2, M2, D2 = (X2[k] for k in _KINDS)
        # missing calls at common variants: only in MiMi (their HMi terms were taken per block)
        if D1.nnz and D2.nnz:
            _add_product(self.mimi, D1 @ D2.T)
        # rare variants: HETHET, MiMi, HMi, MiH (for NSNP and the het counts)
        if H1.nnz and H2.nnz:
            _add_product(self.hethet, H1 @ H2.T)
        if M1.nnz and M2.nnz:
            _add_product(self.mimi, M1 @ M2.T)
        if H1.nnz and M2.nnz:
            _add_product(self.hmi1, H1 @ M2.T)
        if M1.nnz and H2.nnz:
            _add_product(self.hmi2, M1 @ H2.T)
        # rare IBS0 = a_i + a_j - A_I (2 A_J + H_J + Mi_J)^T - (H_I + Mi_I) A_J^T
        if A1.nnz:
            _add_product(self.rest, -2.0 * (A1 @ (2 * A2 + H2 + M2).T))
        if A2.nnz:
            _add_product(self.rest, -2.0 * ((H1 + M1) @ A2.T))
        self._clear()

    def counts(self) -> dict:
        """float64 (h, w) arrays nsnp, hethet, ibs0, het1, het2 (see :func:`king_tiles`), each an
        exact integer (every term is an integer below 2^53, so float64 sums are exact)."""
        self.flush()
        pre = self.pre
        (i0, i1), (j0, j1) = self.rows, self.cols
        het1, miss1 = pre.het[i0:i1], pre.miss[i0:i1]
        het2, miss2 = pre.het[j0:j1], pre.miss[j0:j1]
        ra1, ra2 = self.rare_minor[1], self.rare_minor[2]  # rare minor homozygotes per sample
        hmi1 = self.hmi1
        hmi1 += self.hmi1t.T
        # 2 IBS0 = 2 x opposite homozygotes at common variants + the rare terms (in rest) + 2 a_i + 2 a_j
        ibs0 = self.rest
        ibs0 += 2 * ra1[:, None]
        ibs0 += 2 * ra2[None, :]
        ibs0 *= 0.5  # 2 IBS0 is even: exact
        nsnp = self.mimi
        nsnp += pre.n_variants - miss1[:, None] - miss2[None, :]
        np.subtract(het1[:, None], hmi1, out=hmi1)
        np.subtract(het2[None, :], self.hmi2, out=self.hmi2)
        return {"nsnp": nsnp, "hethet": self.hethet, "ibs0": ibs0, "het1": hmi1, "het2": self.hmi2}


def _tile_counts(src: _Dosage, pre: _Prepass, rows: tuple[int, int], cols: tuple[int, int],
                 block_size: int) -> dict:
    (i0, i1), (j0, j1) = rows, cols
    M = src.shape[1]
    acc = _TileCounts(pre, rows, cols)
    side = max(i1 - i0, j1 - j0, 1)
    step = int(max(1, min(block_size, BLOCK_GENOTYPES // side)))  # variants per block
    chunk = max(step, (READ_GENOTYPES // side) // step * step)    # variants per read (a file's rows)
    # common variants are multiplied as packed bits, in larger blocks (a kernel call per block)
    common_step = int(max(1, min(8 * block_size, PACK_GENOTYPES // side)))
    for r0 in range(0, M, chunk):
        r1 = min(M, r0 + chunk)
        D1 = src.block(i0, i1, r0, r1)
        D2 = None if acc.same else src.block(j0, j1, r0, r1)
        sp = pre.rare[r0:r1]
        if sp.all() or not sp.any():
            order = None
        else:  # one gather per read puts the rare columns first (take: 5x boolean indexing)
            order = np.concatenate([np.flatnonzero(sp), np.flatnonzero(~sp)])
            D1 = D1.take(order, axis=1)
            D2 = None if D2 is None else D2.take(order, axis=1)
        columns = np.arange(r0, r1) if order is None else order + r0
        n_rare = int(sp.sum())
        for lo, hi, width, add in ((0, n_rare, step, acc.add_rare),
                                   (n_rare, r1 - r0, common_step, acc.add_common)):
            for c0 in range(lo, hi, width):
                c1 = min(hi, c0 + width)
                add(D1[:, c0:c1], None if D2 is None else D2[:, c0:c1], columns[c0:c1])
    return acc.counts()


def _grm_tile_counts(src: _Dosage, pre: _Prepass, rows: tuple[int, int], cols: tuple[int, int],
                     block_size: int) -> dict:
    """The VanRaden counts of tile rows x cols (see :func:`grm_kinship_from_sums`): float64 arrays
    ``nsnp``, ``hethet``, ``ibs0`` (as KING's, exact integers) and ``kinship``."""
    (i0, i1), (j0, j1) = rows, cols
    same = rows == cols
    M = src.shape[1]
    h, w = i1 - i0, j1 - j0
    acc = {k: np.zeros((h, w)) for k in ("nsnp", "hethet", "ibs0", "zz", "q1", "q2")}
    side = max(h, w, 1)
    step = int(max(1, min(block_size, BLOCK_GENOTYPES // side)))
    chunk = max(step, (READ_GENOTYPES // side) // step * step)

    def parts(d, two_p):
        called = d >= 0
        z = np.where(called, d - two_p[None, :], 0.0)  # centred dosage, 0 at a missing call
        return {"C": called, "Z": z, "Z2": z * z, "H": (d == 1).astype(np.float32),
                "A0": (d == 0).astype(np.float32), "A2": (d == 2).astype(np.float32)}

    for r0 in range(0, M, chunk):
        r1 = min(M, r0 + chunk)
        D1 = src.block(i0, i1, r0, r1)
        D2 = D1 if same else src.block(j0, j1, r0, r1)
        for c0 in range(r0, r1, step):
            c1 = min(r1, c0 + step)
            two_p = pre.two_p[c0:c1]
            x = parts(D1[:, c0 - r0:c1 - r0], two_p)
            y = x if same else parts(D2[:, c0 - r0:c1 - r0], two_p)
            acc["zz"] += x["Z"] @ y["Z"].T
            acc["hethet"] += x["H"] @ y["H"].T
            acc["ibs0"] += x["A0"] @ y["A2"].T
            acc["ibs0"] += x["A2"] @ y["A0"].T
            if x["C"].all() and y["C"].all():  # no missing call: sums over the whole block
                acc["nsnp"] += c1 - c0
                acc["q1"] += x["Z2"].sum(axis=1)[:, None]
                acc["q2"] += y["Z2"].sum(axis=1)[None, :]
            else:
                cx, cy = x["C"].astype(np.float64), y["C"].astype(np.float64)
                acc["nsnp"] += cx @ cy.T
                acc["q1"] += x["Z2"] @ cy.T
                acc["q2"] += cx @ y["Z2"].T
    return {"nsnp": acc["nsnp"], "hethet": acc["hethet"], "ibs0": acc["ibs0"],
            "kinship": grm_kinship_from_sums(acc["zz"], acc["q1"], acc["q2"])}


def grm_kinship_from_sums(zz, q1, q2) -> np.ndarray:
    """VanRaden's G (first method) on the kinship scale, scaled by its diagonal.

    With z = g - 2p (g the ALT dosage, p the ALT frequency over all called samples) and the sums
    over the sites both samples have called, zz = sum z_i z_j, q1 = sum z_i^2, q2 = sum z_j^2:

        kinship = G_ij / (2 sqrt(G_ii G_jj)) = zz / (2 sqrt(q1 q2))

    (VanRaden's 2 sum p(1 - p) cancels). Clones are 0.5 and unrelated samples about 0 whatever
    the inbreeding; parent-offspring and full sibs about 0.25 (outbred), sibling inbred lines
    about 0.25 (they share half their genome), as on KING's scale. NaN where q1 or q2 is 0.
    """
    zz, q1, q2 = (np.asarray(x, np.float64) for x in (zz, q1, q2))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = zz / (2.0 * np.sqrt(q1 * q2))
    return np.where((q1 > 0) & (q2 > 0), out, np.nan)


def _tiling(N: int, tile: int, strip_rows: int | None = None) -> Iterator[list[tuple]]:
    """Strips of rows (``strip_rows``, default ``tile``), each a list of (rows, cols) tiles whose
    columns, ``tile`` wide, cover every earlier sample and the strip itself (in column order)."""
    tile = max(1, int(tile))
    step = max(1, int(strip_rows or tile))
    for i0 in range(0, N, step):
        i1 = min(N, i0 + step)
        yield [((i0, i1), (j0, min(j0 + tile, i1))) for j0 in range(0, i1, tile)]


def _ordered_map(fn, items, threads: int) -> Iterator:
    """fn over items in order, with BLAS limited to one thread; with threads > 1 in a bounded
    window of worker threads (robust on a busy machine, unlike BLAS's own thread pool, and
    small tiles do not pay for BLAS threads)."""
    from threadpoolctl import threadpool_limits

    with ExitStack() as stack:
        stack.enter_context(threadpool_limits(1))
        if threads <= 1:
            for it in items:
                yield fn(it)
            return
        from concurrent.futures import ThreadPoolExecutor

        pool = stack.enter_context(ThreadPoolExecutor(threads))
        pending = deque()
        for it in items:
            pending.append(pool.submit(fn, it))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def king_tiles(dosage, *, tile: int | None = None, block_size: int = 4096,
               sparse_fraction: float = 0.03, threads: int = 1,
               strip_rows: int | None = None) -> Iterator[tuple]:
    """KING counts tile by tile: yields ``((i0, i1), (j0, j1), counts)`` for sample block
    ``i0:i1`` x sample block ``j0:j1`` (j0 < i1; the tiles of one strip of rows cover every
    column up to ``i1``, so together they hold every pair i > j, and the diagonal blocks).

    dosage: int8 (N, M) ALT allele counts 0/1/2, -1 = missing: an array or a ``.npy`` path
    (read by positioned reads, block by block). ``counts``: int64 (i1 - i0, j1 - j0) arrays
    ``nsnp``, ``hethet``, ``ibs0``, ``het1`` (the row sample's heterozygote count over the sites
    both samples have called) and ``het2`` (the column sample's). ``tile``: columns per tile and
    (unless ``strip_rows``) rows per strip.

    Each tile reads the variants in blocks of at most ``block_size`` (and
    :data:`BLOCK_GENOTYPES` per side). A variant whose non-major genotypes (heterozygous, minor
    homozygous or missing; "major" = the commoner homozygote over all N samples) number at most
    ``sparse_fraction * N`` goes to a sparse path (like plink2's rare-variant path): its het
    (H), minor-hom (A) and missing (Mi) indicators, as sparse matrices,

        HETHET += H_I H_J^T,   NSNP += Ms - mi_i - mi_j + Mi_I Mi_J^T,
        het_i += h_i - (H_I Mi_J^T)_ij,   IBS0 += a_i + a_j - A_I (2 A_J + H_J + Mi_J)^T - (H_I + Mi_I) A_J^T.

    The others take the dense path of the module docstring. ``threads`` worker threads compute
    tiles concurrently (each with single-threaded BLAS). Results do not depend on ``tile``,
    ``block_size``, ``sparse_fraction`` or ``threads``.
    """
    for rows, cols, c in _tiles(dosage, tile, block_size, sparse_fraction, threads, strip_rows):
        yield rows, cols, {k: v.astype(np.int64) for k, v in c.items()}


def _tiles(dosage, tile, block_size, sparse_fraction, threads, strip_rows,
           measure: str = "king") -> Iterator[tuple]:
    """:func:`king_tiles` with the counts as float64 (exact integers); ``measure="vanraden"``:
    :func:`_grm_tile_counts` (with ``kinship``) instead."""
    tile = TILE if tile is None else int(tile)
    if measure not in MEASURES:
        raise ValueError(f"measure {measure!r}: expected one of {', '.join(MEASURES)}")
    counts = _tile_counts if measure == "king" else _grm_tile_counts
    with _Dosage(dosage) as src:
        N, _ = src.shape
        pre = _Prepass(src, sparse_fraction, threads)
        tiles = (t for strip in _tiling(N, tile, strip_rows) for t in strip)

        def work(t):
            return t[0], t[1], counts(src, pre, t[0], t[1], block_size)

        yield from _ordered_map(work, tiles, max(1, int(threads)))


def king_counts(dosage, *, tile: int | None = None, block_size: int = 4096,
                sparse_fraction: float = 0.03, threads: int = 1) -> dict:
    """Pairwise KING counts for all samples as (N, N) matrices (O(N^2) memory: for tests and
    small cohorts; :func:`king_pairs` streams).

    dosage: int8 (N, M) (array or ``.npy`` path), ALT allele counts 0/1/2, -1 = missing.
    Returns dict of int64 (N, N) matrices: ``nsnp``, ``hethet``, ``ibs0``, ``het`` (``het[i, j]``
    = sample i's heterozygote count over sites both i and j have called), assembled from
    :func:`king_tiles` (same arguments).
    """
    with _Dosage(dosage) as src:
        N = src.shape[0]
    out = {k: np.zeros((N, N), np.int64) for k in ("nsnp", "hethet", "ibs0", "het")}
    for (i0, i1), (j0, j1), c in king_tiles(dosage, tile=tile, block_size=block_size,
                                            sparse_fraction=sparse_fraction, threads=threads):
        for k in ("nsnp", "hethet", "ibs0"):
            out[k][j0:j1, i0:i1] = c[k].T
            out[k][i0:i1, j0:j1] = c[k]
        out["het"][j0:j1, i0:i1] = c["het2"].T
        out["het"][i0:i1, j0:j1] = c["het1"]
    return out


def kinship_from_counts(hethet, ibs0, het1, het2) -> np.ndarray:
    """KING-robust kinship from counts (arrays broadcast); see the module docstring."""
    hethet, ibs0, het1, het2 = (np.asarray(x, np.float64) for x in (hethet, ibs0, het1, het2))
    num = 4.0 * ibs0 + (het1 - hethet) + (het2 - hethet)
    den = 4.0 * np.minimum(het1, het2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 - num / den


_PAIR_FIELDS = ("i", "j", "nsnp", "hethet", "ibs0", "kinship")


def _tile_pairs(rows, cols, c: dict, min_kinship: float | None, keep_nan: bool = False) -> dict:
    """The pairs i > j of one tile (kinship >= min_kinship when given; and, with ``keep_nan``,
    NaN kinship with nsnp > 0), row by row; counts as int64."""
    (i0, i1), (j0, j1) = rows, cols
    kin = c["kinship"] if "kinship" in c else kinship_from_counts(c["hethet"], c["ibs0"], c["het1"], c["het2"])
    keep = None
    if j1 > i0:  # the tile reaches the diagonal: only i > j
        keep = np.arange(i0, i1)[:, None] > np.arange(j0, j1)[None, :]
    if min_kinship is not None:
        above = kin >= min_kinship
        if keep_nan:
            above |= np.isnan(kin) & (c["nsnp"] > 0)
        keep = above if keep is None else keep & above
    if keep is None:
        r, q = np.divmod(np.arange(kin.size), kin.shape[1])
        out = {k: c[k].ravel().astype(np.int64) for k in ("nsnp", "hethet", "ibs0")}
        out["kinship"] = kin.ravel()
    else:
        r, q = _coords(np.ascontiguousarray(keep))  # row by row
        out = {k: c[k][r, q].astype(np.int64) for k in ("nsnp", "hethet", "ibs0")}
        out["kinship"] = kin[r, q]
    out["i"], out["j"] = r.astype(np.int64) + i0, q.astype(np.int64) + j0
    return out


def king_pairs(dosage, *, min_kinship: float | None = None, tile: int | None = None,
               block_size: int = 4096, sparse_fraction: float = 0.03, threads: int = 1,
               strip_rows: int | None = None, measure: str = "king",
               keep_nan: bool = False) -> Iterator[dict]:
    """KING-robust kinship of every pair i > j, in plink2's order, one strip of rows at a time.

    Yields dicts of arrays ``i``, ``j`` (int64 sample indices, i > j), ``nsnp``, ``hethet``,
    ``ibs0`` (int64 counts) and ``kinship`` (float64): the pairs of rows i0 <= i < i1 of a strip,
    sorted by i then j (plink2 ``--make-king-table``: id1 = the later sample). ``min_kinship``
    keeps only pairs with kinship >= it (``--king-table-filter``), applied to each tile before
    anything is kept, so memory is one tile per thread plus the kept pairs of one strip.
    ``strip_rows``: rows per strip (default ``tile`` with ``min_kinship``; without it fewer, so
    that a strip holds at most about :data:`STRIP_PAIRS` pairs). ``measure``: ``"king"``
    (KING-robust) or ``"vanraden"`` (:func:`grm_kinship_from_sums`; same fields, its ``kinship``
    the scaled G). ``keep_nan``: with ``min_kinship``, also keep the pairs whose kinship is NaN
    and nsnp > 0 (identical genotypes without a heterozygous call under KING). Other arguments
    as for :func:`king_tiles`.
    """
    tile = TILE if tile is None else int(tile)
    with _Dosage(dosage) as src:
        N = src.shape[0]
    if strip_rows is None:
        strip_rows = tile if min_kinship is not None else min(tile, max(16, STRIP_PAIRS // max(N, 1)))
    strips = _tiling(N, tile, strip_rows)
    tiles = _tiles(dosage, tile, block_size, sparse_fraction, threads, strip_rows, measure)
    try:
        for strip in strips:
            parts = []
            for _ in strip:  # the strip's tiles, in column order; each filtered as it comes
                rows, cols, c = next(tiles)
                parts.append(_tile_pairs(rows, cols, c, min_kinship, keep_nan))
                del c
            out = {k: np.concatenate([p[k] for p in parts]) for k in _PAIR_FIELDS}
            if len(parts) > 1:
                order = np.argsort(out["i"], kind="stable")  # row by row, columns in order
                out = {k: v[order] for k, v in out.items()}
            yield out
    finally:
        tiles.close()


def heterozygosity(dosage) -> dict:
    """Observed and expected heterozygosity of a dosage (array or ``.npy`` path), one pass.

    Returns ``observed`` (heterozygous share of all called genotypes), ``expected`` (the
    Hardy-Weinberg share 2p(1-p) over the same calls), ``per_sample`` (float64 (N,) each sample's
    heterozygous share of its calls, NaN with no call), ``n_het`` (heterozygous calls in all),
    ``n_inbred`` (samples with a share below (1 - :data:`INBRED_F`) x ``expected``: inbred lines,
    haploid calls) and ``n_samples``.
    """
    with _Dosage(dosage) as src:
        pre = _Prepass(src, 0.0)
        N, M = src.shape
    called = pre.n0 + pre.n1 + pre.n2
    n_called = float(called.sum())
    p = pre.two_p / 2
    expected = float((2 * p * (1 - p) * called).sum() / n_called) if n_called else 0.0
    observed = float(pre.n1.sum() / n_called) if n_called else 0.0
    calls = M - pre.miss
    per_sample = np.divide(pre.het, calls, out=np.full(N, np.nan), where=calls > 0)
    n_inbred = int(np.sum(per_sample < (1 - INBRED_F) * expected)) if expected > 0 else 0
    return {"observed": observed, "expected": expected, "per_sample": per_sample,
            "n_het": int(pre.n1.sum()), "n_inbred": n_inbred, "n_samples": int(N)}


def choose_measure(dosage, measure: str = "auto", het: dict | None = None) -> dict:
    """Which relationship measure to use: ``measure`` ``"king"``, ``"vanraden"`` or ``"auto"``.

    ``auto`` takes KING-robust unless it is undefined or unreliable: no heterozygous call at
    all, or more than :data:`MAX_INBRED_SHARE` of the samples inbred or haploid (heterozygosity
    below (1 - :data:`INBRED_F`) of the Hardy-Weinberg expectation; KING-robust divides by the
    smaller heterozygote count of a pair), where VanRaden's G on the kinship scale
    (:func:`grm_kinship_from_sums`) is used. Returns ``measure`` (a key of :data:`MEASURES`),
    ``name`` (its value), ``reason`` (why G was used, or why KING was forced; None for KING by
    ``auto``) and ``heterozygosity`` (:func:`heterozygosity` without ``per_sample``).
    """
    if measure not in ("auto", *MEASURES):
        raise ValueError(f"kinship measure {measure!r}: expected auto, king or vanraden")
    het = heterozygosity(dosage) if het is None else het
    stats = {k: v for k, v in het.items() if k != "per_sample"}
    reason = None
    if measure == "auto":
        n, n_inbred = het["n_samples"], het["n_inbred"]
        if n and het["expected"] > 0 and het["n_het"] == 0:
            measure, reason = "vanraden", ("no heterozygous call (inbred lines or haploid calls): "
                                           "KING-robust is undefined")
        elif n and n_inbred > MAX_INBRED_SHARE * n:
            measure = "vanraden"
            reason = (f"{n_inbred} of {n} samples ({n_inbred / n:.0%}) are inbred or haploid "
                      f"(heterozygosity below {1 - INBRED_F:.0%} of the {het['expected']:.1%} expected; "
                      f"cohort {het['observed']:.2%}): KING-robust needs heterozygous calls")
        else:
            measure = "king"
    elif measure == "vanraden":
        reason = "curation.kinship_measure: vanraden"
    return {"measure": measure, "name": MEASURES[measure], "reason": reason, "heterozygosity": stats}


def _pair_frame(pairs: dict, ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"id1": ids[pairs["i"]], "id2": ids[pairs["j"]], "nsnp": pairs["nsnp"],
                         "hethet": pairs["hethet"], "ibs0": pairs["ibs0"], "kinship": pairs["kinship"]})


def _check_ids(dosage, ids) -> np.ndarray:
    ids = np.asarray(list(ids), dtype=object)
    with _Dosage(dosage) as src:
        n = src.shape[0]
    if n != len(ids):
        raise ValueError(f"dosage has {n} rows but {len(ids)} ids were given")
    return ids


def king_table(dosage, ids: Sequence[str], *, block_size: int = 4096,
               min_kinship: float | None = None, sparse_fraction: float = 0.03,
               threads: int = 1, tile: int | None = None, measure: str = "king") -> pd.DataFrame:
    """KING-robust kinship of every pair, like ``plink2 --make-king-table counts``, in memory.

    dosage: int8 (N, M) ALT counts (0/1/2, -1 missing) over filtered autosomal biallelic SNVs
    (see :func:`autosomal_mask` and ``GenotypeData.dosage``), an array or a ``.npy`` path;
    ids: N sample ids. Returns DataFrame with columns id1, id2, nsnp, hethet, ibs0, kinship: one
    row per pair, in plink2's order (id1 = the later sample i, id2 = each earlier sample j < i).
    ``hethet`` and ``ibs0`` are counts (plink2's ``counts`` modifier). ``min_kinship`` keeps only
    rows with kinship >= it (``--king-table-filter``). The other arguments are passed to
    :func:`king_pairs` (speed only; results are identical). Without ``min_kinship`` the table
    has N(N-1)/2 rows: to stream it to a file instead, see :func:`write_king_table`.
    ``measure="vanraden"``: the same table with VanRaden's G on the kinship scale
    (:func:`grm_kinship_from_sums`) as ``kinship``.
    """
    ids = _check_ids(dosage, ids)
    tile = TILE if tile is None else int(tile)
    parts = [_pair_frame(p, ids) for p in
             king_pairs(dosage, min_kinship=min_kinship, tile=tile, block_size=block_size,
                        sparse_fraction=sparse_fraction, threads=threads, strip_rows=tile,
                        measure=measure)]
    if not parts:
        return _pair_frame({k: np.empty(0, np.float64 if k == "kinship" else np.int64)
                            for k in _PAIR_FIELDS}, ids)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


class _TsvRows:
    """Writes pairs (a :func:`king_pairs` dict) as KING table rows, with pyarrow's CSV writer
    (C++; pandas' ``to_csv`` took about half of a streamed table's time): the same text as
    ``to_csv`` (shortest round-trip floats, NaN as an empty field, no quoting)."""

    def __init__(self, ids: np.ndarray):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.pa, self.csv = pa, pacsv
        self.ids = pa.array([str(x) for x in ids], pa.string())
        self.options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")

    def __call__(self, fh, pairs: dict) -> None:
        pa = self.pa
        table = pa.table({"id1": self.ids.take(pa.array(pairs["i"])), "id2": self.ids.take(pa.array(pairs["j"])),
                          **{k: pa.array(pairs[k]) for k in ("nsnp", "hethet", "ibs0")},
                          "kinship": pa.array(pairs["kinship"], from_pandas=True)})  # NaN -> null
        self.csv.write_csv(table, fh, self.options)


def write_king_table(path, dosage, ids: Sequence[str], *, min_kinship: float | None = None,
                     keep_above: float | None = None, tile: int | None = None, block_size: int = 4096,
                     sparse_fraction: float = 0.03, threads: int = 1, measure: str = "king",
                     keep_identical: bool = False) -> tuple[int, pd.DataFrame]:
    """Stream the KING table (:func:`king_table`'s rows and format) to a TSV, strip by strip.

    The file (header id1, id2, nsnp, hethet, ibs0, kinship; NaN as an empty field) appears at
    ``path`` only when complete (written to a temporary name and renamed). ``min_kinship``
    filters the written rows (``--king-table-filter``). Returns (the number of pairs N(N-1)/2,
    a DataFrame of the pairs with kinship > ``keep_above`` in table order, whether or not they
    were written; empty when ``keep_above`` is None). ``keep_identical``: the returned pairs
    also hold those with NaN kinship and nsnp > 0 (under KING: no discordant call and no
    heterozygote over the sites both have called, i.e. identical homozygous genotypes); they
    are written only without a floor. ``measure``: as for :func:`king_pairs`. Memory: one tile
    per thread, one strip's written pairs and the pairs kept, never N x N.
    """
    from .atomic import atomic_path

    ids = _check_ids(dosage, ids)
    n = len(ids)
    # each tile keeps the pairs to write (>= min_kinship) and the pairs to return (> keep_above)
    if min_kinship is None:
        lowest = None
    else:
        lowest = min_kinship if keep_above is None else min(float(min_kinship), float(keep_above))
    kept = []
    write = _TsvRows(ids)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(("\t".join(KING_COLUMNS) + "\n").encode())
        for p in king_pairs(dosage, min_kinship=lowest, tile=tile, block_size=block_size,
                            sparse_fraction=sparse_fraction, threads=threads, measure=measure,
                            keep_nan=keep_identical and keep_above is not None):
            if keep_above is not None:
                sel = p["kinship"] > keep_above
                if keep_identical:
                    sel |= np.isnan(p["kinship"]) & (p["nsnp"] > 0)
                if sel.any():
                    kept.append(_pair_frame({k: v[sel] for k, v in p.items()}, ids))
            if min_kinship is not None:
                sel = p["kinship"] >= min_kinship
                p = {k: v[sel] for k, v in p.items()}
            if len(p["i"]):
                write(fh, p)
    if kept:
        table = pd.concat(kept, ignore_index=True)
    else:
        table = _pair_frame({k: np.empty(0, np.float64 if k == "kinship" else np.int64)
                             for k in _PAIR_FIELDS}, ids)
    return n * (n - 1) // 2, table


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


def edge_groups(id1, id2, ids: Sequence[str]) -> np.ndarray:
    """int (N,) labels of the connected components of the graph with edges id1[k] -- id2[k]
    (ids not in ``ids`` ignored), 0..G-1 in order of each group's first sample in ``ids``."""
    ids = list(ids)
    pos = {s: k for k, s in enumerate(ids)}
    adj = [set() for _ in ids]
    for a, b in zip(id1, id2):
        ia, ib = pos.get(a), pos.get(b)
        if ia is not None and ib is not None and ia != ib:
            adj[ia].add(ib)
            adj[ib].add(ia)
    labels = np.full(len(ids), -1, np.int64)
    for g, comp in enumerate(_components(adj)):
        labels[comp] = g
    return labels


# ---- relatedness of test samples to the training set ------------------------------------------

#: kinship bins of :func:`accuracy_by_relatedness`: plink2's degree thresholds
RELATEDNESS_BINS = (-np.inf, 0.0442, 0.0884, 0.177, 0.354, np.inf)


def max_kinship_to(kin, test_ids: Sequence[str], train_ids: Sequence[str], *,
                   ids: Sequence[str] | None = None, chunksize: int = 1_000_000) -> np.ndarray:
    """float64 (n_test,): each test sample's highest kinship to any training sample.

    ``kin``: a pair table (DataFrame with id1, id2, kinship, e.g. curate/kinship.tsv read with
    :func:`read_king_table`), the path of such a TSV (read ``chunksize`` rows at a time, so a
    table of every pair never has to fit in memory), or a square (N, N) kinship matrix (array
    with ``ids`` naming its rows and columns, or a DataFrame indexed by id on both axes).

    **A pair absent from the table counts as kinship 0**: kinship.tsv written with
    ``king_table_floor`` f holds only the pairs >= f, so with a floor (f > 0) the value is
    max(0, highest kinship) for test samples whose every training pair is below it (KING-robust
    is about 0 for unrelated pairs, negative under population structure). Without a floor every
    pair is present and the true maximum (possibly negative) is returned. NaN kinship (KING
    undefined: no heterozygote) is ignored; a test sample without any pair, or with an empty
    training set, gets 0. A sample both in test and train is not compared with itself.
    """
    test_ids = [str(t) for t in test_ids]
    train = {str(t) for t in train_ids}
    if isinstance(kin, (str, os.PathLike)):
        chunks = pd.read_csv(kin, sep="\t", dtype={"id1": str, "id2": str}, usecols=["id1", "id2", "kinship"],
                             chunksize=chunksize)
    elif isinstance(kin, pd.DataFrame) and {"id1", "id2", "kinship"} <= set(kin.columns):
        chunks = [kin]
    else:
        if isinstance(kin, pd.DataFrame):
            mat = kin.to_numpy(np.float64)
            rows, cols = [str(x) for x in kin.index], [str(x) for x in kin.columns]
        else:
            mat = np.asarray(kin, np.float64)
            if ids is None:
                raise ValueError("max_kinship_to: a kinship matrix needs ids")
            rows = cols = [str(x) for x in ids]
        if mat.ndim != 2 or mat.shape != (len(rows), len(cols)):
            raise ValueError(f"max_kinship_to: matrix of shape {mat.shape} for {len(rows)} x {len(cols)} ids")
        rpos, cpos = {s: k for k, s in enumerate(rows)}, {s: k for k, s in enumerate(cols)}
        tr = [s for s in cols if s in train]
        out = np.zeros(len(test_ids))
        for k, t in enumerate(test_ids):
            if t not in rpos:
                continue
            sel = [cpos[s] for s in tr if s != t]
            v = mat[rpos[t], sel] if sel else np.empty(0)
            v = v[~np.isnan(v)]
            out[k] = v.max() if len(v) else 0.0
        return out
    test_pos = {t: k for k, t in enumerate(test_ids)}
    best = np.full(len(test_ids), -np.inf)
    seen = np.zeros(len(test_ids), np.int64)  # training pairs present per test sample
    for chunk in chunks:
        a = chunk["id1"].astype(str).to_numpy()
        b = chunk["id2"].astype(str).to_numpy()
        k = pd.to_numeric(chunk["kinship"], errors="coerce").to_numpy(np.float64)
        for x, y in ((a, b), (b, a)):  # x the test side, y the training side
            sel = pd.Series(y).isin(train).to_numpy() & (x != y)
            idx = pd.Series(x[sel]).map(test_pos)
            ok = idx.notna().to_numpy()
            if not ok.any():
                continue
            rows, vals = idx[ok].to_numpy(np.int64), k[sel][ok]
            np.add.at(seen, rows, 1)
            called = ~np.isnan(vals)
            np.maximum.at(best, rows[called], vals[called])
    # a pair absent from the table (below its floor) is 0: unless every training pair of a test
    # sample is present (a table without a floor), its maximum is at least 0
    expected = np.array([len(train) - (t in train) for t in test_ids], np.int64)
    best = np.where(seen < expected, np.maximum(best, 0.0), best)
    return np.where(np.isinf(best), 0.0, best)


def _bin_label(lo: float, hi: float) -> str:
    if np.isinf(lo):
        return f"< {hi:g}"
    if np.isinf(hi):
        return f">= {lo:g}"
    return f"{lo:g} - {hi:g}"


def accuracy_by_relatedness(observed, predicted, max_kin, bins=RELATEDNESS_BINS) -> pd.DataFrame:
    """Accuracy of predictions binned by each sample's highest kinship to the training set.

    observed, predicted, max_kin: (n,) arrays (max_kin from :func:`max_kinship_to`); samples
    with a NaN in any are left out. Bins are left-closed intervals [bins[k], bins[k+1]) (by
    default plink2's degree thresholds: unrelated < 0.0442, 3rd degree, 2nd, 1st, >= 0.354
    clones). Returns a DataFrame with one row per bin: ``bin`` (label), ``lower``, ``upper``,
    ``n`` (samples) and ``pearson_r`` (between observed and predicted; NaN with fewer than 3
    samples or no variance in either).
    """
    obs, pred, mk = (np.asarray(x, np.float64).ravel() for x in (observed, predicted, max_kin))
    if not (len(obs) == len(pred) == len(mk)):
        raise ValueError(f"accuracy_by_relatedness: lengths {len(obs)}, {len(pred)}, {len(mk)} differ")
    edges = np.asarray(bins, np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("accuracy_by_relatedness: bins must be at least two increasing edges")
    ok = ~(np.isnan(obs) | np.isnan(pred) | np.isnan(mk))
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = ok & (mk >= lo) & (mk < hi)
        n = int(sel.sum())
        r = np.nan
        if n >= 3 and np.std(obs[sel]) > 0 and np.std(pred[sel]) > 0:
            r = float(np.corrcoef(obs[sel], pred[sel])[0, 1])
        rows.append({"bin": _bin_label(lo, hi), "lower": float(lo), "upper": float(hi), "n": n,
                     "pearson_r": r})
    return pd.DataFrame(rows, columns=["bin", "lower", "upper", "n", "pearson_r"])
