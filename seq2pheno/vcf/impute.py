"""Imputation of missing calls (``missing: mean``): :func:`called_frequencies` gives each column's
allele frequencies over the called entries of the training rows only, and
:func:`impute_missing` fills the missing entries with them, once the split is known.
"""

from __future__ import annotations

import numpy as np


def called_frequencies(tensor, missing_mask, train_rows, *, chunk: int = 512) -> np.ndarray:
    """float32 (L, 4): each column's mean composition over the called entries of training rows.

    tensor: float32 (n, L, 4) (array or :class:`seq2pheno.tensorfile.TensorFile`, read ``chunk``
    rows at a time); missing_mask: bool (n, L); train_rows: indices or bool mask of the rows whose
    non-missing entries define the mean (the training split only). The mean composition is the
    allele frequencies (each in [0, 1], summing to 1); a column with no called training row gets
    0.25 in each channel.
    """
    n, L, _ = tensor.shape
    train = np.zeros(n, bool)
    train[np.asarray(train_rows)] = True
    sums = np.zeros((L, 4), np.float64)
    counts = np.zeros(L, np.int64)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        t = train[s:e]
        if not t.any():
            continue
        called = ~missing_mask[s:e][t]
        sums += (tensor[s:e][t] * called[:, :, None]).sum(axis=0)
        counts += called.sum(axis=0)
    mean = np.full((L, 4), 0.25, np.float32)
    ok = counts > 0
    mean[ok] = (sums[ok] / counts[ok, None]).astype(np.float32)
    return mean


def impute_missing(tensor: np.ndarray, missing_mask: np.ndarray, train_rows, *,
                   chunk: int = 512, out: np.ndarray | None = None) -> np.ndarray:
    """Fill missing (row, column) entries with :func:`called_frequencies` of the training rows.

    tensor: float32 (n, L, 4); missing_mask: bool (n, L). Returns ``out`` (default: a copy; pass
    ``out=tensor`` to fill in place).
    """
    n = tensor.shape[0]
    mean = called_frequencies(tensor, missing_mask, train_rows, chunk=chunk)
    if out is None:
        out = np.array(tensor, dtype=np.float32, copy=True)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        r, c = np.nonzero(missing_mask[s:e])
        if len(r):
            out[s + r, c] = mean[c]
    return out
