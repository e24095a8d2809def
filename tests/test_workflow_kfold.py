"""Every model kind through the workflow on two folds (tests/configs/kinds.yaml), and the
k-fold outputs: folds that keep groups together, out-of-fold predictions, per-fold tables,
the per-cohort choice of `default`, and the cohort summary."""

from __future__ import annotations

import json
from html import escape
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
COHORT = "kinds_table"
pytestmark = pytest.mark.xdist_group("workflow_kfold")


def read(path):
    return pd.read_csv(path, sep="\t", dtype={"id": str})


@pytest.fixture(scope="module")
def kfold_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("kfold")
    config = yaml.safe_load((REPO / "tests/configs/kinds.yaml").read_text())
    config["cohorts"][COHORT]["table"] = str(REPO / "tests/data/notebook_400.csv")
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(path),
           "--cores", "2", "--quiet", "rules"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return workdir / "results" / COHORT, config


def test_every_kind_is_trained_on_every_fold(kfold_run):
    from seq2pheno.models import KINDS

    base, config = kfold_run
    models = list(config["models"])
    per_fold = read(base / "evaluation/per_fold.tsv")
    assert sorted(per_fold.columns) == sorted(["model", "repeat", "fold", "n", "pearson_r", "r2"])
    assert set(per_fold["model"]) == set(models) and len(per_fold) == 2 * len(models)
    kinds = {json.loads((base / "summary.json").read_text())["models"][m]["kind"] for m in models}
    assert kinds == set(KINDS), "the config trains every kind of the registry"
    summary = read(base / "evaluation/summary.tsv")
    assert list(summary.columns) == ["model", "folds", "pearson_r_mean", "pearson_r_sd", "r2_mean", "r2_sd"]
    assert (summary["folds"] == 2).all()
    for m in models:
        rows = per_fold[per_fold.model == m]
        assert summary.set_index("model").loc[m, "pearson_r_mean"] == pytest.approx(rows.pearson_r.mean())


def test_folds_keep_groups_together_and_predictions_are_out_of_fold(kfold_run):
    base, config = kfold_run
    folds = read(base / "evaluation/folds.tsv")
    kept = read(base / "curate/kept.tsv")
    assert list(folds.columns) == ["id", "repeat", "fold"]
    assert set(folds.id) == set(kept.id)
    merged = folds.merge(kept, on="id")
    assert merged[merged.phenotype.notna()].groupby("group")["fold"].nunique().max() == 1
    for fold in (1, 2):
        split = read(base / f"folds/1_{fold}/split.tsv")
        test_ids = set(split.id[split.split == "test"])
        assert test_ids == set(folds.id[(folds.fold == fold)]) - set(kept.id[kept.phenotype.isna()])
        assert not test_ids & set(split.id[split.split.isin(["train", "valid"])])
    pred = read(base / "models/ridge/predictions.tsv")
    assert set(pred.columns) >= {"id", "split", "observed", "predicted", "repeat", "fold"}
    assert (pred.split == "test").all() and pred.id.is_unique
    assert set(pred.id) == set(kept.id[kept.phenotype.notna()])
    metrics = json.loads((base / "models/ridge/metrics.json").read_text())
    assert metrics["scheme"] == "kfold" and metrics["folds"] == 2
    assert metrics["test"]["pearson_r"] == pytest.approx(
        read(base / "evaluation/per_fold.tsv").query("model == 'ridge'").pearson_r.mean())


def test_default_is_chosen_per_fold_on_validation_loss(kfold_run):
    base, _ = kfold_run
    sel = read(base / "models/default/selection.tsv")
    assert list(sel.columns) == ["fold", "candidate", "validation_loss", "chosen"]
    assert set(sel.candidate) == {"positional_cnn", "motif_cnn"}
    for fold, g in sel.groupby("fold"):
        assert g.chosen.sum() == 1
        assert g.loc[g.chosen, "validation_loss"].item() == g.validation_loss.min()
        chosen = g.loc[g.chosen, "candidate"].item()
        a = (base / f"folds/{fold}/models/default/model.keras").read_bytes()
        b = (base / f"folds/{fold}/models/default~{chosen}/model.keras").read_bytes()
        assert a == b


def test_summary_json_states_the_verdict(kfold_run):
    base, _ = kfold_run
    s = json.loads((base / "summary.json").read_text())
    for key in ("best_model", "best_linear", "comparison", "difference", "metric", "ceiling", "sentence"):
        assert key in s
    assert s["comparison"] in ("better", "indistinguishable", "worse", "no_model_predicts", None)
    assert s["metric"] == "pearson_r" and s["scheme"] == "kfold"
    if s["difference"] is not None:
        lo, hi = s["difference"]["interval"]
        assert lo <= s["difference"]["value"] <= hi
        assert "folds" in s["sentence"]
    html = (base / "report.html").read_text()
    assert escape(s["sentence"]) in html, "the report says what summary.json says"


