"""A reliability for every predicted individual: conformal intervals and GBLUP reliabilities.

**Split-conformal intervals** (any model). The validation samples, not used to fit the
model's weights (only to stop or select it), calibrate an interval around each new
prediction. Conformity scores are absolute residuals ``r_i = |y_i - yhat_i|`` of the ``n``
validation samples, or, with a per-sample scale ``s`` (an ensemble's SD across members),
normalised ones ``r_i / s_i``. With ``q`` the ``k``-th smallest score,
``k = ceil((n + 1) level)``, the interval of a new sample is ``yhat +- q`` (``yhat +- q s``).
If the validation and new samples are exchangeable, it covers the new phenotype with
probability at least ``level`` (and less than ``level + 1/(n + 1)`` without ties); when
``k > n`` the interval is infinite. Scales are floored (:func:`scale_floor`) so that
``s = 0`` (members that agree exactly) cannot give an empty interval. The coverage guarantee
is marginal (over samples), not per individual; scaled intervals are wider where the members
disagree and narrower where they agree, with the same marginal guarantee.

**GBLUP reliability** (``type: gblup``). For an individual with centred genotype row ``z``
(the model's informative columns minus the fitted samples' means), genomic relationships
``g = Z_c z / c`` to the ``n`` fitted samples and ``G_ii = z'z / c``
(:mod:`seq2pheno.models.gblup` for ``Z_c`` and ``c``), the prediction error variance of its
genomic value in the standard GBLUP form is ::

    PEV = sigma2_g (G_ii - g' (G + lambda_G W^-1)^-1 g),   lambda_G = sigma2_e / sigma2_g

(``W``: the training weights, ``I`` without them; the uncertainty of the estimated mean is
neglected, O(1/n)). It is computed in marker space, which is the same by Woodbury's identity,
``PEV = sigma2_e z' (Z_w' Z_w + lambda I)^-1 z`` with ``Z_w = W^1/2 Z_c`` and gblup's
``lambda = c sigma2_e / sigma2_g``, from the SVD of ``Z_w``
(:func:`seq2pheno.models.gblup.pev_basis`; the model artefact does not keep the training
genotypes, so they are read again). The reliability is ``1 - PEV / (sigma2_g G_ii)``, the
squared correlation between true and predicted genomic value, in ``[0, 1]``: near 1 for an
individual whose genotype the training set pins down (a fitted sample or a close relative of
many), near 0 for one unrelated to all of them. (``G_ii`` averages 1 over the fitted samples,
so this is ``1 - PEV / sigma2_g`` there.)

**GBLUP intervals** are split-conformal on residuals scaled by the predictive SD
``sqrt(PEV + sigma2_e)`` (:func:`gblup_scale`): narrower for close relatives of the training
set. GBLUP's final fit takes the training and validation samples, and its validation
predictions are those of a fit on the training samples alone, so the validation samples' PEV
is the one of that fit (the basis of the training samples alone, the model's variance
components): the scores of the validation samples and of new ones are then alike.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LEVELS = (0.5, 0.8, 0.9, 0.95)


# ---- split-conformal intervals --------------------------------------------------------------


def conformal_quantile(scores, level: float) -> float:
    """The ``ceil((n + 1) level)``-th smallest of ``n`` finite scores (``inf`` when that
    exceeds ``n``): the finite-sample split-conformal quantile."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    s = np.sort(np.asarray(scores, dtype=np.float64))
    s = s[np.isfinite(s)]
    n = len(s)
    if n == 0:
        raise ValueError("conformal intervals need at least one validation sample")
    k = math.ceil((n + 1) * level - 1e-12)          # guard (n + 1) * level = integer + rounding
    return float("inf") if k > n else float(s[k - 1])


def scale_floor(scale_valid, rel: float = 1e-3) -> float:
    """Smallest scale used: ``rel`` times the median positive validation scale (1 if none)."""
    s = np.asarray(scale_valid, dtype=np.float64)
    s = s[np.isfinite(s) & (s > 0)]
    return float(rel * np.median(s)) if len(s) else 1.0


