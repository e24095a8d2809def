"""Report sections beyond the backbone: interpretation, unphenotyped ranking, relatedness.

Each function takes loaded results (DataFrames, dicts, arrays) and returns a section dict
for ``ctx["extra_sections"]`` of :func:`seq2pheno.report.render_report`.
"""

from __future__ import annotations

import os
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pandas as pd

from . import interpret_plots as ip
from .atomic import read_json
from .report import figure_block, section, table_block


def _caption(text: str) -> str:
    return f"{text} {ip.CAVEAT}"


def _marker_parts(table: pd.DataFrame, value_label: str, what: str, top: int = 20) -> list[str]:
    """The genome-wide view of marker effects: a Manhattan-style plot and the top markers."""
    parts = [figure_block(ip.manhattan_plot(table, ylabel=value_label), _caption(ip.CAPTIONS["manhattan"]))]
    cols = [c for c in ("position", "chrom", "pos", "ref", "alt", "alt_effect", "importance", "rank")
            if c in table]
    parts.append(table_block(table.sort_values("rank").head(top)[cols],
                             f"The {min(top, len(table))} markers {what}: chromosome, position, the "
                             "REF and ALT alleles"
                             + (", the effect of one ALT allele (phenotype units; negative lowers "
                                "the phenotype)" if "alt_effect" in table else "")
                             + " and the importance (rank 1 = largest)."))
    return parts


def _agreement_block(ism: pd.DataFrame, genotype: bool, top: int = 15) -> str:
    """An ensemble's ISM: the top positions with the members' spread and agreement."""
    t = ism.sort_values("rank").head(top)
    cols = [c for c in ("position", "chrom", "pos", "importance", "importance_sd", "member_agreement", "rank")
            if c in t]
    where = "markers" if genotype else "positions"
    sure = int((t["member_agreement"] >= 0.999).sum())
    return ("<p>This model is an ensemble: its ISM map is the mean of its members' maps. "
            f"<em>member_agreement</em> is the share of members that rank a {where[:-1]} among their "
            f"most important ones, <em>importance_sd</em> the spread of the members' importances. "
            f"{sure} of the top {len(t)} {where} are relied on by every member; a {where[:-1]} only "
            "some members use is a weaker finding.</p>"
            + table_block(t[cols], f"The {len(t)} {where} the ensemble relies on most, with the "
                          "members' agreement.", digits=3))


def interpretation_section(model: str, *, ism: pd.DataFrame, global_map: np.ndarray,
                           saliency: pd.DataFrame, pwms: list[dict], influence: pd.DataFrame,
                           interactions: pd.DataFrame, recovery: dict | None = None,
                           causal: list[int] | None = None, genotype: bool = False,
                           motif_names: dict | None = None,
                           motif_matches: pd.DataFrame | None = None) -> dict:
    """What the CNN ``model`` uses: ISM, saliency, filter motifs, epistasis, truth recovery.

    ism: ism.tsv (position, importance, rank, ...; chrom, pos, ref, alt on genotype cohorts);
    global_map: L x 4 mean signed deltas; saliency: saliency.tsv (position, saliency); pwms:
    from filters.read_meme; influence: filter_influence.tsv; interactions: interactions.tsv;
    recovery: truth_recovery.json. ``genotype``: a per-marker genotype cohort: the markers are
    shown along the genome (chrom, pos) with their alleles, and no sequence logos or filter
    motifs are drawn (a window over neighbouring marker columns is no motif).
    ``motif_names``: optional {filter id: name of the matching known motif} (a hook for the
    JASPAR naming of seq2pheno.motifs), listed beside the filter logos.
    """
    importance = ism["importance"].to_numpy()
    if genotype:
        parts = [
            "<p>In-silico mutagenesis (ISM) changes each marker of each interpreted test individual "
            "to the other genotypes and records how the prediction moves. It is exact for this "
            "model, but it describes the model, not the genome.</p>",
            *_marker_parts(ism, "ISM importance (mean |Δ phenotype|)", "the network relies on most"),
            figure_block(ip.saliency_vs_ism(importance, saliency["saliency"].to_numpy(), causal),
                         _caption(ip.CAPTIONS["saliency"])),
        ]
    else:
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
    if "member_agreement" in ism:
        parts.append(_agreement_block(ism, genotype))
    if genotype:
        pass
    elif pwms:
        ranked = influence.sort_values("rank")["filter"].tolist() if len(influence) else None
        inf = dict(zip(influence["filter"], influence["loss_increase"])) if len(influence) else None
        parts.append(figure_block(ip.filter_logos(pwms, order=ranked, influence=inf),
                                  _caption(ip.CAPTIONS["filters"])))
        if motif_names:
            named = pd.DataFrame({"filter": list(motif_names), "known motif": list(motif_names.values())})
            parts.append(table_block(named, "First-layer filters matched to known motifs."))
    else:
        parts.append("<p>The first convolution of this model looks at one base at a time (kernel "
                     "size 1) or no filter fired often enough, so there are no filter motifs to "
                     "draw; the influence table still ranks its filters.</p>")
    if motif_matches is not None and not genotype:
        parts.append(motif_matches_block(motif_matches))
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


