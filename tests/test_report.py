"""Tests of seq2pheno.report: a self-contained, honest, escaped HTML report."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from seq2pheno import atomic, plots, report


def _history(n_epochs: int, best: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ep = np.arange(1, n_epochs + 1)
    loss = 1.0 / ep + 0.02 * rng.random(n_epochs)
    val = 1.0 / ep + 0.05 + 0.01 * (ep - best).clip(0)
    return pd.DataFrame({"epoch": ep, "loss": loss, "val_loss": val, "learning_rate": 1e-3,
                         "seconds": 0.5, "best": ep == best})


def _predictions(n: int, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    obs = rng.normal(10, 2, n)
    split = np.array(["train"] * (n - 40) + ["valid"] * 20 + ["test"] * 20)
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "split": split, "observed": obs,
                         "predicted": obs + rng.normal(0, noise, n)})


def _metrics(test_r2, valid_r2, n_test=20):
    return {"train": {"n": 160, "r2": 0.95, "mse": 0.2, "pearson_r": 0.97, "spearman_r": 0.96},
            "valid": {"n": 20, "r2": valid_r2, "mse": 0.5, "pearson_r": 0.9, "spearman_r": 0.88},
            "test": {"n": n_test, "r2": test_r2, "mse": 0.61234, "pearson_r": 0.9123,
                     "spearman_r": 0.8877}}


def make_ctx(ridge_test=0.70, cnn_test=0.80, source="simulate", cohort="demo") -> dict:
    rng = np.random.default_rng(0)
    removed = pd.DataFrame({"id": ["a", "b", "c"],
                            "reason": ["exact_duplicate", "exact_duplicate", "near_duplicate"],
                            "detail": ["same sequence as x1", "same sequence as x2", "hamming 1 to x3"]})
    return {
        "cohort": cohort,
        "source": source,
        "n_samples": 203,
        "n_kept": 200,
        "length": 150,
        "removed": removed,
        "split_counts": {"train": 160, "valid": 20, "test": 20},
        "phenotypes_by_split": {"train": rng.normal(10, 2, 160), "valid": rng.normal(10, 2, 20),
                                "test": rng.normal(10, 2, 20)},
        "distribution": {"pairs": [{"a": "train", "b": "valid", "ks_statistic": 0.1234, "p_value": 0.4321},
                                   {"a": "train", "b": "test", "ks_statistic": 0.0987, "p_value": 0.7654},
                                   {"a": "valid", "b": "test", "ks_statistic": 0.15, "p_value": 0.9}],
                         "n": {"train": 160, "valid": 20, "test": 20},
                         "mean": {"train": 10.0, "valid": 10.1, "test": 9.9},
                         "sd": {"train": 2.0, "valid": 2.1, "test": 1.9}},
        "models": {
            "default": {"kind": "cnn", "metrics": _metrics(cnn_test, 0.83), "history": _history(12, 8, 1),
                        "predictions": _predictions(200, 0.8, 1)},
            "seed_cnn": {"kind": "cnn", "metrics": _metrics(cnn_test - 0.05, 0.78), "history": _history(9, 9, 2),
                         "predictions": _predictions(200, 1.2, 2)},
            "ridge": {"kind": "ridge", "metrics": _metrics(ridge_test, 0.72), "history": None,
                      "predictions": _predictions(200, 1.0, 3)},
        },
        "noise_ceiling": {"value": 0.9321, "source": "simulation truth H²"},
    }


SIMPLE = "The simpler model is as good here"


@pytest.fixture(scope="module")
def html_cnn_wins():
    return report.render_report(make_ctx(ridge_test=0.70, cnn_test=0.80))


def test_every_section_present(html_cnn_wins):
    for title in ["Cohort summary", "Phenotype distribution across splits", "Training curves",
                  "Model comparison", "Best model: predictions on the test set", "Glossary"]:
        assert f"<h2>{title}</h2>" in html_cnn_wins
    # 1 histogram + 1 loss figure + scatter + error histogram
    assert html_cnn_wins.count("<img ") == 4
    assert html_cnn_wins.count("<figcaption>") == 4


def test_self_contained(html_cnn_wins):
    assert "http://" not in html_cnn_wins and "https://" not in html_cnn_wins
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html_cnn_wins):
        assert attr.startswith("data:") or attr.startswith("#"), attr
    imgs = re.findall(r"<img\b[^>]*>", html_cnn_wins)
    assert imgs
    for tag in imgs:
        assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', tag), tag[:80]
    assert "<script" not in html_cnn_wins and "<link" not in html_cnn_wins


def test_numbers_match_inputs(html_cnn_wins):
    h = html_cnn_wins
    assert ">0.800<" in h and ">0.830<" in h          # default: test and valid R²
    assert ">0.700<" in h and ">0.720<" in h          # ridge
    assert ">0.912<" in h and ">0.888<" in h and ">0.612<" in h   # pearson, spearman, mse
    assert ">0.932<" in h                             # noise ceiling
    assert "0.123" in h and "0.432" in h              # KS statistic and p-value
    assert ">20<" in h and "20.000" not in h            # counts shown as integers
    assert ">203<" in h and ">200<" in h and ">150 bp" in h
    assert re.search(r"<td>exact_duplicate</td><td class=\"num\">2</td>", h)
    assert re.search(r"<td>near_duplicate</td><td class=\"num\">1</td>", h)
    # the best model (by validation R²) is highlighted
    best_row = re.search(r'<tr class="best">(.*?)</tr>', h).group(1)
    assert "default" in best_row and "0.830" in best_row


def crafted(noise, n_test=400, valid=None, seed=5):
    """A ctx whose test predictions have the given noise SD per model (observed SD 2), so the
    verdict's paired comparison has a known answer; ``valid`` overrides validation R²."""
    ctx = make_ctx()
    rng = np.random.default_rng(seed)
    obs = rng.normal(10, 2, n_test)
    ids = [f"t{i}" for i in range(n_test)]
    for name, sd in noise.items():
        pred = obs + rng.normal(0, sd, n_test) if sd is not None else rng.normal(10, 2, n_test)
        ctx["models"][name]["predictions"] = pd.DataFrame(
            {"id": ids, "split": "test", "observed": obs, "predicted": pred})
        if valid and name in valid:
            ctx["models"][name]["metrics"] = json.loads(json.dumps(ctx["models"][name]["metrics"]))
            ctx["models"][name]["metrics"]["valid"].update(r2=valid[name], pearson_r=valid[name])
    return ctx


