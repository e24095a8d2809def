"""Writing a genotype cohort: :func:`write_genotype_cohort` writes samples.tsv, onehot.npy (the
tensor, built a few rows at a time) and features.tsv (and optionally the missing mask)
atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..tensorfile import tensor_writer
from .data import GenotypeData


def _atomic_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_genotype_cohort(geno: GenotypeData, table: pd.DataFrame, samples_tsv, onehot_npy,
                          features_tsv, *, missing_npy=None, chunk_rows: int = 256,
                          log: logging.Logger | None = None) -> None:
    """Write samples.tsv, onehot.npy (float32 rows x L x 4) and features.tsv atomically.

    ``table`` (from :func:`join_phenotypes`, possibly subset) gives the samples to write, in
    order; each id must be in ``geno.samples``. onehot.npy rows follow it (two rows per sample,
    ``2*i`` and ``2*i + 1``, with haplotypes). The tensor is built ``chunk_rows`` at a time into a
    temporary file and renamed; missing entries are all-zero (see :func:`called_frequencies`).
    ``missing_npy`` (optional) receives the bool missing mask (rows x L).
    """
    log = log or logging.getLogger("seq2pheno.vcf")
    idx_of = {s: i for i, s in enumerate(geno.samples)}
    absent = [s for s in table["id"] if s not in idx_of]
    if absent:
        raise InputError(samples_tsv, f"{len(absent)} sample(s) not in the genotype data", sample=absent[0])
    sidx = np.array([idx_of[s] for s in table["id"]], dtype=np.int64)
    rows = np.stack([2 * sidx, 2 * sidx + 1], axis=1).ravel() if geno.haplotypes else sidx
    L = len(geno.features)
    paths = [Path(samples_tsv), Path(onehot_npy), Path(features_tsv)] + ([Path(missing_npy)] if missing_npy else [])
    tmps = [_atomic_tmp(p) for p in paths]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as files:
            arr = files.enter_context(tensor_writer(tmps[1], (L, 4), np.float32, atomic=False))
            marr = (files.enter_context(tensor_writer(tmps[3], (L,), bool, atomic=False))
                    if missing_npy else None)
            for s in range(0, len(rows), chunk_rows):
                t, m = geno.tensor(rows[s:s + chunk_rows])
                arr.append(t)
                if marr is not None:
                    marr.append(m)
                log.info("wrote tensor rows %d/%d", min(len(rows), s + chunk_rows), len(rows))
        geno.features[["position", "chrom", "pos", "ref", "alt"]].to_csv(tmps[2], sep="\t", index=False)
        out_table = table.copy()
        out_table.to_csv(tmps[0], sep="\t", index=False, na_rep="")
        for tmp, p in list(zip(tmps, paths))[1:] + [(tmps[0], paths[0])]:
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()
