"""What every model kind shares: spec errors and validation, and the rows a model reads.

A *kind* (``seq2pheno.models.cnn``, ``.ridge``, ...) is a module with this contract:

- ``KIND`` (the ``type:`` in config), ``ARTEFACT`` (the file it writes under
  ``models/{model}/``), ``GPU`` (True when training belongs on a GPU node),
  ``INTERPRETATION`` (``"ism"``: ISM, filters and epistasis of a network; ``"coefficients"``:
  the model's own effects per position and base, or per marker), ``LINEAR`` (True for the
  linear baselines a network is compared with);
- ``SCHEMA``: JSON-schema ``properties`` of its spec keys, each with its ``default``
  (one place for keys, types, ranges and defaults; the config schema is built from it);
- ``PRESETS``: ready-made entries by name (each with ``type``);
- ``validate(spec, name) -> spec``: checks beyond the schema (may be the identity);
- ``fit(train: Rows, valid: Rows, spec, *, seed, log) -> (model, history DataFrame)``;
- ``predict(model, rows: Rows) -> (n samples,) float64`` on the original phenotype scale;
- ``save(model, path)`` (atomic) and ``load(path) -> model``;
- ``effects(model) -> (L, C) float64 or None``: per position and channel effects for kinds
  whose interpretation is their coefficients.

:class:`Rows` is what ``fit`` and ``predict`` read: rows of the cohort's tensor
(``N x L x C``, an array or :class:`seq2pheno.tensorfile.TensorFile`), with each sample's
``k`` rows consecutive (``k = 2`` for haplotype tensors), and per-sample phenotypes/weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class SpecError(ValueError):
    """An invalid model spec; the message names the model and the offending key."""


# ---- spec validation from a kind's SCHEMA ---------------------------------------------------


def defaults_of(schema: dict) -> dict:
    """The ``default`` of every property of a ``properties`` mapping (deep-copied)."""
    return {k: copy.deepcopy(v["default"]) for k, v in schema.items() if "default" in v}


def _path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts)


def check_schema(spec: dict, properties: dict, name: str, kind: str) -> None:
    """Validate ``spec`` against ``{type: object, properties, additionalProperties: false}``.

    Raises :class:`SpecError` naming the model, the key path and what was expected; an
    unknown key is reported before anything else.
    """
    import jsonschema

    unknown = sorted(set(spec) - set(properties) - {"type"})
    if unknown:
        raise SpecError(f"model {name!r}: unknown key(s) {unknown} for a {kind} model; "
                        f"allowed: {sorted(set(properties))}")
    schema = {"type": "object", "properties": properties}
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(spec))
    if error is not None:
        where = _path(error)
        raise SpecError(f"model {name!r}: {where or 'spec'}: {error.message}")


def fill_layers(layers: list, layer_schema: dict) -> list[dict]:
    """Each layer mapping completed with the defaults of ``layer_schema`` (its properties)."""
    out = []
    for layer in layers:
        full = defaults_of(layer_schema["properties"])
        full.update(layer if isinstance(layer, dict) else {})
        out.append(full)
    return out


# ---- rows of the tensor ---------------------------------------------------------------------


def take_rows(x, idx: np.ndarray) -> np.ndarray:
    """``np.asarray(x[idx], float32)`` reading rows in sorted order (fast on files)."""
    idx = np.asarray(idx, dtype=np.int64)
    if len(idx) == 0:
        return np.zeros((0,) + tuple(x.shape[1:]), dtype=np.float32)
    order = np.argsort(idx, kind="stable")
    sorted_rows = np.asarray(x[idx[order]], dtype=np.float32)
    out = np.empty_like(sorted_rows)
    out[order] = sorted_rows
    return out


class IndexedRows:
    """Read-only view ``x[idx]`` of an ``N x L x C`` array without copying it.

    Slicing with a ``slice`` reads only those rows (in sorted order from disk, returned in the
    order of ``idx``). ``shape`` is ``(len(idx), L, C)``.
    """

    def __init__(self, x, idx):
        self.x = x
        self.idx = np.asarray(idx, dtype=np.int64)
        self.shape = (len(self.idx),) + tuple(x.shape[1:])
        self.dtype = np.float32

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("IndexedRows supports slices only")
        return take_rows(self.x, self.idx[key])


class SampleMeanRows:
    """Read-only view of each sample's mean tensor row: ``x[rows].reshape(n, k, L, C).mean(1)``.

    rows: the ``n * k`` tensor rows of ``n`` samples, each sample's ``k`` rows consecutive.
    Supports ``len``, ``shape`` and contiguous slices, like :class:`IndexedRows`. For a linear
    model the prediction of the mean row is the mean of the rows' predictions.
    """

    def __init__(self, x, rows, k: int):
        self.x, self.k = x, int(k)
        self.rows = np.asarray(rows, dtype=np.int64)
        if len(self.rows) % self.k:
            raise ValueError(f"{len(self.rows)} rows are not a multiple of {self.k}")
        self.shape = (len(self.rows) // self.k,) + tuple(x.shape[1:])
        self.dtype = np.float32

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("SampleMeanRows supports contiguous slices only")
        start, stop, _ = key.indices(len(self))
        b = take_rows(self.x, self.rows[start * self.k:max(start, stop) * self.k])
        return b.reshape((-1, self.k) + tuple(self.x.shape[1:])).mean(axis=1)


@dataclass
class Rows:
    """Samples of a cohort as rows of its tensor.

    x: ``N x L x C`` tensor (array-like indexed by an int array); rows: int64 ``(n * k,)``
    tensor rows, sample ``i``'s ``k`` rows at ``rows[i*k:(i+1)*k]``; y: ``(n,)`` phenotypes on
    the original scale (None for prediction); weights: ``(n,)`` training weights or None;
    ids: ``(n,)`` sample ids (optional, for logs).
    """

    x: Any
    rows: np.ndarray
    y: np.ndarray | None = None
    weights: np.ndarray | None = None
    k: int = 1
    ids: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.rows = np.asarray(self.rows, dtype=np.int64).reshape(-1)
        if len(self.rows) % self.k:
            raise ValueError(f"{len(self.rows)} rows are not a multiple of {self.k} rows per sample")
        if self.y is not None:
            self.y = np.asarray(self.y, dtype=np.float64).reshape(-1)
            if len(self.y) != len(self):
                raise ValueError(f"{len(self)} samples but {len(self.y)} phenotypes")
        if self.weights is not None:
            self.weights = np.asarray(self.weights, dtype=np.float64).reshape(-1)
            if len(self.weights) != len(self):
                raise ValueError(f"{len(self)} samples but {len(self.weights)} weights")

    def __len__(self) -> int:
        return len(self.rows) // self.k

    @property
    def shape(self) -> tuple:
        """``(n samples, L, C)``."""
        return (len(self),) + tuple(self.x.shape[1:])

    def per_row(self, values) -> np.ndarray:
        """A per-sample array repeated to one value per tensor row."""
        return np.repeat(np.asarray(values), self.k)

    def per_sample(self, values) -> np.ndarray:
        """Per-row values averaged to one per sample (float64)."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        return v.reshape(-1, self.k).mean(axis=1)

    def row_view(self) -> IndexedRows:
        """Every tensor row (``n * k``), sliceable without loading the tensor."""
        return IndexedRows(self.x, self.rows)

    def sample_view(self):
        """One row per sample (the mean of its ``k`` rows), sliceable without loading."""
        return IndexedRows(self.x, self.rows) if self.k == 1 else SampleMeanRows(self.x, self.rows, self.k)

    def matrix(self, dtype=np.float32, batch: int = 4096) -> np.ndarray:
        """The samples' mean rows flattened: ``(n, L * C)`` in memory."""
        view = self.sample_view()
        out = np.empty((len(self), int(np.prod(self.shape[1:]))), dtype=dtype)
        for s in range(0, len(self), batch):
            b = view[s:s + batch]
            out[s:s + len(b)] = b.reshape(len(b), -1)
        return out