def test_verdict_better_when_the_network_clearly_wins():
    v = report.verdict(crafted({"default": 0.5, "seed_cnn": 1.0, "ridge": 2.0}))
    assert v["case"] == "better"
    s = v["summary"]
    assert s["best_model"] == "default" and s["best_linear"] == "ridge" and s["metric"] == "pearson_r"
    lo, hi = s["difference"]["interval"]
    assert 0 < lo < s["difference"]["value"] < hi
    assert "95 % interval" in s["sentence"] and "paired bootstrap over 400 test samples" in s["sentence"]
    h = report.render_report(crafted({"default": 0.5, "seed_cnn": 1.0, "ridge": 2.0}))
    assert "The network predicts better here." in h and SIMPLE not in h


def test_verdict_not_distinguishable_within_noise():
    v = report.verdict(crafted({"default": 1.0, "seed_cnn": 1.0, "ridge": 1.0}))
    assert v["case"] == "indistinguishable"
    lo, hi = v["summary"]["difference"]["interval"]
    assert lo < 0 < hi
    assert "not distinguishable" in v["summary"]["sentence"]
    assert SIMPLE in v["html"] and "epistasis" not in v["html"]


def test_verdict_worse_when_the_chosen_network_loses():
    v = report.verdict(crafted({"default": 1.2, "seed_cnn": 1.5, "ridge": 0.5}))
    assert v["case"] == "worse" and v["summary"]["best_model"] == "default"
    assert "predicts worse than the best linear baseline" in v["summary"]["sentence"]


