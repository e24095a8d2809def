"""Reliability per predicted individual (seq2pheno.reliability): split-conformal intervals and
their coverage, scaled intervals, and GBLUP reliabilities from the prediction error variance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seq2pheno import reliability as rel
from seq2pheno.models import Rows, gblup, resolve_spec


# ---- conformal intervals --------------------------------------------------------------------


def test_quantile_is_the_textbook_finite_sample_one():
    scores = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0])      # n = 9
    # k = ceil((n + 1) level): level 0.8 -> 8th smallest; 0.5 -> 5th; 0.9 -> 9th; 0.95 -> inf
    assert rel.conformal_quantile(scores, 0.8) == 8.0
    assert rel.conformal_quantile(scores, 0.5) == 5.0
    assert rel.conformal_quantile(scores, 0.9) == 9.0
    assert rel.conformal_quantile(scores, 0.95) == math.inf
    lo, hi = rel.conformal_interval(np.arange(9.0) + scores, np.arange(9.0), [10.0, 20.0], 0.8)
    np.testing.assert_array_equal(lo, [2.0, 12.0])
    np.testing.assert_array_equal(hi, [18.0, 28.0])
    with pytest.raises(ValueError):
        rel.conformal_quantile(scores, 1.0)


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9, 0.95])
def test_coverage_with_known_gaussian_noise_is_nominal(level):
    rng = np.random.default_rng(11)
    n = 5000
    f = lambda x: 2.0 * x + np.sin(3 * x)       # noqa: E731  the model's prediction
    xv, xt = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    yv, yt = f(xv) + rng.normal(0, 0.5, n), f(xt) + rng.normal(0, 0.5, n)
    lo, hi = rel.conformal_interval(yv, f(xv), f(xt), level)
    assert abs(rel.coverage(yt, lo, hi) - level) <= 0.03
    # half-width close to the Gaussian quantile of the noise
    from scipy.stats import norm
    assert (hi - lo)[0] / 2 == pytest.approx(0.5 * norm.ppf(0.5 + level / 2), rel=0.06)


def test_scaled_intervals_are_wider_where_the_scale_is_larger():
    rng = np.random.default_rng(5)
    n = 5000
    sv, st = rng.uniform(0.2, 2.0, n), rng.uniform(0.2, 2.0, n)       # noise SD per sample
    yv, yt = rng.normal(0, sv), rng.normal(0, st)
    lo, hi = rel.conformal_interval(yv, np.zeros(n), np.zeros(n), 0.9, scale_valid=sv, scale=st)
    width = hi - lo
    assert np.all(np.diff(width[np.argsort(st)]) >= -1e-12)           # monotone in the scale
    np.testing.assert_allclose(width / st, width[0] / st[0])
    assert abs(rel.coverage(yt, lo, hi) - 0.9) <= 0.03
    small, large = st < 0.6, st > 1.6
    assert abs(rel.coverage(yt[small], lo[small], hi[small]) - 0.9) < 0.05
    assert abs(rel.coverage(yt[large], lo[large], hi[large]) - 0.9) < 0.05
    # unscaled intervals cover the noisy samples too rarely and the quiet ones too often
    ulo, uhi = rel.conformal_interval(yv, np.zeros(n), np.zeros(n), 0.9)
    assert rel.coverage(yt[large], ulo[large], uhi[large]) < 0.8
    assert rel.coverage(yt[small], ulo[small], uhi[small]) > 0.97


def test_zero_scales_are_floored_and_nan_handled():
    yv = np.array([1.0, -1.0, 2.0, np.nan, 0.5])
    pv = np.zeros(5)
    sv = np.array([1.0, 0.0, 2.0, 1.0, 1.0])
    lo, hi = rel.conformal_interval(yv, pv, [0.0, 0.0, np.nan], 0.5, scale_valid=sv,
                                    scale=[0.0, 1.0, 1.0])
    assert np.all(np.isfinite(lo[:2])) and hi[0] > lo[0] and np.isnan(lo[2])
    assert hi[0] - lo[0] < hi[1] - lo[1]
    with pytest.raises(ValueError, match="both"):
        rel.conformal_interval(yv, pv, [0.0], 0.5, scale_valid=sv)


def test_calibration_table():
    rng = np.random.default_rng(2)
    n = 4000
    yv, yt = rng.normal(size=n), rng.normal(size=n)
    table = rel.calibration_table(yt, np.zeros(n), yv, np.zeros(n))
    assert list(table.columns) == ["level", "coverage", "mean_width"]
    assert list(table["level"]) == [0.5, 0.8, 0.9, 0.95]
    assert np.all(np.abs(table["coverage"] - table["level"]) < 0.03)
    assert np.all(np.diff(table["mean_width"]) > 0)
    assert rel.coverage([1.0, 2.0, np.nan], [0.0, 2.5, 0.0], [1.0, 3.0, 1.0]) == 0.5


def test_ensemble_sd():
    m = np.array([[1.0, 2.0], [3.0, 2.0]])
    np.testing.assert_allclose(rel.ensemble_sd(m), [np.sqrt(2.0), 0.0])
    np.testing.assert_array_equal(rel.ensemble_sd(m[:1]), [0.0, 0.0])


# ---- GBLUP reliability ----------------------------------------------------------------------


def tensor(d):
    """The N x M x 4 allele-fraction tensor of 0/1/2 dosages (as tests/test_models_genomic)."""
    x = np.zeros(d.shape + (4,), dtype=np.float32)
    x[:, :, 0] = 1 - d / 2
    x[:, :, 1] = d / 2
    return x


def genomic_cohort(n_train=300, m=500, seed=0):
    """Training dosages, and new individuals: 20 offspring of training pairs (relatives),
    20 clones with a few errors, and 20 unrelated individuals from the same allele frequencies."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, m)
    hap = rng.binomial(1, p, size=(2 * n_train, m))
    d_train = hap[0::2] + hap[1::2]
    y = (d_train - 2 * p) @ rng.normal(0, 0.1, m) + rng.normal(0, 1.0, n_train)
    pairs = rng.choice(n_train, size=(20, 2), replace=False)
    child = np.array([hap[2 * a + rng.integers(2)] + hap[2 * b + rng.integers(2)] for a, b in pairs])
    clone = d_train[:20].copy()
    errors = rng.random(clone.shape) < 0.02
    clone[errors] = rng.integers(0, 3, errors.sum())
    unrelated = rng.binomial(2, p, size=(20, m))
    return d_train, y, {"offspring": child, "clone": clone, "unrelated": unrelated}


