"""Genomic-prediction kinds: REML GBLUP, the cross-validated elastic net, boosted trees."""

import numpy as np
import pytest

from seq2pheno import models
from seq2pheno.models import Rows, gblup, resolve_spec

GENOMIC = ("gblup", "sparse", "boosted")


def cohort(n, m, seed, *, h2=None, n_causal=None, effect=1.0):
    """Dosages (n, m) 0/1/2 from random allele frequencies, the N x M x 4 allele-fraction
    tensor (channels 0 and 1) and a phenotype: ``h2`` with every marker causal (infinitesimal)
    or ``n_causal`` markers of size ``effect`` plus unit noise."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, m)
    d = rng.binomial(2, p, size=(n, m)).astype(np.float64)
    x = np.zeros((n, m, 4), dtype=np.float32)
    x[:, :, 0] = 1 - d / 2
    x[:, :, 1] = d / 2
    dc = d - d.mean(axis=0)
    if h2 is not None:
        g = dc @ rng.normal(size=m)
        g = g / g.std() * np.sqrt(h2)
        y = g + rng.normal(size=n) * np.sqrt(1 - h2)
    else:
        causal = rng.choice(m, n_causal, replace=False)
        g = dc[:, causal] @ (effect * rng.choice([-1.0, 1.0], n_causal))
        y = g + rng.normal(size=n)
    return d, x, y + 10.0


def splits(x, y, n_train, n_valid, k=1):
    n = len(y)
    idx = np.arange(n)
    tr, va, te = idx[:n_train], idx[n_train:n_train + n_valid], idx[n_train + n_valid:]
    rows = lambda i, with_y=True: Rows(x, i, y[i] if with_y else None)  # noqa: E731
    return rows(tr), rows(va), rows(te, False), te


def r_and_r2(y, pred):
    r = float(np.corrcoef(y, pred)[0, 1])
    r2 = 1 - float(np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    return r, r2


FAST = {"gblup": {}, "sparse": {"cv": 3, "n_alphas": 20, "l1_ratio": [0.5, 1.0]},
        "boosted": {"n_estimators": 400, "learning_rate": 0.1, "colsample": 0.5}}


def fit(kind, train, valid, seed=0):
    spec = resolve_spec(kind, FAST[kind])
    return models.KINDS[kind].fit(train, valid, spec, seed=seed, log=None)


# ---- REML ----------------------------------------------------------------------------------


def test_reml_recovers_a_known_heritability():
    _, x, y = cohort(600, 2000, 1, h2=0.5)
    train = Rows(x, np.arange(600), y)
    model, history = gblup.fit(train, Rows(x, np.arange(0), np.zeros(0)), resolve_spec("gblup"),
                               seed=0)
    assert 0.05 < model["h2_se"] < 0.25
    assert abs(model["h2"] - 0.5) < 2 * model["h2_se"]
    assert list(history.columns) >= ["h2", "h2_se"] and len(history) == 1
    for key in ("h2", "h2_se", "sigma2_g", "sigma2_e", "lambda"):
        assert np.isfinite(history[key].iloc[0])
    assert model["h2"] == pytest.approx(model["sigma2_g"] / (model["sigma2_g"] + model["sigma2_e"]))


def test_reml_maximum_and_curvature_match_a_brute_force_likelihood():
    """The optimum equals the best point of a fine grid of the full (unprofiled) REML
    likelihood computed from V directly, and the SE equals that grid's curvature."""
    rng = np.random.default_rng(3)
    n, m = 120, 300
    z = rng.binomial(2, 0.4, size=(n, m)).astype(float)
    z -= z.mean(axis=0)
    g = z @ z.T / z.var(axis=0).sum()
    y = z @ rng.normal(size=m) * 0.05 + rng.normal(size=n) + 3
    x = np.ones((n, 1))

    def full_reml(h2):     # sigma2 profiled analytically, V built and inverted densely
        v = h2 * g + (1 - h2) * np.eye(n)
        vi = np.linalg.inv(v)
        p = vi - vi @ x @ np.linalg.inv(x.T @ vi @ x) @ x.T @ vi
        s2 = float(y @ p @ y) / (n - 1)
        return -0.5 * ((n - 1) * np.log(2 * np.pi * s2) + np.linalg.slogdet(v)[1]
                       + np.linalg.slogdet(x.T @ vi @ x)[1] + (n - 1))

    s, u = np.linalg.eigh(g)
    res = gblup.reml(s, u.T @ y, u.T @ x)
    grid = np.linspace(0.01, 0.99, 197)
    ll = np.array([full_reml(h) for h in grid])
    assert res["h2"] == pytest.approx(grid[np.argmax(ll)], abs=3e-3)
    assert res["loglik"] >= ll.max() - 1e-9
    assert gblup.reml_loglik(0.3, s, u.T @ y, u.T @ x) == pytest.approx(full_reml(0.3), abs=1e-8)
    h, e = res["h2"], 1e-3
    curv = -(full_reml(h - e) - 2 * full_reml(h) + full_reml(h + e)) / e ** 2
    assert res["h2_se"] == pytest.approx(1 / np.sqrt(curv), rel=1e-3)