def test_interpreted_network_has_named_motifs_table(kfold_run):
    base, _ = kfold_run
    table = read(base / "interpret/small_cnn/motif_matches.tsv")
    assert list(table.columns[:6]) == ["source", "motif", "jaspar_id", "jaspar_name", "q_value", "rank"]
    assert set(table["source"]) <= {"filter", "modisco"}
    assert (table["q_value"].dropna() <= 0.05).all()
    html = (base / "report.html").read_text()
    named = table.dropna(subset=["jaspar_id"])
    assert ("Named motifs:" in html) if len(named) else ("Motifs with names." in html)
    assert "not proof" in html


def test_search_runs_as_worker_jobs_per_fold_and_trains_its_best(kfold_run):
    base, config = kfold_run
    search = config["models"]["small_search"]["search"]
    trials = read(base / "search/small_search/trials.tsv")
    best = read(base / "search/small_search/best.tsv")
    assert list(trials.columns[:7]) == ["fold", "trial", "params", "value", "state", "seconds", "worker"]
    assert set(best["fold"]) == set(trials["fold"]) == {"1_1", "1_2"}
    for fold, g in trials.groupby("fold"):
        assert len(g) == search["trials"] and set(g["worker"]) == set(range(search["workers"]))
        for w in range(search["workers"]):            # one job per worker, each ran its share
            assert (base / f"folds/{fold}/search/small_search/worker_{w}.tsv").exists()
        done = g[g["state"] == "COMPLETE"]
        row = best[best["fold"] == fold].iloc[0]
        assert row["trial"] == done.loc[done["value"].idxmin(), "trial"]
        params = json.loads(row["params"])
        assert 3 <= params["conv.0.kernel_size"] <= 7
        log = (base / f"logs/train/small_search_{fold}.log").read_text()
        assert f"search trial {row['trial']}" in log       # the model is trained with the best entry
    html = (base / "report.html").read_text()
    assert "Hyperparameter search" in html and "Calibration of the prediction intervals" in html


def test_an_ensemble_trains_its_members_as_jobs_and_predicts_their_mean(kfold_run):
    base, config = kfold_run
    k = config["models"]["small_ensemble"]["ensemble"]["members"]
    for fold in ("1_1", "1_2"):
        members = [base / f"folds/{fold}/models/small_ensemble/members/{i}" for i in range(k)]
        assert all((m / "model.keras").exists() and (m / "split.tsv").exists() for m in members)
        metrics = json.loads((base / f"folds/{fold}/models/small_ensemble/metrics.json").read_text())
        assert metrics["ensemble"] == {"members": k, "over": "folds"} and len(metrics["members"]) == k
        pred = read(base / f"folds/{fold}/models/small_ensemble/predictions.tsv")
        assert {"sd", "lower", "upper"} <= set(pred.columns) and (pred["sd"] >= 0).all()
        single = read(base / f"folds/{fold}/models/small_cnn/predictions.tsv")
        assert single["sd"].isna().all()                 # one network: no spread
    oof = read(base / "models/small_ensemble/predictions.tsv")
    assert oof["sd"].notna().all() and (oof["split"] == "test").all()
    # a seed ensemble of `default`: member 1 trains the candidate chosen on its fold, seed + 1
    for fold in ("1_1", "1_2"):
        sel = read(base / f"folds/{fold}/models/default/selection.tsv")
        chosen = sel.loc[sel["chosen"].astype(str) == "True", "candidate"].iloc[0]
        log = (base / f"logs/train/default_{fold}_member_1.log").read_text()
        assert f"candidate {chosen}" in log and "member 1, seed 43" in log   # training seed 42 + 1
        metrics = json.loads((base / f"folds/{fold}/models/default/metrics.json").read_text())
        assert metrics["ensemble"] == {"members": 2, "over": "seeds"}
    report = (base / "report.html").read_text()
    assert 'id="ensembles"' in report and "small_ensemble" in report
    ism = read(base / "interpret/small_ensemble/ism.tsv")
    assert {"importance_sd", "member_agreement"} <= set(ism.columns)
    assert ism["member_agreement"].between(0, 1).all()
    assert "score_sd" in read(base / "interpret/small_ensemble/interactions.tsv")