def fitted(d_train, y, w=None):
    rows = Rows(tensor(d_train), np.arange(len(y)), y, weights=w)
    model, _ = gblup.fit(rows, None, resolve_spec("gblup"), seed=0)
    return model, rows


def test_gblup_pev_equals_the_mixed_model_form():
    """Marker-space PEV from the SVD equals sigma2_g (G_ii - g' (G + lambda_G W^-1)^-1 g)
    built densely, with and without weights."""
    d, y, new = genomic_cohort(120, 200, seed=1)
    for w in (None, np.random.default_rng(0).uniform(0.5, 2.0, len(y))):
        model, train = fitted(d, y, w)
        x_new = np.concatenate([new["offspring"], new["unrelated"], d[:5]])
        rows = Rows(tensor(x_new), np.arange(len(x_new)))
        pev, gii = rel.gblup_pev(model, rows, train)
        z = d / 2.0
        means = z.mean(axis=0)
        zc = z - means
        c = zc.var(axis=0).sum()
        assert c == pytest.approx(model["scale"])
        g_train = zc @ zc.T / c
        znew = x_new / 2.0 - means
        g = zc @ znew.T / c                                        # (n_train, n_new)
        lam_g = model["sigma2_e"] / model["sigma2_g"]
        winv = np.eye(len(y)) if w is None else np.diag(1 / w)
        direct = model["sigma2_g"] * (np.einsum("ij,ij->i", znew, znew) / c
                                      - np.einsum("ij,ij->j", g, np.linalg.solve(g_train + lam_g * winv, g)))
        np.testing.assert_allclose(gii, np.einsum("ij,ij->i", znew, znew) / c, rtol=1e-10)
        np.testing.assert_allclose(pev, direct, rtol=1e-6, atol=1e-10 * model["sigma2_g"])