def coefficients_section(model: str, kind: str, *, effects: pd.DataFrame | None = None,
                         kmers: pd.DataFrame | None = None, genotype: bool = False) -> dict:
    """What a model interpreted by its own parameters uses (rule interpret_coefficients).

    effects: effects.tsv (:func:`seq2pheno.coefficients.effects_table`: per marker with chrom,
    pos, ref, alt, alt_effect on genotype cohorts; per position and base otherwise); kmers:
    kmers.tsv (kmer_ridge); ``kind``: the model's kind (ridge, gblup, sparse, boosted, ...).
    """
    signed = effects is not None and ("alt_effect" in effects or "effect_A" in effects)
    if kmers is not None:
        parts = ["<p>This model counts k-mers wherever they occur, so its coefficients are per k-mer, "
                 "not per position.</p>",
                 figure_block(ip.kmer_effects_plot(kmers), _caption(ip.CAPTIONS["kmers"])),
                 table_block(kmers.sort_values("rank").head(20),
                             "The k-mers with the largest effects (per additional occurrence and per "
                             "SD of the count, phenotype units).")]
    elif effects is None or not len(effects):
        parts = [f"<p>The {kind} model gives no effects per position or marker to show.</p>"]
    else:
        what = ("its coefficients are its explanation: the change in predicted phenotype per copy "
                "of each marker's ALT allele" if signed and genotype else
                "its coefficients are its explanation: the change in predicted phenotype per base at "
                "each position" if signed else
                "its importances (how much each column is used by the trees; not signed effects) "
                "are its explanation")
        parts = [f"<p>The model that predicted best on the validation samples is {kind}, a model "
                 f"whose parameters can be read directly: {what}. Unlike mutagenesis of a network, "
                 "this is exact and needs no test sequences. It describes the model, not the "
                 "genome.</p>"]
        label = ("|effect of one ALT allele| (phenotype units)" if signed else "importance")
        if genotype and {"chrom", "pos"} <= set(effects.columns):
            parts += _marker_parts(effects, label, "with the largest effects")
        else:
            parts.append(figure_block(ip.importance_plot(effects["importance"].to_numpy(),
                                                         title=f"{kind} effect size per position",
                                                         ylabel="largest change (phenotype units)"
                                                         if signed else "importance"),
                                      _caption("The size of the model's effect at each position: "
                                               "the largest change one base substitution makes.")))
            if signed and "effect_A" in effects:
                parts.append(figure_block(ip.position_effects_logo(effects),
                                          _caption(ip.CAPTIONS["effects_logo"])))
            cols = [c for c in effects.columns if c != "note"]
            parts.append(table_block(effects.sort_values("rank").head(15)[cols],
                                     "The 15 positions with the largest effects (phenotype units)."))
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


