"""The contract every model kind of the registry keeps (seq2pheno/models/base.py).

One parametrised test per promise, over every entry of ``KINDS``: a kind added to the package
is tested here without a line changed (tangermeme's shared toy models are the pattern).
"""

import importlib
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from seq2pheno import models
from seq2pheno.models import KINDS, Rows, resolve_spec

#: Small settings so every kind fits in seconds on two cores.
FAST = {"cnn": {"conv": [{"filters": 4, "kernel_size": 3}], "dense": [{"units": 8}], "epochs": 3,
                "batch_size": 32},
        "boosted": {"n_estimators": 30}}


def toy_cohort(n=160, length=24, seed=0):
    """One-hot sequences whose phenotype is additive in four positions."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length))
    x = np.eye(4, dtype=np.float32)[codes]
    effect = rng.normal(0, 1, size=(length, 4)) * (rng.random(length) < 0.2)[:, None]
    y = (x * effect).sum(axis=(1, 2)) + rng.normal(0, 0.3, n)
    return x, y


def split_rows(x, y):
    idx = np.arange(len(y))
    tr, va, te = idx[:100], idx[100:130], idx[130:]
    return (Rows(x, tr, y=y[tr], weights=np.ones(len(tr))), Rows(x, va, y=y[va]),
            Rows(x, te, y=y[te]))


def spec_of(kind):
    name = next(n for n, p in models.PRESETS.items() if p["type"] == kind)
    return name, resolve_spec(name, FAST.get(kind, {}))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Every kind fitted once on the toy cohort: kind -> (model, history, spec, test rows)."""
    x, y = toy_cohort()
    train, valid, test = split_rows(x, y)
    out = {}
    for kind, mod in KINDS.items():
        _, spec = spec_of(kind)
        model, history = mod.fit(train, valid, spec, seed=3)
        out[kind] = (model, history, spec, test)
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_kind_declares_the_contract(kind):
    mod = KINDS[kind]
    assert mod.KIND == kind
    assert isinstance(mod.ARTEFACT, str) and mod.ARTEFACT.startswith("model.")
    assert isinstance(mod.GPU, bool) and isinstance(mod.LINEAR, bool)
    assert mod.INTERPRETATION in ("ism", "coefficients", "none")
    assert all("default" in sub for sub in mod.SCHEMA.values()), "every key has its default"
    assert all(p["type"] == kind for p in mod.PRESETS.values()) and mod.PRESETS
    for f in ("validate", "fit", "predict", "save", "load", "effects"):
        assert callable(getattr(mod, f)), f


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fit_predicts_one_value_per_sample(kind, fitted):
    model, history, _, test = fitted[kind]
    pred = KINDS[kind].predict(model, test)
    assert pred.shape == (len(test),) and pred.dtype == np.float64 and np.isfinite(pred).all()
    assert isinstance(history, pd.DataFrame) and len(history) >= 1
    assert models.kind_of_model(model) == kind


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_save_and_load_give_the_same_predictions(kind, fitted, tmp_path):
    mod = KINDS[kind]
    model, _, _, test = fitted[kind]
    path = tmp_path / mod.ARTEFACT
    mod.save(model, path)
    assert models.artefact_kind(path) == kind, "the artefact records its kind"
    again = models.load_trained(path)
    np.testing.assert_allclose(mod.predict(again, test), mod.predict(model, test), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_same_seed_gives_the_same_model(kind, fitted):
    x, y = toy_cohort()
    train, valid, test = split_rows(x, y)
    model, _, spec, _ = fitted[kind]
    again, _ = KINDS[kind].fit(train, valid, spec, seed=3)
    np.testing.assert_allclose(KINDS[kind].predict(again, test), KINDS[kind].predict(model, test),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fit_never_reads_test_rows(kind):
    """Test rows of the tensor are NaN: a kind that read them would predict NaN for training rows."""
    x, y = toy_cohort()
    x = x.copy()
    x[130:] = np.nan
    train, valid, _ = split_rows(x, y)
    _, spec = spec_of(kind)
    model, _ = KINDS[kind].fit(train, valid, spec, seed=0)
    assert np.isfinite(KINDS[kind].predict(model, train)).all()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_effects_are_per_position_and_channel_or_none(kind, fitted):
    model, _, _, _ = fitted[kind]
    eff = KINDS[kind].effects(model)
    assert eff is None or np.asarray(eff).shape == (24, 4)
    if KINDS[kind].INTERPRETATION == "coefficients" and KINDS[kind].LINEAR and kind != "kmer_ridge":
        assert eff is not None


TOY_KIND = '''
"""A toy kind: the training mean, to show that a kind is one module."""
import numpy as np
import pandas as pd

KIND = "toy_mean"
ARTEFACT = "model.npz"
GPU = False
LINEAR = True
INTERPRETATION = "coefficients"
SCHEMA = {"shrink": {"type": "number", "minimum": 0, "default": 0.0}}
PRESETS = {"toy_mean": {"type": "toy_mean"}}


def validate(spec, name):
    return spec


def fit(train, valid, spec, *, seed=0, log=None):
    return {"kind": KIND, "mean": float(np.mean(train.y))}, pd.DataFrame({"mean": [np.mean(train.y)]})


def predict(model, rows):
    return np.full(len(rows), model["mean"])


def save(model, path):
    np.savez(path, kind=np.asarray(KIND), mean=model["mean"])


def load(path):
    with np.load(path) as z:
        return {"kind": KIND, "mean": float(z["mean"])}


def effects(model):
    return None
'''


def test_a_new_kind_is_one_module(tmp_path, monkeypatch):
    """Dropping one module into the package makes a kind the config schema, the presets and the
    resolver know; removing it makes it unknown again."""
    from seq2pheno.config import validate_config
    from seq2pheno.errors import InputError

    path = tmp_path / "toy_mean.py"
    path.write_text(textwrap.dedent(TOY_KIND))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(models, "__path__", list(models.__path__) + [str(tmp_path)])
    sys.modules.pop("seq2pheno.models.toy_mean", None)
    found = models._discover()
    assert "toy_mean" in found
    monkeypatch.setattr(models, "KINDS", found)
    monkeypatch.setattr(models, "PRESETS", {n: p for m in found.values() for n, p in m.PRESETS.items()})
    assert resolve_spec("toy_mean") == {"type": "toy_mean", "shrink": 0.0}
    config = validate_config({"cohorts": {"a": {"source": "table", "table": "x.csv"}},
                              "models": {"m": {"type": "toy_mean", "shrink": 0.5}}})
    assert config["models"]["m"]["shrink"] == 0.5
    monkeypatch.undo()
    sys.modules.pop("seq2pheno.models.toy_mean", None)
    importlib.invalidate_caches()
    assert "toy_mean" not in models._discover()
    with pytest.raises(InputError, match="toy_mean"):
        validate_config({"cohorts": {"a": {"source": "table", "table": "x.csv"}},
                         "models": {"m": {"type": "toy_mean"}}})