def test_verdict_when_a_linear_model_is_best_never_beats_itself():
    ctx = crafted({"default": 1.0, "seed_cnn": 1.2, "ridge": 0.5}, valid={"ridge": 0.95})
    v = report.verdict(ctx)
    s = v["summary"]
    assert s["best_model"] == "ridge" and s["compared_with"] == "default"
    assert s["sentence"].startswith("The linear model")
    assert "ridge `ridge` is the best" in s["sentence"] and "beats" not in s["sentence"]
    assert "A linear model is the best here" in v["html"]


def test_verdict_no_model_predicts_makes_no_claim():
    v = report.verdict(crafted({"default": None, "seed_cnn": None, "ridge": None}))
    assert v["case"] == "no_model_predicts"
    s = v["summary"]["sentence"]
    assert "No model predicts this phenotype" in s and "too few samples" in s
    for claim in ("epistasis", "additive", "better than", "beats"):
        assert claim not in v["html"]
    assert "no model predicts this phenotype" in report.render_report(
        crafted({"default": None, "seed_cnn": None, "ridge": None}))


def test_genotype_ridge_named_rrblup():
    h = report.render_report(make_ctx(source="vcf"))
    assert "ridge (rrBLUP/GBLUP-equivalent)" in h
    assert "variant sites" in h
    h2 = report.render_report(make_ctx(source="table"))
    assert "rrBLUP/GBLUP-equivalent)" not in h2


def test_user_text_escaped():
    ctx = make_ctx(cohort="<script>alert(1)</script>")
    ctx["removed"].loc[0, "reason"] = "bad<b>reason</b>"
    ctx["models"]["<i>evil</i>"] = ctx["models"].pop("seed_cnn")
    ctx["extra_sections"] = [{"title": "Kinship & <relatives>", "html": "<p id='x'>raw ok</p>"}]
    h = report.render_report(ctx)
    assert "<script>" not in h and "&lt;script&gt;alert(1)&lt;/script&gt;" in h
    assert "<b>reason</b>" not in h and "bad&lt;b&gt;reason&lt;/b&gt;" in h
    assert "<i>evil</i>" not in h and "&lt;i&gt;evil&lt;/i&gt;" in h
    assert "Kinship &amp; &lt;relatives&gt;" in h
    assert "<p id='x'>raw ok</p>" in h


def test_extra_sections_in_order_with_helpers():
    ctx = make_ctx()
    fig = plots.kinship_histogram(np.random.default_rng(0).normal(0, 0.02, 300), plots.KING_THRESHOLDS)
    ctx["extra_sections"] = [
        report.section("Relatedness", report.figure_block(fig, "Kinship of every pair.")),
        {"title": "Top candidates", "html": report.table_block(
            pd.DataFrame({"id": ["x<1>", "y"], "predicted": [12.3456, 11.0]}), "Ranked by prediction.")},
    ]
    h = report.render_report(ctx)
    i_model = h.index("<h2>Model comparison</h2>")
    i_rel = h.index("<h2>Relatedness</h2>")
    i_top = h.index("<h2>Top candidates</h2>")
    assert i_model < i_rel < i_top < h.index("<h2>Glossary</h2>")
    assert h.count("<img ") == 5
    assert "x&lt;1&gt;" in h and ">12.346<" in h
    assert 'href="#relatedness"' in h and 'id="relatedness"' in h


def test_figure_block_rejects_links():
    with pytest.raises(ValueError):
        report.figure_block("https://example.org/x.png", "nope")


def test_minimal_ctx_renders():
    h = report.render_report({"cohort": "empty", "models": {}})
    assert "<h2>Cohort summary</h2>" in h and "No model was evaluated" in h


def test_only_ridge_and_no_ridge():
    ctx = crafted({"default": 0.5, "seed_cnn": 1.0, "ridge": 1.0})
    only_ridge = dict(ctx, models={"ridge": ctx["models"]["ridge"]}, noise_ceiling=None)
    h = report.render_report(only_ridge)
    assert SIMPLE not in h and "no non-linear model was fitted" in h
    no_ridge = dict(ctx, models={k: v for k, v in ctx["models"].items() if k != "ridge"})
    h = report.render_report(no_ridge)
    assert SIMPLE not in h and "no linear baseline was fitted" in h


