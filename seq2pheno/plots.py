"""Figures for the report: each function returns a matplotlib :class:`~matplotlib.figure.Figure`.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state, so no GUI
backend is ever needed and nothing leaks between calls); they render with the Agg canvas.
:func:`figure_to_data_uri` turns one into an inline ``data:image/png;base64,...`` URI for the
self-contained HTML report and releases it.

Units: phenotypes and predictions are on the original phenotype scale (whatever unit the
user's table has); kinship is the KING-robust kinship coefficient (0.5 for duplicates / MZ
twins, 0.25 first degree, 0.125 second, 0.0625 third).
"""

from __future__ import annotations

import base64
import io
import math
import sys
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Colours per split, used by every figure so that train/valid/test look the same throughout.
SPLIT_COLORS = {
    "train": "#1f77b4",
    "valid": "#ff7f0e",
    "test": "#2ca02c",
    "unphenotyped": "#7f7f7f",
}
_SPLIT_ORDER = ["train", "valid", "test", "unphenotyped"]

#: KING kinship thresholds separating degrees of relatedness (Manichaikul et al. 2010):
#: the geometric means of adjacent expected kinship values.
KING_THRESHOLDS = {
    "duplicate / MZ twin": 0.354,
    "1st degree": 0.177,
    "2nd degree": 0.0884,
    "3rd degree": 0.0442,
}

_DPI = 110


def _style_axes(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)


def _ordered_splits(keys) -> list[str]:
    keys = list(keys)
    return [k for k in _SPLIT_ORDER if k in keys] + [k for k in keys if k not in _SPLIT_ORDER]


