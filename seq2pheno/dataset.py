"""A cohort's design for modelling: which tensor rows are train, valid, test or unphenotyped.

Aligns the tables written by import (samples.tsv, tensor row order), curation (kept.tsv,
phenotypes after duplicate resolution) and the split (split.tsv) by sample id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError


@dataclass
class Design:
    """Per kept sample: ``ids`` (str), ``rows`` (int, row of onehot.npy), ``split`` (str),
    ``phenotype`` (float, NaN when unphenotyped), ``weight`` (float), ``group`` (int)."""

    ids: np.ndarray
    rows: np.ndarray
    split: np.ndarray
    phenotype: np.ndarray
    weight: np.ndarray
    group: np.ndarray

    def subset(self, name: str) -> np.ndarray:
        """Positions (into this design) of the samples of split ``name``."""
        return np.flatnonzero(self.split == name)


def read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"id": str}, keep_default_na=True)


def load_design(samples_path, kept_path, split_path) -> Design:
    """Join samples.tsv, kept.tsv and split.tsv on id (order of split.tsv).

    The phenotype is kept.tsv's (after duplicate resolution), unless split.tsv has a
    ``phenotype`` column (covariate-adjusted on the training split), which then wins.
    """
    samples = read_tsv(samples_path)
    kept = read_tsv(kept_path)
    split = read_tsv(split_path)
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
    )