def test_relatives_of_the_training_set_are_more_reliable():
    d, y, new = genomic_cohort()
    model, train = fitted(d, y)
    assert 0 < model["h2"] < 1
    basis = gblup.pev_basis(model, train)
    r = {k: rel.gblup_reliability(model, Rows(tensor(v), np.arange(len(v))), basis=basis)
         for k, v in new.items()}
    r["train"] = rel.gblup_reliability(model, train, basis=basis)
    for k, v in r.items():
        assert np.all((v >= 0) & (v <= 1)), k
    # a clone of a fitted sample > its offspring > an unrelated individual, one by one
    assert np.all(r["offspring"].min() > r["unrelated"].max())
    assert r["clone"].mean() > r["offspring"].mean()
    assert np.median(r["train"]) > np.median(r["offspring"])
    # the basis given or computed from the training rows is the same
    np.testing.assert_allclose(rel.gblup_reliability(model, Rows(tensor(new["unrelated"]), np.arange(20)),
                                                     train), r["unrelated"], rtol=1e-10)


def test_pev_basis_refuses_other_samples():
    d, y, _ = genomic_cohort(100, 150, seed=3)
    model, train = fitted(d, y)
    with pytest.raises(ValueError, match="fitted on"):
        gblup.pev_basis(model, Rows(train.x, np.arange(50), y[:50]))
    with pytest.raises(ValueError, match="fitted samples"):
        rel.gblup_reliability(model, train)


def test_gblup_intervals_are_narrower_for_relatives_and_keep_their_coverage():
    """The predictive SD sqrt(PEV + sigma2_e) orders clones < offspring < unrelated, and a
    conformal interval scaled by it keeps the nominal coverage on exchangeable samples."""
    d, y, new = genomic_cohort()
    model, train = fitted(d, y)
    basis = gblup.pev_basis(model, train)
    s = {k: rel.gblup_scale(model, Rows(tensor(v), np.arange(len(v))), basis=basis) for k, v in new.items()}
    assert s["clone"].mean() < s["offspring"].mean() and s["offspring"].max() < s["unrelated"].min()
    assert np.all(s["clone"] >= np.sqrt(model["sigma2_e"]))
    # a basis of other samples (the training samples alone) is refused unless asked for
    part = Rows(train.x, np.arange(200), y[:200])
    with pytest.raises(ValueError, match="fitted on"):
        gblup.pev_basis(model, part)
    own = gblup.pev_basis(model, part, fitted=False)
    later = Rows(train.x, np.arange(200, 300))
    pev_own, _ = rel.gblup_pev(model, later, basis=own)
    pev_all, _ = rel.gblup_pev(model, later, basis=basis)
    assert np.all(pev_own > pev_all)            # samples outside a fit are less certain than inside
    # coverage: samples whose scores are exchangeable (same noise law, scale known)
    rng = np.random.default_rng(5)
    scale = rng.uniform(0.5, 3.0, 4000)
    obs = scale * rng.normal(size=4000)
    lo, hi = rel.conformal_interval(obs[:2000], np.zeros(2000), np.zeros(2000), 0.9,
                                    scale_valid=scale[:2000], scale=scale[2000:])
    assert rel.coverage(obs[2000:], lo, hi) == pytest.approx(0.9, abs=0.02)
