"""k-mer count features of one-hot sequences (for ridge on k-mer counts).

Counts come from the one-hot tensor ``x`` (``N x L x 4`` float32, channels A, C, G, T; an
array, a memmap or any row-sliceable view), read ``batch_size`` rows at a time. For each
``k`` in ``ks`` the count of the k-mer ``w = w_0 .. w_{k-1}`` is

    count_w(x) = sum_p prod_j x[p + j, w_j]           (p = 0 .. L - k)

which is the ordinary count for one-hot rows. Ambiguous rows (an ``N`` written as 0.25 in
every channel, or a heterozygous 0.5/0.5 row) give *fractional* counts: an ``N`` spreads
each window it sits in evenly over the four bases, so every window still contributes a total
of 1 to the counts of its ``k`` (no window is dropped, and the features of a sequence with
an ``N`` are the mean of those of its four resolutions). A row of zeros (padding)
contributes nothing. Batches whose rows are all one-hot are counted from integer codes
(``np.bincount``); other batches by the product above.

Strands (``strand``):

- ``"forward"``: counts on the given strand only (4^k features per k);
- ``"both"``: counts on the given strand plus counts on its reverse complement (4^k
  features per k; k-mers w and revcomp(w) then have equal features);
- ``"canonical"``: each k-mer merged with its reverse complement into one feature, named
  by the lexicographically smaller of the two (about 4^k / 2 features): the number of
  windows that read w on either strand (a palindrome counts once per window).

Features are ordered by k (as given), then by k-mer in base-4 order of A, C, G, T
(:func:`kmer_names` gives the names). Gapped k-mers are not implemented.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["kmer_counts", "kmer_names", "n_features", "STRANDS"]

STRANDS = ("forward", "both", "canonical")
_ALPHABET = "ACGT"


def _check(ks, strand: str) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ([ks] if np.isscalar(ks) else ks))
    if not ks or any(k < 1 or k > 10 for k in ks):
        raise ValueError(f"k must be integers in 1..10, got {ks}")
    if len(set(ks)) != len(ks):
        raise ValueError(f"k values must be distinct, got {ks}")
    if strand not in STRANDS:
        raise ValueError(f"strand must be one of {STRANDS}, got {strand!r}")
    return ks


def _name(code: int, k: int) -> str:
    return "".join(_ALPHABET[(code >> (2 * (k - 1 - j))) & 3] for j in range(k))


@lru_cache(maxsize=None)
def _revcomp_codes(k: int) -> np.ndarray:
    """(4^k,) code of the reverse complement of each k-mer code (complement = 3 - base)."""
    codes = np.arange(4 ** k)
    out = np.zeros_like(codes)
    for j in range(k):
        base = (codes >> (2 * j)) & 3              # base at position k-1-j
        out = out * 4 + (3 - base)
    return out


@lru_cache(maxsize=None)
def _canonical(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(column of each k-mer code, canonical codes kept): k-mer and its reverse complement
    share a column, named by the smaller code."""
    codes = np.arange(4 ** k)
    canon = np.minimum(codes, _revcomp_codes(k))
    kept = np.unique(canon)
    return np.searchsorted(kept, canon), kept


def n_features(ks=(1, 2, 3, 4, 5), strand: str = "forward") -> int:
    """Number of feature columns for ``ks`` and ``strand``."""
    ks = _check(ks, strand)
    return sum(len(_canonical(k)[1]) if strand == "canonical" else 4 ** k for k in ks)


def kmer_names(ks=(1, 2, 3, 4, 5), strand: str = "forward") -> list[str]:
    """Name of each feature column (the k-mer; for ``canonical`` the smaller of the pair)."""
    ks = _check(ks, strand)
    names = []
    for k in ks:
        codes = _canonical(k)[1] if strand == "canonical" else np.arange(4 ** k)
        names.extend(_name(int(c), k) for c in codes)
    return names


def _forward_counts_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """(B, 4^k) counts from integer base codes (B, L)."""
    B, L = codes.shape
    n = L - k + 1
    if n <= 0:
        return np.zeros((B, 4 ** k))
    idx = np.zeros((B, n), dtype=np.int64)
    for j in range(k):
        idx = idx * 4 + codes[:, j:j + n]
    idx += (np.arange(B, dtype=np.int64) * 4 ** k)[:, None]
    return np.bincount(idx.ravel(), minlength=B * 4 ** k).reshape(B, 4 ** k).astype(np.float64)


def _forward_counts_soft(xb: np.ndarray, k: int) -> np.ndarray:
    """(B, 4^k) counts from (possibly fractional) one-hot rows (B, L, 4), by products."""
    B, L, _ = xb.shape
    n = L - k + 1
    if n <= 0:
        return np.zeros((B, 4 ** k))
    prod = xb[:, :n, :].astype(np.float64)
    for j in range(1, k):
        prod = (prod[:, :, :, None] * xb[:, j:j + n, None, :]).reshape(B, n, -1)
    return prod.sum(axis=1)


def _counts_batch(xb: np.ndarray, ks: tuple[int, ...], strand: str) -> np.ndarray:
    rows = xb.reshape(-1, 4)
    one_hot = bool(np.all((rows == 0) | (rows == 1))) and bool(np.all(rows.sum(axis=1) == 1))
    codes = xb.argmax(axis=-1) if one_hot else None
    out = []
    for k in ks:
        c = (_forward_counts_codes(codes, k) if one_hot
             else _forward_counts_soft(xb, k))
        if strand != "forward":
            # counts on the reverse complement: count_w(rc x) = count_{rc w}(x)
            rc = _revcomp_codes(k)
            if strand == "canonical":
                _, kept = _canonical(k)
                # a pair's feature: occurrences of either member on the given strand (a
                # palindrome, w == revcomp(w), is counted once per occurrence)
                pal = rc[kept] == kept
                c = c[:, kept] + np.where(pal, 0.0, c[:, rc[kept]])
            else:
                c = c + c[:, rc]
        out.append(c)
    return np.concatenate(out, axis=1)


def kmer_counts(x, ks=(1, 2, 3, 4, 5), *, strand: str = "forward",
                batch_size: int = 512, dtype=np.float32) -> np.ndarray:
    """k-mer counts (N, n_features(ks, strand)) of one-hot sequences ``x`` (N, L, 4).

    See the module docstring for the definition (fractional counts for ambiguous rows),
    the strands and the column order. ``x`` is read ``batch_size`` rows at a time.
    """
    ks = _check(ks, strand)
    if len(x.shape) != 3 or x.shape[2] != 4:
        raise ValueError(f"x must be one-hot N x L x 4, got shape {tuple(x.shape)}")
    N = x.shape[0]
    out = np.empty((N, n_features(ks, strand)), dtype=dtype)
    for s in range(0, N, batch_size):
        xb = np.asarray(x[s:s + batch_size], dtype=np.float32)
        out[s:s + len(xb)] = _counts_batch(xb, ks, strand)
    return out
