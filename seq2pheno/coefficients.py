"""The interpretation of a model whose own parameters are its explanation (``INTERPRETATION``
``"coefficients"`` in :mod:`seq2pheno.models`): linear models (ridge, gblup, sparse) and
boosted trees per position and base or per marker, k-mer ridge per k-mer.

:func:`effects_table` turns a kind's ``effects(model)`` (L x C) into ``effects.tsv``:

* sequence cohorts (and sequence-encoded genotypes): one row per position with the effect of
  each base (``effect_A`` .. ``effect_T``: the change in phenotype, original units, per unit of
  that channel) and ``importance`` = the largest change one substitution makes there (max - min
  over the bases; invariant to the per-position constant a one-hot model cannot identify);
* genotype cohorts of the ``variants`` encoding (one column per marker, REF and ALT channels):
  one row per marker with ``chrom``, ``pos``, ``ref``, ``alt`` (data/features.tsv) and
  ``alt_effect``: the change in phenotype per copy of the ALT allele (a heterozygote is 0.5 REF
  + 0.5 ALT, so one allele moves half a unit from the REF to the ALT channel:
  ``0.5 * (e[ALT] - e[REF])``); ``importance`` = ``|alt_effect|``.

Kinds whose effects are not signed (boosted trees: gain importances, ``LINEAR`` False) give
``importance_A`` .. ``importance_T`` and ``importance`` = their sum, no ``alt_effect``.
``rank`` 1 is the most important row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["effects_table", "per_marker", "empty_effects"]

_BASES = "ACGT"
_LOCUS = ("chrom", "pos", "ref", "alt")


def per_marker(features: pd.DataFrame | None) -> bool:
    """True when every column of the tensor is a marker with one ALT base (variants encoding)."""
    if features is None or not {"ref", "alt"} <= set(features.columns) or not len(features):
        return False
    alt = features["alt"].fillna("").astype(str)
    ref = features["ref"].fillna("").astype(str)
    return bool(alt.isin(list(_BASES)).all() and ref.isin(list(_BASES)).all())


def _channel(alleles: pd.Series) -> np.ndarray:
    """Channel index (0..3) of single-base alleles, -1 elsewhere."""
    lookup = {b: i for i, b in enumerate(_BASES)}
    return np.array([lookup.get(str(a).upper(), -1) for a in alleles.fillna("")], dtype=np.int64)


def _rank(importance: np.ndarray) -> np.ndarray:
    key = np.nan_to_num(np.asarray(importance, dtype=np.float64), nan=-np.inf)
    order = np.argsort(-key, kind="stable")
    rank = np.empty(len(key), dtype=np.int64)
    rank[order] = np.arange(1, len(key) + 1)
    return rank


def effects_table(effects: np.ndarray, features: pd.DataFrame | None = None, *,
                  signed: bool = True, genotype: bool = False) -> pd.DataFrame:
    """``effects.tsv`` of an (L, C) effect (or importance) array; see the module docstring.

    ``features``: data/features.tsv (one row per tensor column) or None; ``signed``: effects
    are signed changes in phenotype (linear kinds), else non-negative importances;
    ``genotype``: a genotype cohort (per-marker rows when :func:`per_marker` holds).
    """
    e = np.asarray(effects, dtype=np.float64)
    if e.ndim == 1:
        e = e[:, None]
    L, C = e.shape
    df = pd.DataFrame({"position": np.arange(L, dtype=np.int64)})
    feats = None
    if features is not None and len(features) >= L:
        feats = features.iloc[:L].reset_index(drop=True)
        for col in _LOCUS:
            if col in feats.columns:
                df[col] = feats[col].to_numpy()
    names = list(_BASES) if C == 4 else [str(c) for c in range(C)]
    marker_rows = genotype and signed and C == 4 and per_marker(feats)
    alt_effect = None
    if signed and C == 4 and feats is not None and {"ref", "alt"} <= set(feats.columns):
        ref, alt = _channel(feats["ref"]), _channel(feats["alt"])
        ok = (ref >= 0) & (alt >= 0)
        rows = np.arange(L)
        alt_effect = np.full(L, np.nan)
        alt_effect[ok] = 0.5 * (e[rows[ok], alt[ok]] - e[rows[ok], ref[ok]])
    if marker_rows:
        df["alt_effect"] = alt_effect
        importance = np.abs(alt_effect)
    else:
        prefix = "effect_" if signed else "importance_"
        for j, name in enumerate(names):
            df[prefix + name] = e[:, j]
        if alt_effect is not None and genotype:
            df["alt_effect"] = alt_effect
        importance = (e.max(axis=1) - e.min(axis=1)) if signed else e.sum(axis=1)
    df["importance"] = importance
    df["rank"] = _rank(importance)
    return df


def empty_effects() -> pd.DataFrame:
    """An effects.tsv with no rows: a kind whose ``effects`` gives nothing per position."""
    return pd.DataFrame({"position": pd.Series([], dtype="int64"),
                         "importance": pd.Series([], dtype="float64"),
                         "rank": pd.Series([], dtype="int64")})
