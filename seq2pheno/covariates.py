"""Covariates (sex, batch, litter ...) regressed out of the phenotype on training samples only.

Every model then sees the same adjusted phenotype, so a covariate enters every kind the same
way, and valid/test samples never inform the fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError


def covariate_design(values: pd.DataFrame, train: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Design matrix (n x k, no intercept) of covariates: numeric as is, text one-hot encoded.

    Text levels are those seen in the training rows; the first (sorted) is the reference level,
    and a level absent from training gets all-zero indicators (the reference level's effect).
    """
    cols, names = [], []
    for col in values.columns:
        v = values[col]
        if pd.api.types.is_numeric_dtype(v):
            cols.append(v.to_numpy(dtype=np.float64))
            names.append(col)
        else:
            levels = sorted(pd.unique(v[train].dropna().astype(str)))
            for level in levels[1:]:
                cols.append((v.astype(str) == level).to_numpy(dtype=np.float64))
                names.append(f"{col}={level}")
    x = np.column_stack(cols) if cols else np.zeros((len(values), 0))
    return x, names


def adjust_covariates(phenotype, values: pd.DataFrame, train) -> tuple[np.ndarray, dict]:
    """Regress covariates out of the phenotype, fitted on the training rows only.

    phenotype: (n,) float (NaN = unphenotyped); values: n rows of covariate columns; train: bool
    (n,). OLS with intercept on the training rows; every phenotyped row gets
    ``y - (b0 + X b) + mean(y_train)`` (the residual on the training mean's scale); NaN stays NaN.
    Returns (adjusted (n,), coefficients {"intercept": b0, name: b, ...}).
    """
    y = np.asarray(phenotype, dtype=np.float64)
    train = np.asarray(train, bool) & ~np.isnan(y)
    x, names = covariate_design(values.reset_index(drop=True), train)
    design = np.column_stack([np.ones(len(y)), x])
    xt = design[train]
    if np.isnan(xt).any():
        raise InputError("covariates", "a training sample has an empty covariate")
    beta, *_ = np.linalg.lstsq(xt, y[train], rcond=None)
    fitted = np.nan_to_num(design) @ beta
    adjusted = y - fitted + float(y[train].mean())
    coef = {"intercept": float(beta[0]), **{n: float(b) for n, b in zip(names, beta[1:])}}
    return adjusted, coef


def adjust_split_table(table: pd.DataFrame, kept: pd.DataFrame, samples: pd.DataFrame,
                       covariates: list[str]) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """A split table (id, split, ...) with a ``phenotype`` column: kept.tsv's phenotype with the
    covariates (columns of samples.tsv) regressed out on the table's training samples.

    Returns (the table with ``phenotype``, the coefficients, the unadjusted phenotypes in the
    table's order).
    """
    t = table.merge(kept[["id", "phenotype"]], on="id", how="left").merge(
        samples[["id", *covariates]], on="id", how="left")
    raw = t["phenotype"].to_numpy(float)
    adjusted, coef = adjust_covariates(raw, t[covariates], (t["split"] == "train").to_numpy())
    out = table.copy()
    out["phenotype"] = adjusted
    return out, coef, raw
