"""Ridge regression on the flattened tensor (rrBLUP on markers), streamed from disk.

The penalty is chosen on the validation split. The normal equations are accumulated batch by
batch (or the Gram matrix, when samples are fewer than features), so the training tensor may
be larger than memory; one eigendecomposition then solves every alpha.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import pandas as pd

from .base import Rows, write_npz

KIND = "ridge"
ARTEFACT = "model.npz"
GPU = False
INTERPRETATION = "coefficients"
LINEAR = True

#: Ridge penalties, on the scale of the (centred) one-hot Gram matrix X'X.
SCHEMA = {
    "alphas": {
        "type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0},
        "default": [0.01, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0,
                    100000.0],
        "description": "penalties tried; the one with the best validation R² is kept",
    },
}
PRESETS = {"ridge": {"type": "ridge"}}


def validate(spec: dict, name: str) -> dict:
    spec["alphas"] = [float(a) for a in spec["alphas"]]
    return spec


def fit(train: Rows, valid: Rows, spec: dict, *, seed: int = 0, log=None):
    """Ridge on every training tensor row (each haplotype row one example); alpha chosen on
    the validation samples' mean rows. Returns (params, history with alpha, valid_r2, chosen)."""
    params = fit_ridge(train.row_view(), train.per_row(train.y), valid.sample_view(), valid.y,
                       spec["alphas"])
    params["kind"] = KIND
    history = pd.DataFrame({"alpha": params["alphas"], "valid_r2": params["valid_r2"]})
    history["chosen"] = history["alpha"] == params["alpha"]
    if log is not None:
        log.info("ridge: alpha %g chosen on validation R² %.4f", params["alpha"],
                 np.nanmax(params["valid_r2"]) if np.isfinite(params["valid_r2"]).any() else float("nan"))
    return params, history


def predict(model: dict, rows: Rows) -> np.ndarray:
    """(n,) predictions of the samples (mean of each sample's rows), original scale."""
    return predict_ridge(model, rows.sample_view())


def save(model: dict, path) -> None:
    save_ridge(path, model)


def load(path) -> dict:
    return load_ridge(path)


def effects(model: dict) -> np.ndarray:
    """(L, C) coefficients: the change in phenotype per unit of each channel."""
    return np.asarray(model["coef"], dtype=np.float64)


#: largest float64 block of training rows the dual ridge holds at once (bytes)
BLOCK_BYTES = 64 * 2**20


def _batches(x, batch_size: int) -> Iterable[np.ndarray]:
    n = len(x)
    for start in range(0, n, batch_size):
        b = np.asarray(x[start:start + batch_size], dtype=np.float64)
        yield b.reshape(len(b), -1)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if len(y) < 2 or ss_tot == 0:
        return float("nan")
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


