"""Tests of seq2pheno.plots: each function returns a Figure with the expected axes and lines."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from seq2pheno import plots


def _labels(ax):
    return [l.get_label() for l in ax.get_lines()]


def test_figure_to_data_uri_png():
    fig = plots.observed_vs_predicted([1, 2, 3], [1.1, 1.9, 3.2], "t")
    uri = plots.figure_to_data_uri(fig)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_to_data_uri_closes_pyplot_figures():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure()
    fig.add_subplot(1, 1, 1).plot([0, 1])
    plots.figure_to_data_uri(fig)
    assert not plt.fignum_exists(fig.number)


def test_phenotype_histograms():
    rng = np.random.default_rng(0)
    data = {"train": rng.normal(size=200), "valid": rng.normal(size=40),
            "test": np.r_[rng.normal(size=40), np.nan]}
    pairs = [{"a": "train", "b": "valid", "ks_statistic": 0.1234, "p_value": 0.5},
             {"a": "train", "b": "test", "ks_statistic": 0.08, "p_value": 1e-7}]
    fig = plots.phenotype_histograms(data, pairs)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    hist_ax, cdf_ax = fig.axes
    assert len(cdf_ax.get_lines()) == 3                       # one ECDF per split
    # same bins for every split: each split draws a filled and an outline patch with equal edges
    assert len(hist_ax.patches) == 6
    legend = [t.get_text() for t in hist_ax.get_legend().get_texts()]
    assert legend == ["train (n=200)", "valid (n=40)", "test (n=40)"]
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "0.123" in texts and "1.0e-07" in texts
    plots.figure_to_data_uri(fig)


def test_phenotype_histograms_empty_split_skipped():
    fig = plots.phenotype_histograms({"train": np.arange(10.0), "valid": np.array([])}, [])
    assert len(fig.axes[1].get_lines()) == 1


def _hist(n, best=None):
    ep = np.arange(1, n + 1)
    h = pd.DataFrame({"epoch": ep, "loss": 1 / ep, "val_loss": 1 / ep + 0.1 + 0.02 * ep,
                      "learning_rate": 1e-3, "seconds": 1.0})
    if best is not None:
        h["best"] = ep == best
    return h


def test_loss_curves_one_panel_per_model_with_best_epoch():
    fig = plots.loss_curves({"default": _hist(10, best=4), "seed_cnn": _hist(6)})
    assert len(fig.axes) == 2
    a, b = fig.axes
    assert a.get_title() == "default" and b.get_title() == "seed_cnn"
    la = _labels(a)
    assert "training" in la and "validation" in la and "best epoch (4)" in la
    # without a `best` column the lowest val_loss is marked: 1/e + 0.1 + 0.02 e is lowest at e = 6 (of 6)
    lb = _labels(b)
    best = [l for l in lb if l.startswith("best epoch")]
    assert best == ["best epoch (6)"]


def test_loss_curves_grid_and_string_best():
    hs = {f"m{i}": _hist(5) for i in range(4)}
    hs["m0"]["best"] = ["False", "True", "False", "False", "False"]
    fig = plots.loss_curves(hs)
    assert len(fig.axes) == 4                                 # unused grid cells removed
    assert "best epoch (2)" in _labels(fig.axes[0])


def test_observed_vs_predicted_r2_and_identity():
    rng = np.random.default_rng(1)
    o = rng.normal(size=300)
    p = o + rng.normal(scale=0.5, size=300)
    fig = plots.observed_vs_predicted(o, p, "best model")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "best model"
    assert len(ax.collections) == 1 and len(ax.get_lines()) == 1
    x, y = ax.get_lines()[0].get_data()
    assert np.allclose(x, y)                                   # identity line
    r2 = 1 - np.sum((o - p) ** 2) / np.sum((o - o.mean()) ** 2)
    assert f"R² = {r2:.3f}" in ax.texts[0].get_text()


def test_error_histogram():
    o = np.arange(50.0)
    p = o + 1.0
    fig = plots.error_histogram(o, p)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2                            # zero and mean
    assert any("+1" in l for l in _labels(ax))


def test_kinship_histogram_thresholds():
    rng = np.random.default_rng(2)
    k = rng.normal(0, 0.02, size=(30, 30))
    k = (k + k.T) / 2
    fig = plots.kinship_histogram(k, plots.KING_THRESHOLDS)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.get_lines()) == 4
    xs = sorted(l.get_xdata()[0] for l in ax.get_lines())
    assert xs == pytest.approx([0.0442, 0.0884, 0.177, 0.354])
    assert sum(p.get_height() for p in ax.patches) == 30 * 29 // 2   # upper triangle only
    fig2 = plots.kinship_histogram(np.array([0.01, 0.3]), {"first": 0.177})
    assert len(fig2.axes[0].get_lines()) == 1


def test_r2_score():
    assert plots.r2_score([1, 2, 3], [1, 2, 3]) == 1.0
    assert plots.r2_score([1, 2, 3], [2, 2, 2]) == 0.0
