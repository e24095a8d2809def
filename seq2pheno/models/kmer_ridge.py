"""Ridge regression on k-mer counts (``type: kmer_ridge``): a position-free baseline.

Features are the k-mer counts of each tensor row (:func:`seq2pheno.kmers.kmer_counts`: ``k``
a list of k-mer lengths, ``strand`` forward / both / canonical; fractional counts for ``N``
or heterozygous rows). With ``standardize`` every feature is centred and divided by its
training SD (constant features get SD 1), so the penalty treats the k-mer lengths alike;
by default the raw counts are used: on one 70/15/15 split (seed 0) raw counts predicted
better on both real sequence cohorts (test Pearson r, raw vs standardised, strand both:
yeast promoters 0.606 vs 0.603, WTC11 lentiMPRA 0.521 vs 0.515; forward strand only:
0.612 / 0.485, so ``both`` is the default). The ridge itself is
:func:`seq2pheno.models.ridge.fit_ridge` on the ``(n, F, 1)`` feature view, the penalty
chosen by validation R² among ``alphas``.

The artefact ``model.npz`` records ``kind``, the coefficients per feature (``coef``, on the
standardised scale when ``standardize``), ``center``, ``scale``, ``sd`` (training SD of each count), ``intercept``, ``k``,
``strand`` and the alpha search. Coefficients are per k-mer, not per position:
:func:`effects` returns None and :func:`top_kmers` lists the k-mers with the largest
effects for the report.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from .. import kmers
from .base import Rows, write_npz
from .ridge import fit_ridge

KIND = "kmer_ridge"
ARTEFACT = "model.npz"
GPU = False
INTERPRETATION = "coefficients"
LINEAR = True

SCHEMA = {
    "k": {"type": "array", "minItems": 1, "uniqueItems": True,
          "items": {"type": "integer", "minimum": 1, "maximum": 8},
          "default": [1, 2, 3, 4, 5], "description": "k-mer lengths counted"},
    "strand": {"enum": list(kmers.STRANDS), "default": "both",
               "description": "forward counts, plus the reverse complement's (both), or "
                              "k-mers merged with their reverse complement (canonical)"},
    "standardize": {"type": "boolean", "default": False,
                    "description": "centre and scale each count feature by its training SD"},
    "alphas": {
        "type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0},
        "default": [1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0,
                    100000.0, 300000.0, 1000000.0],
        "description": "penalties tried; the one with the best validation R² is kept",
    },
}
PRESETS = {"kmer_ridge": {"type": "kmer_ridge"}}


def validate(spec: dict, name: str) -> dict:
    spec["alphas"] = [float(a) for a in spec["alphas"]]
    spec["k"] = [int(k) for k in spec["k"]]
    return spec


def _features(x, spec_or_model) -> np.ndarray:
    return kmers.kmer_counts(x, list(spec_or_model["k"]), strand=str(spec_or_model["strand"]),
                             dtype=np.float64)


def fit(train: Rows, valid: Rows, spec: dict, *, seed: int = 0, log=None):
    """Ridge on the k-mer counts of every training tensor row (each row one example with its
    sample's phenotype); alpha chosen on the validation samples (mean prediction of their
    rows). Returns (model dict, history with alpha, valid_r2, chosen)."""
    ft = _features(train.row_view(), spec)
    fv = _features(valid.row_view(), spec)
    sd = ft.std(axis=0)
    if spec["standardize"]:
        center = ft.mean(axis=0)
        scale = np.where(sd <= 1e-12, 1.0, sd)
    else:
        center = np.zeros(ft.shape[1])
        scale = np.ones(ft.shape[1])
    zt = ((ft - center) / scale)[:, :, None]
    zv = ((fv - center) / scale)
    if valid.k > 1:                     # a sample's features: the mean of its rows'
        zv = zv.reshape(len(valid), valid.k, -1).mean(axis=1)
    params = fit_ridge(zt, train.per_row(train.y), zv[:, :, None], valid.y, spec["alphas"])
    model = {"kind": KIND, "coef": params["coef"].reshape(-1), "intercept": params["intercept"],
             "center": center, "scale": scale, "sd": sd, "k": np.asarray(spec["k"], dtype=np.int64),
             "strand": str(spec["strand"]), "alpha": params["alpha"],
             "alphas": params["alphas"], "valid_r2": params["valid_r2"],
             "input_shape": np.asarray(train.shape[1:])}
    history = pd.DataFrame({"alpha": params["alphas"], "valid_r2": params["valid_r2"]})
    history["chosen"] = history["alpha"] == params["alpha"]
    if log is not None:
        log.info("kmer_ridge: %d features (k %s, %s), alpha %g chosen on validation R² %.4f",
                 len(center), list(spec["k"]), spec["strand"], params["alpha"],
                 np.nanmax(params["valid_r2"]) if np.isfinite(params["valid_r2"]).any()
                 else float("nan"))
    return model, history


def predict(model: dict, rows: Rows) -> np.ndarray:
    """(n,) predictions per sample (the mean over its rows), original scale."""
    f = _features(rows.row_view(), model)
    pred = ((f - model["center"]) / model["scale"]) @ np.asarray(model["coef"]) + float(model["intercept"])
    return rows.per_sample(pred)


def save(model: dict, path) -> None:
    """Write the model to an ``.npz`` (atomically: a temporary file, then rename)."""
    write_npz(path, KIND, **{key: model[key] for key in ("coef", "intercept", "center", "scale", "sd",
                                                       "strand", "alpha", "alphas", "valid_r2", "input_shape")},
              k=np.asarray(model["k"], dtype=np.int64))


def load(path) -> dict:
    with np.load(path) as z:
        return {"kind": KIND, "coef": z["coef"], "intercept": float(z["intercept"]),
                "center": z["center"], "scale": z["scale"], "sd": z["sd"], "k": z["k"],
                "strand": str(z["strand"]), "alpha": float(z["alpha"]), "alphas": z["alphas"],
                "valid_r2": z["valid_r2"], "input_shape": z["input_shape"]}


def effects(model: dict):
    """None: k-mer coefficients are not per position (see :func:`top_kmers`)."""
    return None


def top_kmers(model: dict, n: int = 20) -> pd.DataFrame:
    """The ``n`` k-mers with the largest |effect|: ``kmer``, ``k``, ``effect_per_count``
    (phenotype units per additional occurrence), ``effect_per_sd`` (per training SD of the
    count; equals the fitted coefficient when standardised), ``rank`` (1 = largest)."""
    names = kmers.kmer_names(list(model["k"]), str(model["strand"]))
    coef = np.asarray(model["coef"], dtype=np.float64)
    scale = np.asarray(model["scale"], dtype=np.float64)
    per_count = coef / scale
    per_sd = per_count * np.asarray(model["sd"], dtype=np.float64)
    order = np.argsort(-np.abs(per_sd), kind="stable")[:n]
    return pd.DataFrame({"kmer": [names[i] for i in order],
                         "k": [len(names[i]) for i in order],
                         "effect_per_count": per_count[order],
                         "effect_per_sd": per_sd[order],
                         "rank": np.arange(1, len(order) + 1)})
