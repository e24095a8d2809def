"""GT decoding: the GT sub-field of every sample of many VCF record lines at once.

Genotypes are decoded in bulk rather than sample by sample, by vectorised numpy decoders over
the text of the sample columns: :func:`_decode_gt_fixed` when every sample field is three
characters (``0/1``, ``1|1``, ``./.``), else :func:`_decode_gt`. Entries the bulk decoder cannot
read (alleles >= 10, mixed ploidy) go through a small per-entry path (:func:`_parse_gt_token`).
Calls come out as in ``GenotypeData.calls``.
"""

from __future__ import annotations

import re

import numpy as np


def _parse_gt_token(tok: str):
    """(a0, a1, phased) for one GT string; a1 = -2 for haploid. Raises ValueError."""
    parts = re.split(r"([/|])", tok)
    alleles = parts[0::2]
    if len(alleles) > 2:
        raise ValueError(f"ploidy {len(alleles)} is not supported (haploid or diploid only)")
    vals = [-1 if a == "." else int(a) for a in alleles]
    if len(vals) == 1:
        return vals[0], -2, True
    return vals[0], vals[1], parts[1] == "|"


def _decode_gt_fixed(parts: list[bytes], n: int):
    """Fast path: every sample field is exactly 3 characters ('0/1', '1|1', './.').

    ``parts`` are the sample columns of each line (text after the 9th tab, newline included).
    Returns (int8 (K, n, 2), bool (K, n)) or None when the chunk does not fit this layout.
    """
    width = 4 * n
    if any(len(p) != width for p in parts):
        return None
    v = np.frombuffer(b"".join(parts), np.uint8).reshape(len(parts), n, 4)
    c0, c1, c2, c3 = v[:, :, 0], v[:, :, 1], v[:, :, 2], v[:, :, 3]
    if not (((c3 == 9) | (c3 == 10)).all() and ((c1 == 47) | (c1 == 124)).all()):
        return None
    ok0 = ((c0 >= 48) & (c0 <= 57)) | (c0 == 46)
    ok2 = ((c2 >= 48) & (c2 <= 57)) | (c2 == 46)
    if not (ok0.all() and ok2.all()):
        return None
    out = np.empty((len(parts), n, 2), np.int8)
    out[:, :, 0] = c0.view(np.int8) - 48
    out[:, :, 1] = c2.view(np.int8) - 48
    out[out == 46 - 48] = -1
    phased = ~((c1 == 47) & (c0 != c2) & (c0 != 46) & (c2 != 46))
    return out, phased


def _decode_gt(lines: list[bytes], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode GT of K VCF record lines (bytes) with ``n`` samples each, GT first in FORMAT.

    Returns (int8 (K, n, 2) alleles as in ``GenotypeData.calls``, bool (K, n) phased-or-not-het).
    """
    K = len(lines)
    buf = b"".join(lines)
    arr = np.frombuffer(buf + b"\0\0\0\0", np.uint8)
    tabs = np.flatnonzero(arr == 9)
    nl = np.flatnonzero(arr == 10)
    per = 8 + n
    if len(tabs) != K * per or len(nl) != K:
        raise ValueError("unexpected number of columns")
    tabs = tabs.reshape(K, per)
    starts = tabs[:, 8:] + 1
    ends = np.concatenate([tabs[:, 9:], nl[:, None]], axis=1)
    c0, c1, c2, c3 = (arr[starts + i] for i in range(4))

    def term(c):
        return (c == 58) | (c == 9) | (c == 10)

    def allele(c):
        return (c >= 48) & (c <= 57) | (c == 46)

    hap = term(c1) & allele(c0)
    sep = (c1 == 47) | (c1 == 124)
    dip = sep & term(c3) & allele(c0) & allele(c2)
    a0 = np.where(c0 == 46, -1, c0.astype(np.int16) - 48)
    a1 = np.where(hap, -2, np.where(c2 == 46, -1, c2.astype(np.int16) - 48))
    phased = ~(dip & (c1 == 47) & (a0 != a1) & (a0 >= 0) & (a1 >= 0))
    out = np.stack([a0, a1], axis=-1).astype(np.int8)
    irregular = np.argwhere(~(hap | dip))
    for k, j in irregular:
        tok = buf[starts[k, j]:ends[k, j]].decode().split(":")[0]
        x0, x1, ph = _parse_gt_token(tok)
        if max(x0, x1) > 127:
            raise ValueError(f"allele index {max(x0, x1)} too large")
        out[k, j] = (x0, x1)
        phased[k, j] = ph or x1 < 0 or x0 < 0 or x0 == x1
    return out, phased