def informative_columns(x_train: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Columns of a flattened ``(n, L*C)`` one-hot or allele-composition matrix that carry
    information: non-constant in the training rows, and per position one channel fewer than
    the non-constant channels (channels of a position sum to one, so the last is redundant).

    Returns int64 column indices (sorted). A biallelic marker keeps one column (half its
    allele dosage); a sequence position where all four bases occur keeps three.
    """
    var = x_train.var(axis=0)
    keep = var > tol
    n_cols = x_train.shape[1]
    if n_cols % 4 == 0:
        k = keep.reshape(-1, 4).copy()
        last = np.where(k.any(axis=1), 3 - np.argmax(k[:, ::-1], axis=1), -1)
        rows = np.flatnonzero((k.sum(axis=1) >= 2) & (last >= 0))
        k[rows, last[rows]] = False
        keep = k.reshape(-1)
    return np.flatnonzero(keep).astype(np.int64)


# ---- artefacts ------------------------------------------------------------------------------


def write_npz(path, kind: str, **arrays) -> None:
    """A model's arrays as an ``.npz`` that records its ``kind``, written atomically."""
    from ..atomic import atomic_path

    with atomic_path(path) as tmp:
        np.savez(tmp, kind=np.asarray(kind), **{k: np.asarray(v) for k, v in arrays.items()})


def attach_held_out(model: dict, valid: Rows, predicted) -> dict:
    """Record validation predictions made by a fit that did not see the validation samples.

    Kinds whose final model is fitted on training *and* validation samples (gblup, sparse)
    would otherwise be judged on validation samples they were fitted on: their validation
    R² would be in-sample, win every choice made on validation and make conformal intervals
    (calibrated on validation residuals) too narrow. ``predicted``: ``(len(valid),)`` from a
    fit on the training samples alone; stored as ``valid_ids`` / ``valid_predicted``
    (:func:`held_out_predictions` reads them back)."""
    ids = valid.ids if valid.ids is not None else np.arange(len(valid))
    model["valid_ids"] = np.asarray(ids).astype(str)
    model["valid_predicted"] = np.asarray(predicted, dtype=np.float64).reshape(-1)
    return model


def held_out_predictions(model) -> pd.Series | None:
    """Validation predictions of a fit without the validation samples (id -> prediction), or
    None when the model's own predictions of them are held out already (every kind fitted on
    training samples only). A refitted network (``refit``) carries the same two arrays in its
    ``held_out`` attribute."""
    if not isinstance(model, dict):
        model = getattr(model, "held_out", None) or {}
    if model.get("valid_ids") is None:
        return None
    return pd.Series(np.asarray(model["valid_predicted"], dtype=np.float64),
                     index=np.asarray(model["valid_ids"]).astype(str))


_HELD_OUT = ("valid_ids", "valid_predicted")


def save_linear(path, kind: str, model: dict, scalars) -> None:
    """A linear model over informative columns (``coef`` (L, C), ``columns``, ``input_shape``,
    the named ``scalars`` and any held-out validation predictions) as an ``.npz`` (gblup,
    sparse)."""
    held = {k: model[k] for k in _HELD_OUT if model.get(k) is not None}
    write_npz(path, kind, coef=model["coef"], columns=np.asarray(model["columns"], dtype=np.int64),
              input_shape=model["input_shape"], **{k: model[k] for k in scalars}, **held)


def load_linear(path, kind: str, scalars) -> dict:
    """What :func:`save_linear` wrote, with the scalars as Python numbers."""
    with np.load(path) as z:
        model = {"kind": kind, "coef": z["coef"], "columns": z["columns"], "input_shape": z["input_shape"]}
        model.update({k: z[k].item() for k in scalars})
        model.update({k: z[k] for k in _HELD_OUT if k in z.files})
    return model