def unphenotyped_section(rankings: dict[str, pd.DataFrame], top: int = 20,
                         cohort_mean: float | None = None) -> dict | None:
    """Ranking of unphenotyped samples by each model's prediction (genomic selection), with each
    prediction's interval (``lower``, ``upper`` when present) and, given ``cohort_mean`` (the
    mean phenotype of the phenotyped samples), a flag on those whose interval contains it."""
    rankings = {m: df for m, df in rankings.items() if len(df)}
    if not rankings:
        return None
    parts = ["<p>These individuals have genotypes or sequences but no phenotype yet. Each model "
             "predicts their phenotype; the top of the list are the candidates a breeder would "
             "look at first. Predictions are only as good as the model's test accuracy above.</p>"]
    intervals = any({"lower", "upper"} <= set(df.columns) for df in rankings.values())
    if intervals:
        parts.append("<p>Each prediction has a prediction interval (<em>lower</em>, <em>upper</em>): "
                     "split-conformal, calibrated on the validation samples, so that about the "
                     "stated share of new individuals' phenotypes fall inside it (the calibration "
                     "table shows how well that held on the test samples). "
                     + ("An individual marked <em>overlaps mean</em> has an interval that contains "
                        f"the cohort's mean phenotype ({cohort_mean:.4g}): the model cannot tell it "
                        "from an average individual. " if cohort_mean is not None else "")
                     + "</p>")
    for model, df in rankings.items():
        cols = ["rank", "id", "predicted"] + [c for c in ("lower", "upper", "reliability") if c in df.columns]
        shown = df.sort_values("rank").head(top)[cols].copy()
        caption = (f"{model}: the {min(top, len(df))} highest predicted of {len(df)} "
                   "unphenotyped samples (original phenotype scale).")
        if cohort_mean is not None and {"lower", "upper"} <= set(shown.columns):
            overlaps = (df["lower"] <= cohort_mean) & (df["upper"] >= cohort_mean)
            shown["overlaps mean"] = np.where(
                (shown["lower"] <= cohort_mean) & (shown["upper"] >= cohort_mean), "yes", "")
            caption += (f" {int(overlaps.sum())} of {len(df)} have an interval containing the "
                        "cohort mean.")
        parts.append(table_block(shown, caption))
    return section("Unphenotyped samples: predicted ranking", "\n".join(parts), anchor="unphenotyped")


def calibration_section(predictions: dict[str, pd.DataFrame], level: float | None = None) -> dict | None:
    """Nominal against observed coverage of each model's prediction intervals on the test
    samples (predictions.tsv: split, observed, lower, upper), with the mean interval width."""
    rows = []
    for model, df in predictions.items():
        if not {"lower", "upper", "observed", "split"} <= set(df.columns):
            continue
        test = df[(df["split"] == "test") & np.isfinite(pd.to_numeric(df["observed"], errors="coerce"))]
        if not len(test):
            continue
        inside = (test["observed"] >= test["lower"]) & (test["observed"] <= test["upper"])
        rows.append({"model": model, "test samples": len(test), "observed coverage": float(inside.mean()),
                     "mean width": float((test["upper"] - test["lower"]).mean())})
    if not rows:
        return None
    nominal = f"{level:.0%}" if level is not None else "the configured level"
    table = pd.DataFrame(rows)
    if level is not None:
        table.insert(2, "nominal coverage", level)
    text = (f"<p>A prediction interval at {nominal} should contain the observed phenotype of about "
            f"{nominal} of new individuals. The intervals are split-conformal: the spread of the "
            "validation samples' errors sets their width, so they hold on average over individuals "
            "like the validation ones, not for each individual. Here they are checked on the test "
            "samples, which set nothing. Coverage well below the nominal level means the model is "
            "overconfident on new data (for example, test samples less related to the training "
            "set than the validation ones); a narrower interval at the same coverage is the better "
            "model. With a few hundred test samples, coverage itself is uncertain by a few "
            "percent.</p>")
    return section("Calibration of the prediction intervals",
                   text + table_block(table, "Coverage of the prediction intervals on the test samples "
                                      "(under k-fold evaluation, every held-out fold)."),
                   anchor="calibration")