def fit_ridge(x_train, y_train, x_valid, y_valid, alphas=None, *, batch_size: int = 2048,
              method: str = "auto") -> dict:
    """Ridge regression on the flattened one-hot, alpha chosen by validation R².

    x_train: ``N_train x L x 4`` array-like supporting row slices (ndarray, memmap or
    :class:`IndexedRows`), read ``batch_size`` rows at a time; y_train: ``N_train`` phenotypes
    (original scale). x_valid / y_valid: the same for the validation split. alphas: penalties
    (default ``SCHEMA["alphas"]["default"]``).

    Method (streaming, chosen over scikit-learn so that cohorts larger than memory work):
    accumulate ``X'X`` (p x p, p = 4L, float64), ``X'y`` and the column sums over batches,
    centre them (unpenalised intercept, as scikit-learn's ``Ridge(fit_intercept=True)``),
    take one eigendecomposition ``X_c'X_c = V diag(lam) V'`` and solve every alpha as
    ``coef = V diag(1/(lam + alpha)) V' X_c'y``. Memory is O(p²), independent of N.
    When there are fewer training samples than features (``method="auto"``, e.g. genotype
    cohorts with many variants) the dual form is used instead: the centred Gram matrix
    ``K = X_c X_c'`` (N x N) is accumulated block by block, ``K = U diag(s) U'``, and
    ``coef = X_c' U diag(1/(s + alpha)) U' y_c`` (memory O(N²)); both give the same solution.
    ``method`` forces ``"primal"`` or ``"dual"``.

    Returns ``{"kind": "ridge", "coef": (L, 4) float64, "intercept": float, "alpha": float,
    "alphas": (k,) float64, "valid_r2": (k,) float64 (NaN when undefined),
    "input_shape": (L, 4) int}``.
    """
    alphas = np.asarray(SCHEMA["alphas"]["default"] if alphas is None else alphas, float)
    if alphas.ndim != 1 or len(alphas) == 0 or np.any(alphas <= 0):
        raise ValueError("alphas must be a non-empty list of positive numbers")
    y_train = np.asarray(y_train, dtype=np.float64)
    y_valid = np.asarray(y_valid, dtype=np.float64)
    n = len(x_train)
    if n != len(y_train) or len(x_valid) != len(y_valid):
        raise ValueError("x and y must have the same number of rows")
    if n < 2:
        raise ValueError("ridge needs at least 2 training samples")
    shape = tuple(int(s) for s in x_train.shape[1:])
    p = int(np.prod(shape))
    if method not in ("auto", "primal", "dual"):
        raise ValueError(f"method must be 'auto', 'primal' or 'dual', got {method!r}")
    if method == "dual" or (method == "auto" and n < p):
        return _fit_ridge_dual(x_train, y_train, x_valid, y_valid, alphas, batch_size, shape)
    xtx = np.zeros((p, p))
    xty = np.zeros(p)
    xsum = np.zeros(p)
    start = 0
    for b in _batches(x_train, batch_size):
        yb = y_train[start:start + len(b)]
        start += len(b)
        xtx += b.T @ b
        xty += b.T @ yb
        xsum += b.sum(axis=0)
    xmean = xsum / n
    ymean = float(y_train.mean())
    xtx -= n * np.outer(xmean, xmean)
    xty -= n * xmean * ymean
    lam, vecs = np.linalg.eigh((xtx + xtx.T) / 2)
    lam = np.clip(lam, 0.0, None)
    proj = vecs.T @ xty                                    # (p,)
    # Validation predictions for every alpha at once: (X_v - mean) V diag(1/(lam+a)) proj.
    scores = np.zeros((len(y_valid), len(alphas)))
    start = 0
    for b in _batches(x_valid, batch_size):
        z = (b - xmean) @ vecs                             # (batch, p)
        scores[start:start + len(b)] = z @ (proj[:, None] / (lam[:, None] + alphas[None, :]))
        start += len(b)
    valid_r2, alpha = _choose_alpha(y_valid, scores + ymean, alphas)
    coef = vecs @ (proj / (lam + alpha))
    intercept = ymean - float(xmean @ coef)
    return {"kind": KIND, "coef": coef.reshape(shape), "intercept": float(intercept),
            "alpha": alpha, "alphas": alphas, "valid_r2": valid_r2,
            "input_shape": np.asarray(shape)}


def _choose_alpha(y_valid, predictions, alphas):
    """Validation R² per alpha (columns of ``predictions``) and the best alpha."""
    valid_r2 = np.array([_r2(y_valid, predictions[:, k]) for k in range(len(alphas))])
    if np.all(np.isnan(valid_r2)):
        best = int(np.argmin(np.abs(np.log(alphas) - np.log(np.median(alphas)))))
    else:
        best = int(np.nanargmax(valid_r2))
    return valid_r2, float(alphas[best])


