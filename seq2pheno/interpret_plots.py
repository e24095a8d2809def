"""Figures of the interpretation outputs; each function returns a matplotlib Figure.

Built with :class:`matplotlib.figure.Figure` directly (no pyplot state), like
:mod:`seq2pheno.plots`; render them with ``seq2pheno.plots.figure_to_data_uri`` or
``fig.savefig``. Units: ISM deltas and importances are phenotype units (the original
scale); positions are 0-based tensor columns.

:data:`CAVEAT` is the sentence every interpretation figure's caption should carry, and
:data:`CAPTIONS` a teaching caption per figure for the report.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .filters import HIT_FRACTION

__all__ = ["CAVEAT", "CAPTIONS", "importance_plot", "global_map_heatmap",
           "top_positions_logo", "filter_logos", "interaction_heatmap", "saliency_vs_ism",
           "manhattan_plot", "position_effects_logo", "kmer_effects_plot"]

CAVEAT = ("This shows what the model uses, not biology: it is a correlation within this "
          "model and these data, and only experiments can validate it.")

CAPTIONS = {
    "importance": "In-silico mutagenesis: the mean absolute change of the predicted phenotype "
                  "when a position is mutated to each other base, averaged over the "
                  "interpreted sequences. Tall bars are positions the model relies on; known "
                  "causal loci (simulated cohorts) are drawn in red.",
    "global_map": "Global attribution map: the mean signed change of the prediction when each "
                  "base is put at each position. Red raises the phenotype, blue lowers it.",
    "logo": "The top positions by ISM importance as a logo: letters above the line raise the "
            "phenotype when put there, letters below lower it (height = mean change in "
            "phenotype units, relative to each sequence's own base).",
    "filters": "First-layer filters as motifs: the input windows where each filter reaches "
               f"at least {HIT_FRACTION:.0%} of its highest activation, stacked into a position "
               "frequency matrix (letter height in bits). "
               "Filters are ordered by influence, not by information content: a sharp motif "
               "need not matter, and redundant filters can share one motif and its influence.",
    "interactions": "Pairwise epistasis between the top positions: the mean absolute "
                    "departure of double mutants from the sum of the single mutants' effects. "
                    "Bright cells are pairs the model treats as interacting.",
    "manhattan": "Marker effects along the genome (Manhattan-style): each point is one marker "
                 "at its chromosome and position; its height is the size of its effect on the "
                 "predicted phenotype (the linear model: the change per copy of the ALT allele, "
                 "in absolute value; a network: the ISM importance). Circled: the largest. "
                 "Tall peaks are regions the model leans on; with related animals a peak spreads "
                 "over markers in linkage, so it points to a region, not a causal variant.",
    "effects_logo": "The linear model's effect of each base at its most important positions, "
                    "centred per position (a one-hot model fixes only differences between bases): "
                    "letters above the line raise the predicted phenotype, below lower it.",
    "kmers": "k-mers with the largest effects in the k-mer ridge model: the change in predicted "
             "phenotype per standard deviation of the k-mer's count, red raising it, blue lowering.",
    "saliency": "Gradient x input saliency against ISM importance per position. Saliency "
                "costs one backward pass but is a local, linear approximation; where the "
                "rank correlation is high the cheap method agrees with exact mutagenesis.",
}

_BASES = "ACGT"
_CAUSAL = "#d62728"
_OTHER = "#7f7f7f"


def _style(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def importance_plot(importance, causal=None, *, title: str = "ISM importance",
                    ylabel: str = "mean |Δ phenotype|") -> Figure:
    """Bar plot of importance (L,) along the sequence; ``causal`` positions highlighted."""
    imp = np.asarray(importance, dtype=float).reshape(-1)
    L = len(imp)
    fig = Figure(figsize=(10, 3.0))
    ax = fig.add_subplot(1, 1, 1)
    colors = np.full(L, _OTHER, dtype=object)
    causal = sorted({int(c) for c in (causal or []) if 0 <= int(c) < L})
    colors[causal] = _CAUSAL
    ax.bar(np.arange(L), imp, width=1.0, color=list(colors), linewidth=0)
    ax.set_xlim(-0.5, L - 0.5)
    ax.set_xlabel("position (0-based)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if causal:
        ax.legend(handles=[Patch(color=_CAUSAL, label=f"causal locus ({len(causal)})"),
                           Patch(color=_OTHER, label="other position")],
                  frameon=False, loc="upper right")
    _style(ax)
    fig.tight_layout()
    return fig


def global_map_heatmap(gmap, *, title: str = "Global attribution map (mean signed Δ)"
                       ) -> Figure:
    """Heat map of the global map (L x 4): bases as rows, positions as columns, 0 centred."""
    g = np.asarray(gmap, dtype=float)
    L = g.shape[0]
    lim = float(np.nanmax(np.abs(g))) if g.size and np.isfinite(g).any() else 1.0
    lim = lim if lim > 0 else 1.0
    fig = Figure(figsize=(10, 2.4))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(g.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   interpolation="nearest", extent=(-0.5, L - 0.5, 3.5, -0.5))
    ax.set_yticks(range(4))
    ax.set_yticklabels(list(_BASES))
    ax.set_xlabel("position (0-based)")
    ax.set_title(title)
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    cb.set_label("Δ phenotype")
    fig.tight_layout()
    return fig


def top_positions_logo(gmap, importance, *, top_n: int = 20,
                       title: str = "Top positions: which base raises or lowers the phenotype"
                       ) -> Figure:
    """Logo (logomaker) of the signed global map at the ``top_n`` most important positions.

    ``gmap`` (L x 4) mean signed deltas; ``importance`` (L,). Positions are drawn in
    sequence order and labelled with their 0-based index; letters above 0 raise the
    phenotype, letters below lower it (phenotype units).
    """
    import logomaker

    g = np.asarray(gmap, dtype=float)
    imp = np.asarray(importance, dtype=float).reshape(-1)
    top = np.sort(np.argsort(-np.nan_to_num(imp, nan=-np.inf), kind="stable")[:top_n])
    df = pd.DataFrame(np.nan_to_num(g[top]), columns=list(_BASES))
    fig = Figure(figsize=(max(4.0, 0.45 * len(top) + 1.5), 3.0))
    ax = fig.add_subplot(1, 1, 1)
    if len(top):
        logomaker.Logo(df, ax=ax, color_scheme="classic", flip_below=False,
                       fade_below=0.3, show_spines=False)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(top)))
    ax.set_xticklabels([str(p) for p in top], rotation=90 if len(top) > 12 else 0)
    ax.set_xlabel("position (0-based)")
    ax.set_ylabel("mean Δ phenotype")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def filter_logos(pwms: list[dict], *, order=None, max_filters: int = 16, ncols: int = 4,
                 influence: dict | None = None) -> Figure:
    """Information-content logos of the informative filters' PFMs.

    ``pwms``: from :func:`seq2pheno.filters.filter_pwms`; ``order``: filter ids in the
    order to draw (e.g. by influence rank), default by filter id; ``influence``: optional
    {filter id: loss increase} shown in the titles. At most ``max_filters`` logos.
    """
    import logomaker

    by_id = {int(p["filter"]): p for p in pwms if p.get("informative", True)}
    ids = [int(f) for f in order if int(f) in by_id] if order is not None else sorted(by_id)
    ids = ids[:max_filters]
    n = max(1, len(ids))
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.2 * ncols, 1.9 * nrows))
    if not ids:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no informative first-layer filter", ha="center", va="center")
        ax.set_axis_off()
        return fig
    for i, f in enumerate(ids):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        pfm = np.asarray(by_id[f]["pfm"], dtype=float)
        prob = pd.DataFrame(np.clip(pfm, 1e-6, None), columns=list(_BASES))
        prob = prob.div(prob.sum(axis=1), axis=0)
        info = logomaker.transform_matrix(prob, from_type="probability", to_type="information")
        logomaker.Logo(info, ax=ax, color_scheme="classic", show_spines=False)
        ax.set_ylim(0, 2)
        label = f"filter {f} ({by_id[f].get('n_hits', 0)} hits)"
        if influence is not None and f in influence:
            label += f"\nΔloss {influence[f]:.3g}"
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        if i % ncols == 0:
            ax.set_ylabel("bits")
    fig.tight_layout()
    return fig


def interaction_heatmap(interactions_df: pd.DataFrame, *, value: str = "score",
                        title: str | None = None) -> Figure:
    """Symmetric heat map of pair scores between the scored positions.

    ``interactions_df``: ``pos_a``, ``pos_b`` and the column ``value`` (``score``: mean
    |epistasis|, sequential colours; ``signed_score``: diverging colours centred at 0).
    """
    fig = Figure(figsize=(6.0, 5.2))
    ax = fig.add_subplot(1, 1, 1)
    if interactions_df is None or len(interactions_df) == 0:
        ax.text(0.5, 0.5, "no pairs scored", ha="center", va="center")
        ax.set_axis_off()
        return fig
    pos = np.unique(np.concatenate([interactions_df["pos_a"].to_numpy(),
                                    interactions_df["pos_b"].to_numpy()]))
    index = {int(p): i for i, p in enumerate(pos)}
    m = np.full((len(pos), len(pos)), np.nan)
    for a, b, v in zip(interactions_df["pos_a"], interactions_df["pos_b"],
                       interactions_df[value]):
        m[index[int(a)], index[int(b)]] = m[index[int(b)], index[int(a)]] = float(v)
    finite = m[np.isfinite(m)]
    if value == "signed_score":
        lim = float(np.abs(finite).max()) if finite.size else 1.0
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim or -1, vmax=lim or 1, interpolation="nearest")
    else:
        im = ax.imshow(m, cmap="viridis", vmin=0, interpolation="nearest")
    ticks = np.arange(len(pos))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    fs = 7 if len(pos) > 20 else 9
    ax.set_xticklabels([str(p) for p in pos], rotation=90, fontsize=fs)
    ax.set_yticklabels([str(p) for p in pos], fontsize=fs)
    ax.set_xlabel("position (0-based)")
    ax.set_ylabel("position (0-based)")
    ax.set_title(title or ("Pairwise epistasis, mean |value|" if value == "score"
                           else "Pairwise epistasis, mean signed value"))
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label("phenotype units")
    fig.tight_layout()
    return fig


def _chrom_key(name) -> tuple:
    """Sort key of chromosome names: numbers in numeric order, then the rest by name."""
    text = str(name)
    core = text[3:] if text.lower().startswith("chr") else text
    return (0, int(core), "") if core.isdigit() else (1, 0, core)


def manhattan_plot(table: pd.DataFrame, *, value: str = "importance",
                   title: str = "Marker effects along the genome",
                   ylabel: str = "|effect| (phenotype units)", top_n: int = 10) -> Figure:
    """Manhattan-style plot: ``value`` of each marker by chromosome and position.

    ``table``: one row per marker with ``chrom``, ``pos`` (from data/features.tsv) and
    ``value`` (e.g. effects.tsv's ``importance`` = |ALT-allele effect|, or ISM importance).
    Chromosomes are drawn side by side in karyotype order, alternating colours; the ``top_n``
    largest markers are marked. Rows without chrom/pos are drawn by tensor column.
    """
    df = table.copy()
    v = pd.to_numeric(df[value], errors="coerce").abs().to_numpy(float)
    fig = Figure(figsize=(10, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    if "chrom" not in df or "pos" not in df:
        df["chrom"], df["pos"] = "", np.arange(len(df))
    chrom = df["chrom"].fillna("").astype(str).to_numpy()
    pos = pd.to_numeric(df["pos"], errors="coerce").fillna(0).to_numpy(float)
    names = sorted(set(chrom), key=_chrom_key)
    x = np.zeros(len(df))
    offset, ticks = 0.0, []
    gap = max(float(np.nanmax(pos)) if len(pos) else 1.0, 1.0) * 0.02
    for i, c in enumerate(names):
        m = chrom == c
        lo, hi = float(pos[m].min()), float(pos[m].max())
        x[m] = offset + pos[m] - lo
        ax.scatter(x[m], v[m], s=6, color=("#1f4e79" if i % 2 == 0 else "#7fa7c9"), linewidths=0)
        ticks.append((offset + (hi - lo) / 2, c))
        offset += (hi - lo) + gap
    finite = np.isfinite(v)
    if finite.any() and top_n:
        top = np.argsort(-np.where(finite, v, -np.inf), kind="stable")[:top_n]
        ax.scatter(x[top], v[top], s=22, facecolors="none", edgecolors=_CAUSAL, linewidths=1.0,
                   label=f"top {len(top)} markers")
        ax.legend(frameon=False, loc="upper right")
    if names and (len(names) > 1 or names[0]):
        ax.set_xticks([t for t, _ in ticks])
        ax.set_xticklabels([c for _, c in ticks], fontsize=8 if len(names) > 12 else 9)
        ax.set_xlabel("chromosome")
    else:
        ax.set_xlabel("position")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _style(ax)
    fig.tight_layout()
    return fig


def position_effects_logo(effects: pd.DataFrame, *, top_n: int = 20,
                          title: str = "Largest per-base effects of the linear model") -> Figure:
    """Logo of a sequence model's per-base effects (effects.tsv ``effect_A`` .. ``effect_T``,
    centred per position) at its ``top_n`` most important positions, in sequence order."""
    import logomaker

    cols = [f"effect_{b}" for b in _BASES]
    top = effects.sort_values("rank").head(top_n).sort_values("position")
    e = top[cols].to_numpy(float)
    e = e - e.mean(axis=1, keepdims=True)
    fig = Figure(figsize=(max(4.0, 0.45 * len(top) + 1.5), 3.0))
    ax = fig.add_subplot(1, 1, 1)
    if len(top):
        logomaker.Logo(pd.DataFrame(np.nan_to_num(e), columns=list(_BASES)), ax=ax,
                       color_scheme="classic", flip_below=False, fade_below=0.3, show_spines=False)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(top)))
    ax.set_xticklabels([str(p) for p in top["position"]], rotation=90 if len(top) > 12 else 0)
    ax.set_xlabel("position (0-based)")
    ax.set_ylabel("effect − position mean")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def kmer_effects_plot(kmers: pd.DataFrame, *, top_n: int = 25,
                      title: str = "k-mers with the largest effects") -> Figure:
    """Horizontal bars of kmers.tsv's ``effect_per_sd`` (phenotype units per SD of the count)."""
    top = kmers.sort_values("rank").head(top_n).iloc[::-1]
    fig = Figure(figsize=(6.0, max(2.5, 0.25 * len(top) + 1.0)))
    ax = fig.add_subplot(1, 1, 1)
    v = top["effect_per_sd"].to_numpy(float)
    ax.barh(np.arange(len(top)), v, color=np.where(v >= 0, "#b2182b", "#2166ac"))
    ax.set_yticks(np.arange(len(top)))
    ax.set_yticklabels(top["kmer"].astype(str), fontfamily="monospace", fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("effect per SD of the count (phenotype units)")
    ax.set_title(title)
    _style(ax)
    fig.tight_layout()
    return fig


def saliency_vs_ism(ism_importance, saliency_importance, causal=None) -> Figure:
    """Scatter of saliency against ISM importance per position, with their Spearman ρ."""
    from scipy import stats

    a = np.asarray(ism_importance, dtype=float).reshape(-1)
    b = np.asarray(saliency_importance, dtype=float).reshape(-1)
    rho = float("nan")
    if len(a) > 2 and a.std() > 0 and b.std() > 0:
        rho = float(stats.spearmanr(a, b).statistic)
    fig = Figure(figsize=(4.8, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    causal_mask = np.zeros(len(a), dtype=bool)
    for c in causal or []:
        if 0 <= int(c) < len(a):
            causal_mask[int(c)] = True
    ax.scatter(a[~causal_mask], b[~causal_mask], s=10, color=_OTHER, alpha=0.7,
               label="other position")
    if causal_mask.any():
        ax.scatter(a[causal_mask], b[causal_mask], s=16, color=_CAUSAL, label="causal locus")
        ax.legend(frameon=False)
    ax.set_xlabel("ISM importance (mean |Δ phenotype|)")
    ax.set_ylabel("saliency (mean |gradient x input|)")
    ax.set_title(f"Saliency vs ISM, Spearman ρ = {rho:.2f}")
    _style(ax)
    fig.tight_layout()
    return fig