def test_gblup_prediction_is_the_kernel_blup():
    """Marker-effect prediction of the training samples equals mu + sigma2_g G V^-1 (y - mu)."""
    d, x, y = cohort(150, 400, 4, h2=0.6)
    train = Rows(x, np.arange(150), y)
    model, _ = gblup.fit(train, None, resolve_spec("gblup"), seed=0)
    z = d / 2 - (d / 2).mean(axis=0)
    c = z.var(axis=0).sum()
    g = z @ z.T / c
    v = model["sigma2_g"] * g + model["sigma2_e"] * np.eye(150)
    blup = model["mu"] + model["sigma2_g"] * g @ np.linalg.solve(v, y - model["mu"])
    np.testing.assert_allclose(gblup.predict(model, train), blup, rtol=1e-8, atol=1e-8)
    assert model["lambda"] == pytest.approx(c * model["sigma2_e"] / model["sigma2_g"])


# ---- every kind ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strong():
    _, x, y = cohort(300, 200, 7, n_causal=10, effect=1.0)
    return x, y


@pytest.mark.parametrize("kind", GENOMIC)
def test_kind_fits_predicts_round_trips_and_is_deterministic(kind, strong, tmp_path):
    x, y = strong
    train, valid, test, te = splits(x, y, 200, 50)
    mod = models.KINDS[kind]
    model, history = fit(kind, train, valid, seed=3)
    assert model["kind"] == kind and len(history) >= 1
    pred = mod.predict(model, test)
    assert pred.shape == (len(te),) and pred.dtype == np.float64
    r, _ = r_and_r2(y[te], pred)
    assert r > 0.5, r
    path = tmp_path / mod.ARTEFACT
    mod.save(model, path)
    assert models.artefact_kind(path) == kind
    loaded = models.load_trained(path)
    np.testing.assert_array_equal(models.predict(loaded, test), pred)
    again, _ = fit(kind, train, valid, seed=3)
    np.testing.assert_array_equal(mod.predict(again, test), pred)
    eff = mod.effects(loaded)
    assert eff.shape == (200, 4) and np.all(np.isfinite(eff))
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("kind", GENOMIC)
def test_fit_never_reads_test_rows(kind, strong):
    x, y = strong
    x = x.copy()
    x[250:] = np.nan                       # the test rows
    train, valid, _, _ = splits(x, y, 200, 50)
    model, _ = fit(kind, train, valid)
    pred = models.KINDS[kind].predict(model, train)
    assert np.all(np.isfinite(pred))


@pytest.mark.parametrize("kind", GENOMIC)
def test_haplotype_rows_and_weights(kind, strong):
    """k = 2: each sample's two haplotype rows (here equal halves) are averaged."""
    x, y = strong
    x2 = np.repeat(x, 2, axis=0)           # sample i -> rows 2i, 2i+1
    rows = lambda i: Rows(x2, np.stack([2 * i, 2 * i + 1], 1).reshape(-1), y[i], k=2,  # noqa: E731
                          weights=np.linspace(0.5, 1.5, len(i)))
    train, valid = rows(np.arange(200)), rows(np.arange(200, 250))
    model, _ = fit(kind, train, valid)
    te = np.arange(250, 300)
    pred = models.KINDS[kind].predict(model, Rows(x2, np.stack([2 * te, 2 * te + 1], 1).reshape(-1), k=2))
    assert pred.shape == (50,) and r_and_r2(y[te], pred)[0] > 0.5