def test_write_report_atomic(tmp_path, monkeypatch):
    out = tmp_path / "sub" / "report.html"
    report.write_report(out, make_ctx())
    good = out.read_text()
    assert good.startswith("<!DOCTYPE html>") and good.rstrip().endswith("</html>")
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == (0o666 & ~umask)   # not mkstemp's private 0600

    def boom(*a, **k):
        raise RuntimeError("disk full")
    # failure while writing: the previous report is intact and no temporary file is left
    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(RuntimeError):
        report.write_report(out, make_ctx())
    assert out.read_text() == good
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]
    monkeypatch.undo()
    # failure while rendering: nothing is created
    fresh = tmp_path / "fresh" / "report.html"
    with pytest.raises(Exception):
        report.write_report(fresh, {"cohort": "x", "models": {"m": {"metrics": "not a dict"}}})
    assert not fresh.exists()
    assert not fresh.parent.exists() or list(fresh.parent.iterdir()) == []


def test_load_context_reads_workflow_files(tmp_path):
    ctx0 = make_ctx()
    d = tmp_path
    ids = [f"s{i}" for i in range(203)]
    pd.DataFrame({"id": ids, "phenotype": np.linspace(0, 1, 203)}).to_csv(d / "samples.tsv", sep="\t", index=False)
    kept_ids = ids[3:]
    pd.DataFrame({"id": kept_ids, "phenotype": np.linspace(0, 1, 200), "group": kept_ids}).to_csv(
        d / "kept.tsv", sep="\t", index=False)
    ctx0["removed"].to_csv(d / "removed.tsv", sep="\t", index=False)
    splits = ["train"] * 160 + ["valid"] * 20 + ["test"] * 20
    pd.DataFrame({"id": kept_ids, "split": splits, "group": kept_ids, "weight": 1.0}).to_csv(
        d / "split.tsv", sep="\t", index=False)
    (d / "distribution.json").write_text(json.dumps(ctx0["distribution"]))
    (d / "truth.json").write_text(json.dumps({"causal": [1, 2], "epistatic_pairs": [[1, 2]], "H2": 0.876}))
    pd.DataFrame({"position": range(150)}).to_csv(d / "features.tsv", sep="\t", index=False)
    paths = {"samples": d / "samples.tsv", "kept": d / "kept.tsv", "removed": d / "removed.tsv",
             "split": d / "split.tsv", "distribution": d / "distribution.json", "truth": d / "truth.json",
             "features": d / "features.tsv", "metrics": {}, "history": {}, "predictions": {}}
    for name, entry in ctx0["models"].items():
        (d / f"{name}.metrics.json").write_text(json.dumps(entry["metrics"]))
        paths["metrics"][name] = d / f"{name}.metrics.json"
        if entry["history"] is not None:
            entry["history"].to_csv(d / f"{name}.history.tsv", sep="\t", index=False)
            paths["history"][name] = d / f"{name}.history.tsv"
        entry["predictions"].to_csv(d / f"{name}.predictions.tsv", sep="\t", index=False)
        paths["predictions"][name] = d / f"{name}.predictions.tsv"
    ctx = report.load_context("demo", paths, list(ctx0["models"]),
                              model_kinds={m: e["kind"] for m, e in ctx0["models"].items()})
    assert ctx["n_samples"] == 203 and ctx["n_kept"] == 200 and ctx["length"] == 150
    assert ctx["source"] == "simulate" and ctx["genotype"] is False
    assert ctx["noise_ceiling"]["value"] == pytest.approx(0.876)
    assert ctx["split_counts"] == {"train": 160, "valid": 20, "test": 20}
    assert len(ctx["phenotypes_by_split"]["train"]) == 160
    assert ctx["models"]["ridge"]["history"] is None
    assert len(ctx["models"]["default"]["history"]) == 12
    h = report.render_report(ctx)
    assert ">0.876<" in h and "Pearson r" in h

    # replicate repeatability as the ceiling when there is no truth
    del paths["truth"]
    (d / "curate.json").write_text(json.dumps({"noise_ceiling": 0.91}))
    paths["curate_summary"] = d / "curate.json"
    ctx = report.load_context("demo", paths, list(ctx0["models"]), source="table")
    assert ctx["noise_ceiling"] == {"value": 0.91, "source": "replicate repeatability"}