def conformal_interval(valid_observed, valid_predicted, predicted, level: float = 0.9,
                       scale_valid=None, scale=None) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) split-conformal intervals at ``level`` for ``predicted``.

    Calibrated on the validation samples (``valid_observed``, ``valid_predicted``; pairs with
    a non-finite value are left out). Give ``scale_valid`` and ``scale`` (both or neither:
    e.g. the ensemble SD of each validation and each predicted sample) for normalised scores;
    scales are floored at :func:`scale_floor` of ``scale_valid``. NaN predictions give NaN
    bounds."""
    yv = np.asarray(valid_observed, dtype=np.float64).reshape(-1)
    pv = np.asarray(valid_predicted, dtype=np.float64).reshape(-1)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if len(yv) != len(pv):
        raise ValueError(f"{len(yv)} validation phenotypes but {len(pv)} predictions")
    if (scale_valid is None) != (scale is None):
        raise ValueError("give both scale_valid and scale, or neither")
    ok = np.isfinite(yv) & np.isfinite(pv)
    if scale_valid is None:
        q = conformal_quantile(np.abs(yv - pv)[ok], level)
        half = np.full(len(p), q)
    else:
        sv = np.asarray(scale_valid, dtype=np.float64).reshape(-1)
        s = np.asarray(scale, dtype=np.float64).reshape(-1)
        if len(sv) != len(yv) or len(s) != len(p):
            raise ValueError(f"scales: {len(sv)} for {len(yv)} validation samples, "
                             f"{len(s)} for {len(p)} predictions")
        floor = scale_floor(sv[ok])
        ok &= np.isfinite(sv)
        q = conformal_quantile(np.abs(yv - pv)[ok] / np.maximum(sv[ok], floor), level)
        half = q * np.maximum(s, floor)
    return p - half, p + half


def coverage(observed, lower, upper) -> float:
    """Fraction of samples with a finite phenotype whose interval holds it (bounds included)."""
    y = np.asarray(observed, dtype=np.float64).reshape(-1)
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    hi = np.asarray(upper, dtype=np.float64).reshape(-1)
    ok = np.isfinite(y)
    if not ok.any():
        return float("nan")
    return float(np.mean((lo[ok] <= y[ok]) & (y[ok] <= hi[ok])))


def calibration_table(observed, predicted, valid_obs, valid_pred, levels=LEVELS,
                      scale_valid=None, scale=None) -> pd.DataFrame:
    """Nominal vs observed coverage of conformal intervals on the test samples (``observed``,
    ``predicted``), calibrated on the validation samples: one row per level with ``level``,
    ``coverage`` and ``mean_width`` (over test samples with a finite phenotype; ``inf`` when
    the validation set is too small for the level)."""
    y = np.asarray(observed, dtype=np.float64).reshape(-1)
    ok = np.isfinite(y)
    rows = []
    for level in levels:
        lo, hi = conformal_interval(valid_obs, valid_pred, predicted, level, scale_valid, scale)
        width = (hi - lo)[ok]
        rows.append({"level": float(level), "coverage": coverage(y, lo, hi),
                     "mean_width": float(np.mean(width)) if len(width) else float("nan")})
    return pd.DataFrame(rows, columns=["level", "coverage", "mean_width"])


def ensemble_sd(member_predictions) -> np.ndarray:
    """(n,) SD across ensemble members of ``(members, n)`` predictions (ddof 1; 0 for one)."""
    m = np.asarray(member_predictions, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"member predictions must be (members, n), got shape {m.shape}")
    return m.std(axis=0, ddof=1) if m.shape[0] > 1 else np.zeros(m.shape[1])


# ---- GBLUP reliability ----------------------------------------------------------------------


def gblup_pev(model: dict, rows, train=None, valid=None, *, basis: dict | None = None):
    """(PEV, G_ii): prediction error variance of each sample's genomic value and its genomic
    self-relationship. ``basis`` from :func:`seq2pheno.models.gblup.pev_basis`, else computed
    here from ``train`` (and ``valid``): the samples the model was fitted on."""
    from .models import gblup

    if basis is None:
        if train is None:
            raise ValueError("gblup_reliability needs the fitted samples (train, valid) or a basis")
        basis = gblup.pev_basis(model, train, valid)
    cols = np.asarray(model["columns"], dtype=np.int64)
    z = rows.matrix(np.float32)[:, cols].astype(np.float64) - basis["means"]
    sg, se = float(model["sigma2_g"]), float(model["sigma2_e"])
    c = float(basis["scale"])
    zz = np.einsum("ij,ij->i", z, z)
    gii = zz / c
    if sg <= 0:
        return sg * gii, gii                         # no genetic variance: nothing to predict
    lam = c * se / sg
    zv = z @ basis["v"]                              # (n, r)
    inside = np.sum(zv ** 2 / (basis["d2"] + lam), axis=1)
    outside = np.clip(zz - np.sum(zv ** 2, axis=1), 0.0, None) / lam
    return se * (inside + outside), gii


def gblup_scale(model: dict, rows, *, basis: dict) -> np.ndarray:
    """(n,) predictive SD of each sample's phenotype under a GBLUP ``model``,
    ``sqrt(PEV + sigma2_e)``: the scale of its conformal interval, so that the interval is
    narrower for an individual the training set pins down (a close relative of many)."""
    pev, _ = gblup_pev(model, rows, basis=basis)
    return np.sqrt(np.clip(pev, 0.0, None) + max(float(model["sigma2_e"]), 0.0))


def gblup_reliability(model: dict, rows, train=None, valid=None, *, basis: dict | None = None) -> np.ndarray:
    """(n,) reliability ``1 - PEV / (sigma2_g G_ii)`` of each sample of ``rows`` under a GBLUP
    ``model`` (module docstring); 0 where ``G_ii`` or ``sigma2_g`` is 0."""
    pev, gii = gblup_pev(model, rows, train, valid, basis=basis)
    sg = float(model["sigma2_g"])
    out = np.zeros(len(gii))
    ok = (gii > 1e-12) & (sg > 0)
    out[ok] = 1.0 - pev[ok] / (sg * gii[ok])
    return np.clip(out, 0.0, 1.0)


__all__ = ["conformal_quantile", "scale_floor", "conformal_interval", "coverage",
           "calibration_table", "ensemble_sd", "gblup_pev", "gblup_scale", "gblup_reliability", "LEVELS"]