def test_specs_validate():
    assert resolve_spec("gblup") == {"type": "gblup", "h2_bounds": [1e-4, 0.9999]}
    assert resolve_spec("mine", {"type": "sparse", "l1_ratio": [1]})["l1_ratio"] == [1.0]
    assert resolve_spec("boosted")["n_estimators"] == 2000
    with pytest.raises(models.SpecError, match="h2_bounds"):
        resolve_spec("g", {"type": "gblup", "h2_bounds": [0.5, 0.2]})
    with pytest.raises(models.SpecError, match="num_leaves"):
        resolve_spec("b", {"type": "boosted", "num_leaves": 1})
    with pytest.raises(models.SpecError, match="bogus"):
        resolve_spec("s", {"type": "sparse", "bogus": 1})
    for kind in GENOMIC:
        mod = models.KINDS[kind]
        assert mod.GPU is False and mod.INTERPRETATION == "coefficients"
        assert kind in models.PRESETS


def test_sparse_beats_gblup_on_a_few_strong_markers():
    _, x, y = cohort(500, 2000, 11, n_causal=5, effect=1.0)
    train, valid, test, te = splits(x, y, 350, 50)
    r2 = {}
    for kind in ("sparse", "gblup"):
        model, _ = fit(kind, train, valid)
        r2[kind] = r_and_r2(y[te], models.KINDS[kind].predict(model, test))[1]
    assert r2["sparse"] > 0.5 and r2["sparse"] > r2["gblup"] + 0.1, r2


@pytest.mark.parametrize("kind", ("gblup", "sparse"))
def test_validation_predictions_are_held_out(kind, strong, tmp_path):
    """Kinds fitted on train + valid record the validation predictions of a fit on the
    training samples alone: equal to that fit's, worse than the in-sample ones, and kept
    through save/load."""
    x, y = strong
    train, valid, _, _ = splits(x, y, 200, 50)
    valid.ids = np.array([f"s{i}" for i in range(200, 250)])
    model, _ = fit(kind, train, valid)
    held = models.held_out_predictions(model)
    assert list(held.index) == list(valid.ids)
    alone, _ = fit(kind, train, None)
    np.testing.assert_allclose(held.to_numpy(), models.KINDS[kind].predict(alone, valid), rtol=1e-6, atol=1e-8)
    mse_held = np.mean((held.to_numpy() - valid.y) ** 2)
    mse_in = np.mean((models.KINDS[kind].predict(model, valid) - valid.y) ** 2)
    assert mse_held > mse_in
    mod = models.KINDS[kind]
    mod.save(model, tmp_path / mod.ARTEFACT)
    again = models.held_out_predictions(models.load_trained(tmp_path / mod.ARTEFACT))
    np.testing.assert_array_equal(again.to_numpy(), held.to_numpy())
    assert list(again.index) == list(held.index)
    assert models.held_out_predictions(alone) is None


def test_sparse_fit_does_not_depend_on_the_job_threads(monkeypatch):
    """The inner-CV paths run one per thread (``backend.threads()``); the fit is the same
    with one thread as with four."""
    from seq2pheno import backend

    _, x, y = cohort(300, 400, 5, n_causal=5)
    train, valid, _, _ = splits(x, y, 220, 40)
    fits = {}
    for n in (1, 4):
        monkeypatch.setattr(backend, "threads", lambda n=n: n)
        fits[n], _ = fit("sparse", train, valid)
    np.testing.assert_array_equal(fits[1]["coef"], fits[4]["coef"])
    assert fits[1]["alpha"] == fits[4]["alpha"] and fits[1]["intercept"] == fits[4]["intercept"]