def ensemble_section(metrics: dict[str, dict]) -> dict | None:
    """Each ensemble's test accuracy against its members' (metrics.json ``ensemble`` and
    ``members``; under k-fold evaluation, means over the held-out folds)."""
    rows = []
    notes = []
    for model, m in metrics.items():
        ens, members = m.get("ensemble"), m.get("members")
        if not ens or not members:
            continue
        test = m.get("test") or {}
        r2 = np.array([(x.get("test") or {}).get("r2") for x in members], dtype=float)
        r = np.array([(x.get("test") or {}).get("pearson_r") for x in members], dtype=float)
        rows.append({"model": model, "members": ens["members"], "over": ens["over"],
                     "ensemble R²": test.get("r2"), "member 0 R²": r2[0],
                     "members' mean R²": float(np.nanmean(r2)), "members' range R²":
                     f"{np.nanmin(r2):.3f} to {np.nanmax(r2):.3f}",
                     "ensemble r": test.get("pearson_r"), "members' mean r": float(np.nanmean(r))})
        gain = (test.get("r2") or np.nan) - float(np.nanmean(r2))
        notes.append(f"<strong>{html_escape(model)}</strong>: the mean of its {ens['members']} members "
                     f"{'gains' if gain > 0 else 'loses'} {abs(gain):.3f} test R² against a typical member"
                     + (" (a difference this small is within the noise of one test set)" if abs(gain) < 0.01
                        else "") + ".")
    if not rows:
        return None
    table = pd.DataFrame(rows)
    text = ("<p>An ensemble trains the same kind of network several times (with other random seeds, "
            "other validation folds, or the best settings of a search) and predicts with the mean "
            "of the members. Networks trained from different starting points end in different "
            "solutions; their mean is usually at least as accurate as a typical member, and their "
            "disagreement (<em>sd</em> in predictions.tsv) says where the model is unsure. The "
            "prediction intervals of an ensemble are scaled by that spread, so they are wider for "
            "individuals the members disagree on. Member 0 of a seed or trial ensemble is the "
            "network the model trains without an ensemble, so the table compares the ensemble "
            "with it on the same samples. The ensemble costs one training per member.</p>"
            "<p>" + " ".join(notes) + "</p>"
            "<p>The interpretation of an ensemble averages the members' in-silico mutagenesis; "
            "<em>member_agreement</em> in its ism.tsv is the share of members that rank a position "
            "among their most important ones: a position every member relies on is a sturdier "
            "finding than one only some do.</p>")
    return section("Ensembles", text + table_block(table, "Test accuracy of each ensemble and of its "
                                                   "members (under k-fold evaluation, means over the "
                                                   "held-out folds).", digits=4), anchor="ensembles")


def search_section(trials: dict[str, pd.DataFrame], best: dict[str, pd.DataFrame]) -> dict | None:
    """Each searched model's trials (search/{model}/trials.tsv: fold, trial, params, value,
    state, seconds, worker) and best trial per fold (best.tsv: fold, trial, value, metric, params)."""
    if not trials:
        return None
    parts = ["<p>A hyperparameter search tries many settings of a network (its learning rate, layer "
             "sizes, kernel widths or even its architecture) and keeps the one with the lowest "
             "validation loss. Each trial trains on the training split and is judged on the "
             "validation split only; the test samples never take part, so the test accuracy of "
             "the searched model above is as honest as any other's. Trials that were clearly worse "
             "than the earlier ones at the same epoch were stopped early (<em>pruned</em>) so that "
             "the budget goes to promising settings. A search can overfit the validation split "
             "when it tries very many settings on few samples: compare its test accuracy with the "
             "presets' before trusting it.</p>"]
    for model, table in trials.items():
        states = table["state"].value_counts().to_dict()
        minutes = float(pd.to_numeric(table["seconds"], errors="coerce").sum()) / 60
        parts.append(f"<p><strong>{html_escape(model)}</strong>: {len(table)} trials "
                     f"({', '.join(f'{v} {html_escape(str(k).lower())}' for k, v in states.items())}), "
                     f"{minutes:.1f} min of training in all.</p>")
        b = best.get(model)
        if b is not None and len(b):
            parts.append(table_block(b[["fold", "trial", "value", "params"]],
                                     f"{model}: the best trial of each fold (lowest validation loss) "
                                     "and its settings, trained as the model.", digits=4))
        done = table[table["state"] == "COMPLETE"].sort_values("value").head(10)
        if len(done):
            parts.append(table_block(done[["fold", "trial", "value", "seconds", "params"]],
                                     f"{model}: the ten best complete trials.", digits=4))
    return section("Hyperparameter search", "\n".join(parts), anchor="search")


