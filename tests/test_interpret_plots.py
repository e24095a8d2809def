"""Interpretation figures build and render."""

import io

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("logomaker")

from seq2pheno import interpret_plots as P  # noqa: E402


def render(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_every_figure_builds():
    rng = np.random.default_rng(0)
    L = 40
    imp = rng.random(L)
    gmap = rng.normal(size=(L, 4))
    render(P.importance_plot(imp, causal=[3, 10]))
    render(P.importance_plot(imp))
    render(P.global_map_heatmap(gmap))
    render(P.top_positions_logo(gmap, imp, top_n=8))
    pfm = np.full((5, 4), 0.05)
    pfm[np.arange(5), [0, 1, 2, 3, 0]] = 0.85
    pwms = [{"filter": 0, "n_hits": 30, "pfm": pfm, "informative": True},
            {"filter": 1, "n_hits": 2, "pfm": np.full((5, 4), 0.25), "informative": False},
            {"filter": 2, "n_hits": 12, "pfm": pfm[::-1], "informative": True}]
    render(P.filter_logos(pwms, order=[2, 0], influence={0: 0.5, 2: 0.1}))
    render(P.filter_logos([]))
    df = pd.DataFrame({"pos_a": [1, 1, 4], "pos_b": [4, 9, 9], "score": [0.3, 0.1, 0.2],
                       "signed_score": [-0.3, 0.05, 0.2], "rank": [1, 3, 2]})
    render(P.interaction_heatmap(df))
    render(P.interaction_heatmap(df, value="signed_score"))
    render(P.interaction_heatmap(df.iloc[:0]))
    render(P.saliency_vs_ism(imp, imp + rng.random(L) * 0.1, causal=[3]))
    assert set(P.CAPTIONS) >= {"importance", "global_map", "logo", "filters", "interactions",
                                "saliency"}