def test_verdict_warns_of_sex_markers_without_covariates():
    from seq2pheno.verdict import sex_marker_note

    ctx = crafted({"default": 1.0, "seed_cnn": 1.2, "ridge": 0.5})
    ctx["sex_markers"] = sex_marker_note({"X": 272}, None)
    v = report.verdict(ctx)
    assert v["summary"]["sex_markers"]["sex_markers"] == {"X": 272}
    assert "272 markers lie on sex chromosomes" in v["html"]
    ctx["sex_markers"] = sex_marker_note({"X": 272}, ["sex"])
    assert "sex chromosomes" not in report.verdict(ctx)["html"]


def test_calibration_section_counts_coverage_on_test_samples_only():
    import numpy as np
    import pandas as pd

    from seq2pheno.report_sections import calibration_section

    rng = np.random.default_rng(0)
    n = 400
    observed = rng.normal(size=n)
    predictions = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "split": ["test"] * 200 + ["train"] * 200,
                                "observed": observed, "predicted": 0.0,
                                "lower": -1.645, "upper": 1.645})
    predictions.loc[200:, "lower"] = 5.0                   # training rows outside: must not count
    sec = calibration_section({"m": predictions}, 0.9)
    inside = float(((observed[:200] >= -1.645) & (observed[:200] <= 1.645)).mean())
    assert sec["anchor"] == "calibration" and f"{inside:.3f}" in sec["html"]
    assert "3.290" in sec["html"] and "0.900" in sec["html"]
    assert calibration_section({"m": predictions.drop(columns=["lower"])}, 0.9) is None


def test_unphenotyped_ranking_shows_intervals_and_flags_the_cohort_mean():
    import pandas as pd

    from seq2pheno.report_sections import unphenotyped_section

    ranking = pd.DataFrame({"rank": [1, 2, 3], "id": ["a", "b", "c"], "predicted": [3.0, 2.0, 1.0],
                            "lower": [2.5, 0.5, -1.0], "upper": [3.5, 3.5, 0.5]})
    sec = unphenotyped_section({"gblup": ranking}, cohort_mean=1.0)
    html = sec["html"]
    assert "overlaps mean" in html and "1 of 3 have an interval containing the cohort mean" in html
    rows = html.split("<tr")
    assert [r for r in rows if ">b<" in r][0].count("yes") == 1
    assert "yes" not in [r for r in rows if ">a<" in r][0]
    assert "overlaps mean" not in unphenotyped_section({"gblup": ranking})["html"]


def test_ensemble_section_compares_the_ensemble_with_its_members():
    from seq2pheno.report_sections import ensemble_section

    metrics = {"default": {"test": {"r2": 0.62, "pearson_r": 0.8}, "ensemble": {"members": 3, "over": "seeds"},
                           "members": [{"test": {"r2": r, "pearson_r": 0.7}} for r in (0.55, 0.58, 0.52)]},
               "ridge": {"test": {"r2": 0.4, "pearson_r": 0.6}}}
    sec = ensemble_section(metrics)
    assert sec["anchor"] == "ensembles"
    html = sec["html"]
    assert "0.5500" in html and "0.520 to 0.580" in html and "gains 0.070" in html
    assert "ridge" not in html
    small = {"default": dict(metrics["default"], test={"r2": 0.552, "pearson_r": 0.7})}
    assert "within the noise" in ensemble_section(small)["html"]
    assert ensemble_section({"ridge": metrics["ridge"]}) is None


def test_an_ensembles_interpretation_shows_the_members_agreement():
    from seq2pheno.report_sections import _agreement_block

    ism = pd.DataFrame({"position": range(6), "importance": [6, 5, 4, 3, 2, 1.0], "rank": range(1, 7),
                        "importance_sd": 0.1, "member_agreement": [1.0, 1.0, 0.4, 0.2, 0.0, 0.0]})
    html = _agreement_block(ism, genotype=False, top=4)
    assert "2 of the top 4 positions are relied on by every member" in html
    assert "member_agreement" in html and html.count("<tr") == 5          # header + 4 rows
