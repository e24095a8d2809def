"""The registry of model kinds: one module per kind, one mapping every caller asks.

``KINDS`` maps each ``type:`` of the config to its module (contract in
:mod:`seq2pheno.models.base`). Rules, steps, prediction and the report ask the registry for
a model's kind, artefact, resource class and interpretation; nothing else decides them.
Adding a kind is one module in this package (found by :func:`_discover`): its ``SCHEMA``
enters the config schema (:func:`config_schema`), its ``PRESETS`` the preset names, and the
rules pick its resource class and artefact from it.

A config entry becomes a complete spec with :func:`resolve_spec`: ``preset: NAME`` (or an
entry named like a preset) starts from that preset, the entry's own keys override it (a
layer list replaces the preset's as a whole), and the kind's defaults fill the rest.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
from types import ModuleType

import numpy as np

from .base import (IndexedRows, Rows, SampleMeanRows, SpecError, check_schema, defaults_of,
                   held_out_predictions, take_rows)

#: Modules of this package that are not kinds.
_NOT_KINDS = {"base"}


def _discover() -> dict[str, ModuleType]:
    """Every module of this package that defines ``KIND``, by kind name (sorted by module)."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _NOT_KINDS or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f".{info.name}", __name__)
        if hasattr(mod, "KIND"):
            found[mod.KIND] = mod
    return found


KINDS: dict[str, ModuleType] = _discover()

#: Every preset of every kind, by name (each carries its ``type``).
PRESETS: dict[str, dict] = {name: preset for mod in KINDS.values() for name, preset in mod.PRESETS.items()}

#: Keys of a model entry that are not the kind's own spec keys.
ENTRY_KEYS = {"type", "preset", "candidates", "search", "ensemble"}


def kind_name(entry: dict | None, name: str) -> str:
    """The kind (``type``) a config entry ``name`` resolves to."""
    entry = entry or {}
    if entry.get("type") is not None:
        return entry["type"]
    preset = entry.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            raise SpecError(f"model {name!r}: unknown preset {preset!r}; known: {sorted(PRESETS)}")
        return PRESETS[preset]["type"]
    if name in PRESETS:
        return PRESETS[name]["type"]
    return "cnn"


def kind(entry_or_spec: dict | None, name: str = "model") -> ModuleType:
    """The kind module of a config entry or resolved spec."""
    k = kind_name(entry_or_spec, name)
    if k not in KINDS:
        raise SpecError(f"model {name!r}: type must be one of {sorted(KINDS)}, got {k!r}")
    return KINDS[k]


def resolve_spec(name: str, spec: dict | None = None) -> dict:
    """Complete, validated spec (with ``type``) for the config entry ``name``.

    Raises :class:`SpecError` (a ``ValueError``) naming the model and the offending key.
    """
    if spec is not None and not isinstance(spec, dict):
        raise SpecError(f"model {name!r}: spec must be a mapping, got {spec!r}")
    spec = {} if spec is None else copy.deepcopy(dict(spec))
    mod = kind(spec, name)
    spec.pop("candidates", None)        # a choice among presets: resolved by the workflow
    spec.pop("search", None)            # a search over the spec: run by the workflow (search.py)
    spec.pop("ensemble", None)          # members trained as jobs by the workflow (ensemble.py)
    preset = spec.pop("preset", None)
    if preset is not None:
        base = copy.deepcopy(PRESETS[preset])
        if base["type"] != mod.KIND:
            raise SpecError(f"model {name!r}: preset {preset!r} is a {base['type']} model, "
                            f"not {mod.KIND}")
    elif name in PRESETS and PRESETS[name]["type"] == mod.KIND:
        base = copy.deepcopy(PRESETS[name])
    else:
        base = {}
    base.pop("type", None)
    spec.pop("type", None)
    base.update(spec)
    check_schema(base, mod.SCHEMA, name, mod.KIND)
    full = defaults_of(mod.SCHEMA)
    full.update(base)
    full = mod.validate(full, name)
    return {"type": mod.KIND, **full}


def load_trained(path, kind_name_: str | None = None):
    """A trained model from its artefact. The kind is ``kind_name_`` when given, else the one
    the artefact records (``kind`` inside an ``.npz``, a ``.keras`` file is a CNN)."""
    if kind_name_ is None:
        kind_name_ = artefact_kind(path)
    return KINDS[kind_name_].load(path)


def artefact_kind(path) -> str:
    """The kind recorded in an artefact file."""
    p = str(path)
    if p.endswith(".keras"):
        return "cnn"
    if p.endswith(".npz"):
        with np.load(p) as z:
            if "kind" in z.files:
                return str(z["kind"])
            if "coef" in z.files:       # written before kinds were recorded
                return "ridge"
    raise SpecError(f"{p}: cannot tell which kind of model wrote this file")


def kind_of_model(model) -> str:
    """The kind of a trained model object: dict models record theirs (``kind``), Keras
    models are CNNs."""
    if isinstance(model, dict):
        if "kind" not in model:
            raise SpecError("a trained model dict must record its 'kind'")
        return str(model["kind"])
    return "cnn"


def predict(model, rows: Rows) -> np.ndarray:
    """(n samples,) predictions of any trained model on the original phenotype scale."""
    return KINDS[kind_of_model(model)].predict(model, rows)


def config_schema() -> dict:
    """The JSON schema of a ``models:`` entry, built from every kind's ``SCHEMA``.

    Keys are the union over kinds (with their types and ranges, no defaults: those depend on
    the kind); :func:`resolve_spec` then rejects keys that the entry's kind does not take.
    """
    props: dict[str, dict] = {
        "preset": {"enum": sorted(PRESETS)},
        "type": {"enum": sorted(KINDS)},
        "candidates": {"type": "array", "minItems": 1, "items": {"enum": sorted(PRESETS)},
                       "description": "presets to choose among by validation loss (as `default` does)"},
        "search": _search_schema(),
        "ensemble": _ensemble_schema(),
    }
    for mod in KINDS.values():
        for key, sub in mod.SCHEMA.items():
            sub = _strip_defaults(sub)
            if key in props and props[key] != sub:
                prev = props[key]["anyOf"] if "anyOf" in props[key] else [props[key]]
                if sub not in prev:
                    props[key] = {"anyOf": prev + [sub]}
            else:
                props.setdefault(key, sub)
    return {"type": "object", "additionalProperties": False, "properties": props}


def _search_schema() -> dict:
    from ..search import SEARCH_SCHEMA

    return _strip_defaults(SEARCH_SCHEMA)


def _ensemble_schema() -> dict:
    from ..ensemble import ENSEMBLE_SCHEMA

    return _strip_defaults(ENSEMBLE_SCHEMA)


def _strip_defaults(schema):
    if isinstance(schema, dict):
        return {k: _strip_defaults(v) for k, v in schema.items() if k not in ("default", "description")}
    if isinstance(schema, list):
        return [_strip_defaults(v) for v in schema]
    return schema


# Backwards-compatible names: the CNN builder and the ridge functions, where callers expect them.
from .cnn import DEFAULTS, build_cnn  # noqa: E402
from .ridge import fit_ridge, load_ridge, predict_ridge, save_ridge  # noqa: E402

__all__ = ["KINDS", "PRESETS", "Rows", "IndexedRows", "SampleMeanRows", "SpecError", "take_rows",
           "held_out_predictions",
           "resolve_spec", "kind", "kind_of_model", "predict", "kind_name", "load_trained", "artefact_kind", "config_schema",
           "build_cnn", "fit_ridge", "predict_ridge", "save_ridge", "load_ridge", "DEFAULTS"]
