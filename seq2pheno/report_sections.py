"""Report sections beyond the backbone: interpretation, unphenotyped ranking, relatedness.

Each function takes loaded results (DataFrames, dicts, arrays) and returns a section dict
for ``ctx["extra_sections"]`` of :func:`seq2pheno.report.render_report`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import interpret_plots as ip
from .report import figure_block, section, table_block


def _caption(text: str) -> str:
    return f"{text} {ip.CAVEAT}"


def interpretation_section(model: str, *, ism: pd.DataFrame, global_map: np.ndarray,
                           saliency: pd.DataFrame, pwms: list[dict], influence: pd.DataFrame,
                           interactions: pd.DataFrame, recovery: dict | None = None,
                           causal: list[int] | None = None) -> dict:
    """What the CNN ``model`` uses: ISM, saliency, filter motifs, epistasis, truth recovery.

    ism: ism.tsv (position, importance, rank, ...); global_map: L x 4 mean signed deltas;
    saliency: saliency.tsv (position, saliency); pwms: from filters.read_meme; influence:
    filter_influence.tsv; interactions: interactions.tsv; recovery: truth_recovery.json.
    """
    importance = ism["importance"].to_numpy()
    parts = [
        "<p>In-silico mutagenesis (ISM) changes every base of each interpreted test sequence to "
        "each other base and records how the prediction moves. It is exact for this model, "
        "but it describes the model, not the genome.</p>",
        figure_block(ip.importance_plot(importance, causal), _caption(ip.CAPTIONS["importance"])),
        figure_block(ip.top_positions_logo(global_map, importance), _caption(ip.CAPTIONS["logo"])),
        figure_block(ip.global_map_heatmap(global_map), _caption(ip.CAPTIONS["global_map"])),
        figure_block(ip.saliency_vs_ism(importance, saliency["saliency"].to_numpy(), causal),
                     _caption(ip.CAPTIONS["saliency"])),
    ]
    top = ism.sort_values("rank").head(15)
    cols = [c for c in ("position", "chrom", "pos", "ref", "alt", "importance", "rank") if c in top]
    parts.append(table_block(top[cols], "The 15 positions the model relies on most (ISM importance, "
                             "phenotype units)."))
    if pwms:
        ranked = influence.sort_values("rank")["filter"].tolist() if len(influence) else None
        inf = dict(zip(influence["filter"], influence["loss_increase"])) if len(influence) else None
        parts.append(figure_block(ip.filter_logos(pwms, order=ranked, influence=inf),
                                  _caption(ip.CAPTIONS["filters"])))
    else:
        parts.append("<p>The first convolution of this model looks at one base at a time (kernel "
                     "size 1) or no filter fired often enough, so there are no filter motifs to "
                     "draw; the influence table still ranks its filters.</p>")
    if len(influence):
        cols = [c for c in ("filter", "loss_increase", "r2_drop", "rank") if c in influence]
        parts.append(table_block(influence.sort_values("rank")[cols].head(15),
                                 "Filters ranked by influence: the increase in test loss when the filter's "
                                 "output is replaced by its mean (nullification). Influence, not motif "
                                 "sharpness, says what the model needs; redundant filters share it."))
    if len(interactions):
        parts.append(figure_block(ip.interaction_heatmap(interactions), _caption(ip.CAPTIONS["interactions"])))
        parts.append(table_block(interactions.sort_values("rank").head(10),
                                 "The 10 strongest pairwise interactions (score = mean |epistasis|, "
                                 "signed_score = its mean, phenotype units)."))
    if recovery:
        parts.append(_recovery_block(recovery))
    return section(f"What {model} learned", "\n".join(parts), anchor=f"interpret-{model}")


def _recovery_block(recovery: dict) -> str:
    rows = []
    c = recovery.get("causal") or {}
    rows.append({"what": "causal loci, ISM", "precision of top k": c.get("precision_at_k"),
                 "AUROC": c.get("auroc"), "k": c.get("k")})
    r = recovery.get("ridge")
    if r:
        rows.append({"what": "causal loci, ridge coefficients", "precision of top k": r.get("precision_at_k"),
                     "AUROC": r.get("auroc"), "k": r.get("k")})
    p = recovery.get("pairs") or {}
    text = (f"<p>Of the {p.get('n_true', 0)} planted epistatic pairs, {p.get('n_true_scored', 0)} were among "
            f"the scored pairs (both positions in the top positions by ISM); "
            f"{100 * (p.get('fraction_in_top_10pct') or 0):.0f}% rank in the top 10% of scored pairs. "
            "Ridge sees additive effects only, so it cannot recover pairs.</p>")
    return (table_block(pd.DataFrame(rows), "Truth recovery on this simulated cohort: how many of the k "
                        "highest-ranked positions are planted causal loci (k = their number), and the "
                        "area under the ROC curve of importance against causal / non-causal.") + text)


def unphenotyped_section(rankings: dict[str, pd.DataFrame], top: int = 20) -> dict | None:
    """Ranking of unphenotyped samples by each model's prediction (genomic selection)."""
    rankings = {m: df for m, df in rankings.items() if len(df)}
    if not rankings:
        return None
    parts = ["<p>These individuals have genotypes or sequences but no phenotype yet. Each model "
             "predicts their phenotype; the top of the list are the candidates a breeder would "
             "look at first. Predictions are only as good as the model's test accuracy above.</p>"]
    for model, df in rankings.items():
        parts.append(table_block(df.sort_values("rank").head(top)[["rank", "id", "predicted"]],
                                 f"{model}: the {min(top, len(df))} highest predicted of {len(df)} "
                                 "unphenotyped samples (original phenotype scale)."))
    return section("Unphenotyped samples: predicted ranking", "\n".join(parts), anchor="unphenotyped")