def _finite(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def r2_score(observed, predicted) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN pairs dropped; NaN if < 2 points)."""
    o = np.asarray(observed, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    ok = np.isfinite(o) & np.isfinite(p)
    o, p = o[ok], p[ok]
    if o.size < 2:
        return float("nan")
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    if ss_tot == 0:
        return float("nan")
    return 1.0 - float(np.sum((o - p) ** 2)) / ss_tot


def figure_to_data_uri(fig: Figure, *, dpi: int = _DPI) -> str:
    """Render ``fig`` as PNG and return ``data:image/png;base64,...``; the figure is closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:  # figures made through pyplot (e.g. by logomaker) are freed too
            plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def phenotype_histograms(phenotypes_by_split: Mapping[str, np.ndarray], ks_pairs: list[dict]) -> Figure:
    """Phenotype distribution per split: overlaid density histograms (same bins) and ECDFs.

    ``phenotypes_by_split``: split name -> 1-D phenotype values (NaN ignored; empty splits skipped).
    ``ks_pairs``: ``[{"a", "b", "ks_statistic", "p_value"}, ...]`` as in split/distribution.json;
    shown in the legend of the right panel, where the KS statistic is the largest vertical gap
    between two cumulative curves. Returns a figure with two axes.
    """
    data = {k: _finite(v) for k, v in phenotypes_by_split.items()}
    splits = [k for k in _ordered_splits(data) if data[k].size > 0]
    fig = Figure(figsize=(10, 3.8))
    ax_h, ax_c = fig.subplots(1, 2)
    if not splits:
        for ax in (ax_h, ax_c):
            ax.text(0.5, 0.5, "no phenotyped samples", ha="center", va="center", transform=ax.transAxes)
        return fig
    allv = np.concatenate([data[k] for k in splits])
    lo, hi = float(allv.min()), float(allv.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    nbins = int(np.clip(np.sqrt(allv.size), 10, 40))
    bins = np.linspace(lo, hi, nbins + 1)
    for k in splits:
        color = SPLIT_COLORS.get(k)
        v = data[k]
        ax_h.hist(v, bins=bins, density=True, histtype="stepfilled", alpha=0.18, color=color)
        ax_h.hist(v, bins=bins, density=True, histtype="step", linewidth=1.8, color=color,
                  label=f"{k} (n={v.size:,})")
        xs = np.sort(v)
        ys = np.arange(1, xs.size + 1) / xs.size
        ax_c.step(np.r_[lo, xs, hi], np.r_[0.0, ys, 1.0], where="post", color=color, linewidth=1.8,
                  label=k)
    ax_h.set_xlabel("phenotype")
    ax_h.set_ylabel("density")
    ax_h.set_title("Distribution per split (same bins)")
    ax_h.legend(frameon=False, fontsize=9)
    ax_c.set_xlabel("phenotype")
    ax_c.set_ylabel("fraction of samples ≤ value")
    ax_c.set_ylim(0, 1.02)
    ax_c.set_title("Cumulative distribution")
    handles, labels = ax_c.get_legend_handles_labels()
    leg = ax_c.legend(handles, labels, frameon=False, fontsize=9, loc="upper left")
    ax_c.add_artist(leg)
    for ax in (ax_h, ax_c):
        _style_axes(ax)
    fig.tight_layout()
    if ks_pairs:
        parts = [f"{p.get('a')} vs {p.get('b')}: D = {float(p.get('ks_statistic', np.nan)):.3f}, "
                 f"p = {_fmt_p(float(p.get('p_value', np.nan)))}" for p in ks_pairs]
        # below both panels, where it cannot hide a curve (bbox_inches="tight" keeps it in the PNG)
        rows = ["   |   ".join(parts[i:i + 3]) for i in range(0, len(parts), 3)]
        fig.text(0.5, -0.01, "Two-sample KS test   " + "\n".join(rows), ha="center", va="top",
                 fontsize=9.5, bbox=dict(boxstyle="round,pad=0.4", facecolor="#f6f8fa", edgecolor="#cccccc"))
    return fig


def _best_epoch(h: pd.DataFrame) -> int | None:
    """Row position of the best epoch: the ``best`` column when it marks one, else min val_loss."""
    if "best" in h.columns:
        b = h["best"]
        if pd.api.types.is_bool_dtype(b) or pd.api.types.is_numeric_dtype(b):
            b = pd.to_numeric(b, errors="coerce").fillna(0).to_numpy() != 0
        else:
            b = b.astype(str).str.strip().str.lower().isin(["true", "1", "yes"]).to_numpy()
        if b.any():
            return int(np.flatnonzero(b)[-1])
    if "val_loss" in h.columns:
        v = pd.to_numeric(h["val_loss"], errors="coerce").to_numpy()
        if np.isfinite(v).any():
            return int(np.nanargmin(v))
    return None


def loss_curves(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """One panel per model: training and validation loss by epoch, the best epoch marked.

    ``histories``: model name -> DataFrame with columns epoch, loss, val_loss (learning_rate,
    seconds, best optional; ``best`` true on the epoch whose weights were kept, otherwise the
    epoch of lowest val_loss is marked). Losses are on the standardised scale the model trains
    on. The y axis is logarithmic when the loss spans more than a factor of 20.
    Returns a figure with one axes per model (up to two per row).
    """
    names = list(histories)
    n = max(len(names), 1)
    ncol = min(2, n)
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(4.6 * ncol + 0.4, 3.4 * nrow + 0.3))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False).ravel())
    for ax in axes[len(names):]:
        fig.delaxes(ax)
    if not names:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no training histories", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    for ax, name in zip(axes, names):
        h = histories[name]
        if h is None or len(h) == 0:
            ax.text(0.5, 0.5, "no epochs recorded", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(str(name))
            _style_axes(ax)
            continue
        h = h.reset_index(drop=True)
        ep = pd.to_numeric(h["epoch"], errors="coerce").to_numpy() if "epoch" in h else np.arange(1, len(h) + 1)
        vals = []
        if "loss" in h:
            y = pd.to_numeric(h["loss"], errors="coerce").to_numpy()
            ax.plot(ep, y, color=SPLIT_COLORS["train"], linewidth=1.8, label="training")
            vals.append(y)
        if "val_loss" in h:
            y = pd.to_numeric(h["val_loss"], errors="coerce").to_numpy()
            ax.plot(ep, y, color=SPLIT_COLORS["valid"], linewidth=1.8, label="validation")
            vals.append(y)
        b = _best_epoch(h)
        if b is not None:
            ax.axvline(ep[b], color="#555555", linestyle="--", linewidth=1, label=f"best epoch ({ep[b]:g})")
            if "val_loss" in h:
                ax.plot([ep[b]], [float(pd.to_numeric(h["val_loss"], errors="coerce").iloc[b])], "o",
                        color=SPLIT_COLORS["valid"], markersize=6, markeredgecolor="black")
        allv = _finite(np.concatenate(vals)) if vals else np.array([])
        allv = allv[allv > 0]
        if allv.size and allv.max() / allv.min() > 20:
            ax.set_yscale("log")
        ax.set_title(str(name))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (standardised scale)")
        ax.legend(frameon=False, fontsize=8.5)
        _style_axes(ax)
    fig.tight_layout()
    return fig


def observed_vs_predicted(observed, predicted, title: str = "") -> Figure:
    """Scatter of predicted against observed phenotype with the identity line and R² (one axes)."""
    o = np.asarray(observed, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    ok = np.isfinite(o) & np.isfinite(p)
    o, p = o[ok], p[ok]
    fig = Figure(figsize=(5.2, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    if o.size:
        alpha = float(np.clip(30 / np.sqrt(o.size), 0.15, 0.8))
        ax.scatter(o, p, s=12 if o.size < 2000 else 6, alpha=alpha, color=SPLIT_COLORS["test"],
                   edgecolors="none", rasterized=True)
        lo = float(min(o.min(), p.min()))
        hi = float(max(o.max(), p.max()))
        pad = 0.04 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="#444444", linestyle="--", linewidth=1.2,
                label="perfect prediction (y = x)")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal", adjustable="box")
        ax.text(0.04, 0.96, f"R² = {r2_score(o, p):.3f}\nn = {o.size:,}", transform=ax.transAxes,
                ha="left", va="top", fontsize=11,
                bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#cccccc"))
        ax.legend(frameon=False, fontsize=9, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no predictions", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("observed phenotype")
    ax.set_ylabel("predicted phenotype")
    if title:
        ax.set_title(str(title))
    _style_axes(ax)
    fig.tight_layout()
    return fig


def error_histogram(observed, predicted) -> Figure:
    """Histogram of prediction errors (predicted − observed) with zero and the mean marked (one axes)."""
    o = np.asarray(observed, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    ok = np.isfinite(o) & np.isfinite(p)
    err = p[ok] - o[ok]
    fig = Figure(figsize=(5.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    if err.size:
        nb = int(np.clip(np.sqrt(err.size), 10, 50))
        ax.hist(err, bins=nb, color=SPLIT_COLORS["test"], alpha=0.75, edgecolor="white")
        ax.axvline(0.0, color="#444444", linestyle="--", linewidth=1.2, label="no error")
        ax.axvline(float(err.mean()), color="#d62728", linewidth=1.5,
                   label=f"mean error {err.mean():+.3g}")
        ax.text(0.98, 0.96, f"SD {err.std(ddof=1) if err.size > 1 else 0:.3g}\n"
                f"RMSE {np.sqrt(np.mean(err ** 2)):.3g}\nn = {err.size:,}",
                transform=ax.transAxes, ha="right", va="top", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#cccccc"))
        ax.legend(frameon=False, fontsize=9, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no predictions", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("prediction error (predicted − observed)")
    ax.set_ylabel("samples")
    _style_axes(ax)
    fig.tight_layout()
    return fig


def kinship_histogram(kinship: np.ndarray, thresholds: Mapping[str, float] | None = None) -> Figure:
    """Histogram of pairwise KING kinship with the degree thresholds drawn as vertical lines.

    ``kinship``: a 1-D array of pair values (e.g. the kinship column of curate/kinship.tsv) or a
    square N × N matrix (its upper triangle is used). ``thresholds``: label -> kinship value
    (default :data:`KING_THRESHOLDS`). Counts are on a log scale because unrelated pairs
    outnumber relatives by orders of magnitude. Returns a figure with one axes.
    """
    k = np.asarray(kinship, dtype=float)
    if k.ndim == 2 and k.shape[0] == k.shape[1]:
        k = k[np.triu_indices(k.shape[0], 1)]
    k = _finite(k)
    thresholds = dict(KING_THRESHOLDS if thresholds is None else thresholds)
    fig = Figure(figsize=(8, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    if k.size:
        lo = min(float(k.min()), -0.05)
        hi = max(float(k.max()), 0.55)
        ax.hist(k, bins=np.linspace(lo, hi, 80), color="#4c72b0", alpha=0.85, edgecolor="white",
                linewidth=0.3)
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no pairs", ha="center", va="center", transform=ax.transAxes)
    colors = ["#d62728", "#ff7f0e", "#bcbd22", "#17becf", "#9467bd", "#8c564b"]
    for i, (label, value) in enumerate(sorted(thresholds.items(), key=lambda kv: -kv[1])):
        c = colors[i % len(colors)]
        ax.axvline(value, color=c, linestyle="--", linewidth=1.3, label=f"{label} ≥ {value:g}")
    ax.set_xlabel("KING kinship coefficient (pairs of samples)")
    ax.set_ylabel("pairs (log scale)")
    ax.legend(frameon=False, fontsize=8.5, loc="upper right")
    _style_axes(ax)
    fig.tight_layout()
    return fig
