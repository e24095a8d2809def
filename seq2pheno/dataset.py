"""A cohort's design for modelling: which tensor rows are train, valid, test or unphenotyped.

Aligns the tables written by import (samples.tsv, tensor row order), curation (kept.tsv,
phenotypes after duplicate resolution) and the split (split.tsv) by sample id.

A tensor has one row per sample of samples.tsv, or two for genotype cohorts imported with
``haplotypes: true`` (rows ``2*i`` and ``2*i + 1`` are sample ``i``'s two haplotypes). Which
one is read from the tensor's shape (:func:`rows_per_sample`: exactly N or 2N rows, anything
else is an error); import_summary.json records it too (``haplotypes``, ``rows_per_sample``).
Splits, curation, phenotypes and weights stay per sample; :func:`expand_rows` turns samples into
their tensor rows and :func:`average_rows` averages per-row predictions back to samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError


def rows_per_sample(n_tensor_rows: int, n_samples: int, path=None) -> int:
    """1 when the tensor has one row per sample, 2 when it has two (haplotypes); else InputError."""
    if n_samples > 0 and n_tensor_rows == n_samples:
        return 1
    if n_samples > 0 and n_tensor_rows == 2 * n_samples:
        return 2
    raise InputError(path, f"the tensor has {n_tensor_rows} rows for {n_samples} samples in samples.tsv; "
                           "expected one row per sample, or two (haplotypes: true)")


def expand_rows(sample_rows, k: int) -> np.ndarray:
    """int64 (n * k,): the tensor rows of samples ``sample_rows`` (rows of samples.tsv).

    Sample ``i`` owns tensor rows ``k*i .. k*i + k - 1``; the result keeps the order of
    ``sample_rows`` with each sample's rows consecutive (``k = 1``: the rows themselves).
    """
    r = np.asarray(sample_rows, dtype=np.int64).reshape(-1)
    return (r[:, None] * k + np.arange(k, dtype=np.int64)[None, :]).reshape(-1)


def average_rows(values, k: int) -> np.ndarray:
    """float64 (n,): the mean of each run of ``k`` consecutive values (per-row -> per-sample).

    ``values`` (n * k,) are in the order :func:`expand_rows` gives; ``k = 1`` returns them as is.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(v) % k:
        raise ValueError(f"{len(v)} values are not a multiple of {k} rows per sample")
    return v.reshape(-1, k).mean(axis=1)


@dataclass
class Design:
    """Per kept sample: ``ids`` (str), ``rows`` (int, row of samples.tsv; the row of onehot.npy
    when ``rows_per_sample`` is 1), ``split`` (str), ``phenotype`` (float, NaN when
    unphenotyped), ``weight`` (float), ``group`` (int). ``rows_per_sample``: tensor rows per
    sample (1, or 2 for haplotype tensors)."""

    ids: np.ndarray
    rows: np.ndarray
    split: np.ndarray
    phenotype: np.ndarray
    weight: np.ndarray
    group: np.ndarray
    rows_per_sample: int = 1

    def subset(self, name: str) -> np.ndarray:
        """Positions (into this design) of the samples of split ``name``."""
        return np.flatnonzero(self.split == name)

    def tensor_rows(self, positions=None) -> np.ndarray:
        """Tensor rows of the samples at ``positions`` (all when None), each sample's rows together."""
        rows = self.rows if positions is None else self.rows[np.asarray(positions, dtype=np.int64)]
        return expand_rows(rows, self.rows_per_sample)

    def per_row(self, values, positions=None) -> np.ndarray:
        """A per-sample array (phenotype, weight) repeated to match :meth:`tensor_rows`."""
        v = np.asarray(values)
        v = v if positions is None else v[np.asarray(positions, dtype=np.int64)]
        return np.repeat(v, self.rows_per_sample)

    def per_sample(self, values) -> np.ndarray:
        """Per-row values (order of :meth:`tensor_rows`) averaged to one per sample."""
        return average_rows(values, self.rows_per_sample)


def read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"id": str}, keep_default_na=True)


def load_design(samples_path, kept_path, split_path, n_tensor_rows: int | None = None,
                tensor_path=None) -> Design:
    """Join samples.tsv, kept.tsv and split.tsv on id (order of split.tsv).

    The phenotype is kept.tsv's (after duplicate resolution), unless split.tsv has a
    ``phenotype`` column (covariate-adjusted on the training split), which then wins.
    ``n_tensor_rows`` (onehot.shape[0]) sets ``rows_per_sample`` (:func:`rows_per_sample`);
    None means one row per sample.
    """
    samples = read_tsv(samples_path)
    kept = read_tsv(kept_path)
    split = read_tsv(split_path)
    k = 1 if n_tensor_rows is None else rows_per_sample(int(n_tensor_rows), len(samples),
                                                         tensor_path)
    row_of = pd.Series(np.arange(len(samples)), index=samples["id"])
    missing = split.loc[~split["id"].isin(row_of.index), "id"]
    if len(missing):
        raise InputError(split_path, f"{len(missing)} ids are not in {samples_path}, e.g. {missing.iloc[0]!r}")
    if "phenotype" not in split:  # split.tsv carries the phenotype when covariates were regressed out
        split = split.merge(kept[["id", "phenotype"]], on="id", how="left", validate="one_to_one")
    table = split
    return Design(
        ids=table["id"].to_numpy(dtype=str),
        rows=row_of.loc[table["id"]].to_numpy(dtype=np.int64),
        split=table["split"].to_numpy(dtype=str),
        phenotype=table["phenotype"].to_numpy(dtype=np.float64),
        weight=table["weight"].to_numpy(dtype=np.float64),
        group=table["group"].to_numpy(dtype=np.int64),
        rows_per_sample=k,
    )