def _fit_ridge_dual(x_train, y_train, x_valid, y_valid, alphas, batch_size, shape) -> dict:
    """Dual (kernel) form of :func:`fit_ridge` for N < p; memory O(N² + batch x p), with
    blocks of at most :data:`BLOCK_BYTES` (on 10,346 markers, blocks of every sample peaked at
    2.5 GB)."""
    n = len(x_train)
    p = int(np.prod(shape))
    batch_size = max(1, min(int(batch_size), BLOCK_BYTES // (8 * p)))
    starts = list(range(0, n, batch_size))
    xsum = np.zeros(p)
    for b in _batches(x_train, batch_size):
        xsum += b.sum(axis=0)
    xmean = xsum / n
    ymean = float(y_train.mean())
    yc = y_train - ymean

    def block(x, start):
        b = np.array(x[start:start + batch_size], dtype=np.float64).reshape(-1, p)
        b -= xmean
        return b

    gram = np.zeros((n, n))
    for i, si in enumerate(starts):
        bi = block(x_train, si)
        for sj in starts[i:]:
            bj = bi if sj == si else block(x_train, sj)
            k = bi @ bj.T
            gram[si:si + len(bi), sj:sj + len(bj)] = k
            gram[sj:sj + len(bj), si:si + len(bi)] = k.T
    s, u = np.linalg.eigh(gram)
    s = np.clip(s, 0.0, None)
    uy = u.T @ yc
    scores = np.zeros((len(y_valid), len(alphas)))
    for sv in range(0, len(y_valid), batch_size):
        bv = block(x_valid, sv)
        kv = np.zeros((len(bv), n))
        for sj in starts:
            bj = block(x_train, sj)
            kv[:, sj:sj + len(bj)] = bv @ bj.T
        scores[sv:sv + len(bv)] = (kv @ u) @ (uy[:, None] / (s[:, None] + alphas[None, :]))
    valid_r2, alpha = _choose_alpha(y_valid, scores + ymean, alphas)
    a = u @ (uy / (s + alpha))
    coef = np.zeros(int(np.prod(shape)))
    for sj in starts:
        bj = block(x_train, sj)
        coef += bj.T @ a[sj:sj + len(bj)]
    intercept = ymean - float(xmean @ coef)
    return {"kind": KIND, "coef": coef.reshape(shape), "intercept": float(intercept),
            "alpha": alpha, "alphas": alphas, "valid_r2": valid_r2,
            "input_shape": np.asarray(shape)}


def predict_ridge(params: dict, x, batch_size: int = 4096) -> np.ndarray:
    """Predictions (original phenotype scale), shape ``(N,)`` float64, for ``x`` (N x L x 4)."""
    coef = np.asarray(params["coef"], dtype=np.float64).reshape(-1)
    if tuple(x.shape[1:]) != tuple(np.asarray(params["coef"]).shape):
        raise ValueError(f"ridge model expects inputs of shape (N, "
                         f"{', '.join(map(str, np.asarray(params['coef']).shape))}), "
                         f"got {tuple(x.shape)}")
    out = np.empty(len(x))
    start = 0
    for b in _batches(x, batch_size):
        out[start:start + len(b)] = b @ coef + float(params["intercept"])
        start += len(b)
    return out


def save_ridge(path: str | os.PathLike, params: dict) -> None:
    """Write ridge parameters to an ``.npz`` (atomically: a temporary file, then rename)."""
    write_npz(path, KIND, coef=params["coef"], intercept=params["intercept"], alpha=params["alpha"],
              alphas=params["alphas"], valid_r2=params["valid_r2"],
              input_shape=np.asarray(params["coef"]).shape)


def load_ridge(path: str | os.PathLike) -> dict:
    """Read parameters written by :func:`save_ridge`; same keys as :func:`fit_ridge` returns."""
    with np.load(path) as z:
        return {"kind": KIND, "coef": z["coef"], "intercept": float(z["intercept"]), "alpha": float(z["alpha"]),
                "alphas": z["alphas"], "valid_r2": z["valid_r2"],
                "input_shape": z["input_shape"]}