def motif_matches_block(table: pd.DataFrame) -> str:
    """motif_matches.tsv as a table with what a match means (and does not)."""
    named = table[table["jaspar_id"].notna()] if len(table) else table
    caveat = ("A match is a similarity between two position weight matrices (Tomtom-like comparison "
              "against JASPAR 2024 CORE vertebrates, q ≤ 0.05 after correcting for every comparison), not "
              "proof that this transcription factor binds here or drives the phenotype: related factors "
              "share motifs, and a filter may be half a motif or two fused.")
    if not len(named):
        n_modisco = int((table["source"] == "modisco").sum()) if len(table) else 0
        return (f"<p><strong>Motifs with names.</strong> No filter and none of the {n_modisco} TF-MoDISco "
                "patterns matched a JASPAR motif at q ≤ 0.05 (motif_matches.tsv). " + caveat + "</p>")
    cols = [c for c in ("source", "motif", "jaspar_id", "jaspar_name", "q_value", "rank", "n_seqlets")
            if c in named.columns]
    return table_block(named[cols].head(30), "Named motifs: first-layer filters (source filter) and "
                       "TF-MoDISco patterns of the ISM attributions (source modisco, with their seqlet "
                       "counts), each with its closest JASPAR motifs. " + caveat)


def kinship_section(table: pd.DataFrame, related: pd.DataFrame | None, summary: dict) -> dict:
    """Relatedness of a genotype cohort: kinship histogram, degree counts, related pairs and decisions.

    table: curate/kinship.tsv (id1, id2, nsnp, hethet, ibs0, kinship; possibly floored by
    ``king_table_floor``); related: curate/related.tsv (id1, id2, nsnp, kinship, degree, action)
    or None; summary: curate/summary.json (relatedness, king_cutoff, king_table_floor, n_pairs...).
    """
    from . import plots

    cutoff = float(summary.get("king_cutoff", 0.0884))
    mode = summary.get("relatedness", "remove")
    floor = summary.get("king_table_floor")
    k = pd.to_numeric(table["kinship"], errors="coerce").to_numpy(float)
    n_pairs = int(summary.get("n_pairs", len(k)))
    measure = summary.get("relationship_measure", "KING-robust")
    if measure is None:
        reason = summary.get("relationship_reason") or "no autosomal biallelic sites"
        return section("Relatedness", f"<p><strong>Kinship could not be estimated</strong>: {html_escape(reason)}. "
                       "No relative or duplicate could be detected, so the test accuracy may include "
                       "relatives of training samples.</p>", anchor="relatedness")
    how = ("The KING-robust kinship coefficient (Manichaikul et al. 2010, as plink2 computes it)"
           if str(measure).startswith("KING") else
           f"Kinship from VanRaden's genomic relationship ({html_escape(str(measure))}: G_ij / (2 √(G_ii G_jj)), "
           "used because KING-robust is undefined for this cohort"
           + (f": {html_escape(str(summary.get('relationship_reason')))}" if summary.get("relationship_reason") else "")
           + ")")
    parts = [
        "<p>Relatives share long stretches of genome, so a model tested on the relative of a "
        "training sample is partly tested on what it has already seen, and its accuracy looks "
        f"better than it will be on unrelated individuals. {how} "
        f"was estimated for all {n_pairs:,} pairs "
        f"of samples over {int(summary.get('n_kinship_sites', 0)):,} biallelic autosomal SNVs. "
        "It is about 0.5 for duplicates or identical twins, 0.25 for parent–offspring and full "
        "siblings, 0.125 for second-degree relatives (half siblings, grandparents) and 0.0625 for "
        "first cousins; unrelated pairs scatter around 0 (below it under population structure).</p>",
        *([f"<p><strong>How the markers were read</strong> (<code>coding: auto</code>): "
           f"{html_escape(str(summary['coding_reason']))}. Set <code>coding</code> in the cohort's "
           "entry if that is not how the matrix is coded: kinship and curation depend on it.</p>"]
          if summary.get("coding_reason") else []),
        plots_figure(plots.kinship_histogram(k), "Kinship of every pair of samples"
                     + (f" (pairs with kinship ≥ {floor} only: king_table_floor)" if floor is not None else "")
                     + ". The dashed lines are plink2's degree thresholds, halfway between the "
                     "expected values of neighbouring degrees; the count axis is logarithmic, since "
                     "unrelated pairs outnumber relatives by orders of magnitude."),
    ]
    labels = [("duplicate / MZ twin", 0.354, None), ("1st degree", 0.177, 0.354),
              ("2nd degree", 0.0884, 0.177), ("3rd degree", 0.0442, 0.0884)]
    items = []
    for name, lo, hi in labels:
        n = int(np.sum((k > lo) & ((k <= hi) if hi is not None else True)))
        what = (f"between {lo:g} and {hi:g}" if hi is not None else f"above {lo:g}")
        acted = ("above the cutoff: handled as related" if lo >= cutoff
                 else "below the cutoff: treated as unrelated" if (hi or 1.0) <= cutoff
                 else "partly above the cutoff")
        items.append(f"<li><strong>{name}</strong>: {n:,} pair{'s' if n != 1 else ''} with kinship "
                     f"{what} ({acted}).</li>")
    parts.append("<ul>" + "".join(items) + "</ul>")
    n_rel = int(summary.get("n_related_pairs", 0 if related is None else len(related)))
    if mode == "remove":
        decision = (f"Pairs with kinship above {cutoff:g} (curation.king_cutoff) count as related. "
                    "With <code>relatedness: remove</code> the workflow keeps the largest set of "
                    "phenotyped samples in which no two are related (exact on small families) and "
                    "removes the others before the split. Unphenotyped samples are never removed: they "
                    "are in no evaluation split, and a relative in training is what helps predict them.")
    elif mode == "group":
        decision = (f"Pairs with kinship above {cutoff:g} (curation.king_cutoff) count as related. "
                    "With <code>relatedness: group</code> every sample is kept and each family (connected "
                    "relatives) forms one group that the split keeps together, so relatives are never "
                    "on both sides of a train/test boundary.")
    else:
        decision = ("With <code>relatedness: keep</code> (the default for genotype cohorts) relatives "
                    "stay: they are what genomic prediction learns from, as in a breeding programme "
                    "that predicts the offspring of its own lines. Only duplicates and clones (kinship "
                    "≥ 0.354, or identical genotypes) are grouped, so that no copy of a test sample is "
                    "in training. The verdict says how many test samples have a close relative in "
                    f"training. Pairs above {cutoff:g} (curation.king_cutoff) are listed below.")
    parts.append(f"<p>{decision} {n_rel:,} pair{'s' if n_rel != 1 else ''} crossed the cutoff.</p>")
    if related is not None and len(related):
        cols = [c for c in ("id1", "id2", "kinship", "degree", "action") if c in related.columns]
        shown = related.sort_values("kinship", ascending=False).head(50)[cols]
        parts.append(table_block(shown, f"Related pairs (kinship > {cutoff:g}) and what was done with "
                                 f"each{' (the 50 closest shown)' if len(related) > 50 else ''}; "
                                 "the full list is curate/related.tsv, every pair curate/kinship.tsv."))
    return section(f"Relatedness ({'KING' if str(measure).startswith('KING') else 'genomic relationship'} kinship)",
                   "\n".join(parts), anchor="relatedness")


def plots_figure(fig, caption: str) -> str:
    """A figure block without the interpretation caveat."""
    return figure_block(fig, caption)


def kinship_report_section(paths: dict) -> dict:
    """The report's relatedness section from curate/kinship.tsv, related.tsv and summary.json.

    ``paths["kinship"]``: the kinship.tsv path, or a list holding it and related.tsv.
    """
    files = paths["kinship"]
    files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    rel_path = next((f for f in files if Path(f).name == "related.tsv"), None)
    imported = next((f for f in files if Path(f).name == "import_summary.json"), None)
    kin_path = next((f for f in files if f not in (rel_path, imported)), files[0])
    table = pd.read_csv(kin_path, sep="\t", dtype={"id1": str, "id2": str})
    related = (pd.read_csv(rel_path, sep="\t", dtype={"id1": str, "id2": str}) if rel_path else None)
    summary = read_json(paths["curate_summary"]) if paths.get("curate_summary") else {}
    if imported:
        summary = {**summary, "coding_reason": read_json(imported).get("coding_reason")}
    return kinship_section(table, related, summary)
