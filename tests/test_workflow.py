"""End to end: the tiny config through Snakemake, every output present, parsed and consistent."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO

from seq2pheno.tensorfile import open_tensor

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MODELS = ["default", "seed_cnn", "ridge"]
pytestmark = pytest.mark.xdist_group("workflow")


def tiny_config(workdir: Path, **changes) -> Path:
    """The tiny config with absolute input paths, written into ``workdir``."""
    config = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    config["cohorts"]["tiny_table"]["table"] = str(REPO / "tests/data/notebook_400.csv")
    config.update(changes)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_snakemake(workdir: Path, configfile: Path, *targets, check=True):
    cmd = [SNAKEMAKE, *targets, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile",
           str(configfile), "--cores", "2", "--quiet", "rules"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    run_snakemake(workdir, tiny_config(workdir))
    return workdir


def test_every_output_exists_and_parses(tiny_run):
    for cohort in ["tiny_sim", "tiny_table"]:
        base = tiny_run / "results" / cohort
        samples = pd.read_csv(base / "data/samples.tsv", sep="\t", dtype={"id": str})
        onehot = open_tensor(base / "data/onehot.npy")     # compact codes, read as one-hot rows
        features = pd.read_csv(base / "data/features.tsv", sep="\t")
        assert onehot.shape == (len(samples), len(features), 4)
        assert np.allclose(np.asarray(onehot).sum(axis=2), 1.0)
        kept = pd.read_csv(base / "curate/kept.tsv", sep="\t", dtype={"id": str})
        removed = pd.read_csv(base / "curate/removed.tsv", sep="\t", dtype={"id": str})
        assert set(kept.id).isdisjoint(removed.id)
        assert len(kept) + len(removed) == len(samples)
        split = pd.read_csv(base / "split/split.tsv", sep="\t", dtype={"id": str})
        assert list(split.id) == list(kept.id) or set(split.id) == set(kept.id)
        assert set(split.split) <= {"train", "valid", "test", "unphenotyped"}
        distribution = json.loads((base / "split/distribution.json").read_text())
        assert {(p["a"], p["b"]) for p in distribution["pairs"]} == {
            ("train", "valid"), ("train", "test"), ("valid", "test")}
        for model in MODELS:
            mdir = base / "models" / model
            fdir = base / "folds" / "holdout" / "models" / model     # a holdout run is one fold
            assert (fdir / ("model.npz" if model == "ridge" else "model.keras")).stat().st_size > 0
            history = pd.read_csv(fdir / "history.tsv", sep="\t")
            assert len(history) >= 1
            metrics = json.loads((mdir / "metrics.json").read_text())
            for name in ["train", "valid", "test"]:
                assert set(metrics[name]) >= {"n", "r2", "mse", "pearson_r", "spearman_r"}
                assert metrics[name]["n"] == int((split.split == name).sum())
            predictions = pd.read_csv(mdir / "predictions.tsv", sep="\t", dtype={"id": str})
            phenotyped = split[split.split != "unphenotyped"]
            assert sorted(predictions.id) == sorted(phenotyped.id)
            merged = predictions.merge(split, on="id", suffixes=("", "_split"))
            assert (merged.split == merged.split_split).all()
            assert np.isfinite(predictions.predicted).all()
        html = (base / "report.html").read_text()
        assert "<img" in html and "http://" not in html and "https://" not in html
        for model in MODELS:
            assert model in html
        assert (base / "logs/import.log").exists()
        # `default` chose among its candidates, each trained as its own job
        assert (base / "benchmarks/train/default~positional_cnn_holdout.tsv").exists()
        assert (base / "benchmarks/train/default~motif_cnn_holdout.tsv").exists()
        selection = pd.read_csv(base / "models/default/selection.tsv", sep="\t")
        assert selection.chosen.sum() == 1
    truth = json.loads((tiny_run / "results/tiny_sim/data/truth.json").read_text())
    assert 10 <= len(truth["causal"]) <= 25 and 0 < truth["H2"] <= 1


def test_training_log_shows_progress(tiny_run):
    log = (tiny_run / "results/tiny_sim/logs/train/default~positional_cnn_holdout.log").read_text()
    assert log.count("epoch") >= 2
    assert "backend tensorflow" in log


def test_rerun_is_reproducible(tiny_run, tmp_path):
    """Same config and seed, another directory: the same metrics to 1e-6."""
    target = "results/tiny_sim/models/default/metrics.json"
    run_snakemake(tmp_path, tiny_config(tmp_path), target)
    first = json.loads((tiny_run / target).read_text())
    second = json.loads((tmp_path / target).read_text())
    for name in ["train", "valid", "test"]:
        for key in ["r2", "mse", "pearson_r"]:
            assert second[name][key] == pytest.approx(first[name][key], abs=1e-6)


def test_bad_input_stops_with_one_line_and_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,phenotype\nACGT,1.0\nACGA,2.0\nACXT,3.0\n")
    config = {"cohorts": {"bad": {"source": "table", "table": str(bad)}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, path, check=False)
    assert result.returncode != 0
    assert f"{bad}:4: " in result.stderr
    assert not (tmp_path / "results/bad/data/samples.tsv").exists()
    assert not (tmp_path / "results/bad/data/onehot.npy").exists()
    log = (tmp_path / "results/bad/logs/import.log").read_text()
    assert "ERROR" in log and "Traceback" not in log


def test_unknown_config_key_stops_before_any_job(tmp_path):
    path = tiny_config(tmp_path, modelz={})
    result = run_snakemake(tmp_path, path, check=False)
    assert result.returncode != 0
    assert "unknown key 'modelz' (did you mean 'models'?)" in result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("search, words", [
    ({"space": {"conv.0.kernel_size": {"int": [9, 3]}}}, ["search.space.conv.0.kernel_size", "low < high"]),
    ({"space": {"dense.0.width": {"int": [1, 8]}}}, ["search.space.dense.0.width", "no key 'width'"]),
    ({"trials": 0, "space": {"learning_rate": {"log": [1e-4, 1e-2]}}}, ["search.trials"]),
])
def test_a_bad_search_stops_before_any_job_with_one_line(tmp_path, search, words):
    path = tiny_config(tmp_path, models={"ridge": {}, "searched": {"preset": "default", "search": search}})
    result = run_snakemake(tmp_path, path, check=False)
    assert result.returncode != 0
    line = next(ln for ln in result.stderr.splitlines() if "searched" in ln)
    for w in words:
        assert w in line, result.stderr[-2000:]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("models, words", [
    ({"ridge": {"ensemble": {"members": 3}}}, ["'ridge'", "an ensemble averages networks"]),
    ({"deep": {"preset": "seed_cnn", "ensemble": {"members": 3, "over": "trials"}}}, ["'deep'", "needs a search"]),
    ({"deep": {"preset": "seed_cnn", "ensemble": {"members": 1}}}, ["deep", "ensemble", "members"]),
])
def test_a_bad_ensemble_stops_before_any_job_with_one_line(tmp_path, models, words):
    path = tiny_config(tmp_path, models=models)
    result = run_snakemake(tmp_path, path, check=False)
    assert result.returncode != 0
    line = next(ln for ln in result.stderr.splitlines() if words[0] in ln)
    for w in words:
        assert w in line, result.stderr[-2000:]
    assert not (tmp_path / "results").exists()


def test_search_of_a_linear_kind_is_refused(tmp_path):
    path = tiny_config(tmp_path, models={"ridge": {"search": {"space": {"alphas": {"choice": [[1.0], [10.0]]}}}}})
    result = run_snakemake(tmp_path, path, check=False)
    assert result.returncode != 0 and "search trains networks" in result.stderr


def test_every_rule_asking_for_a_gpu_goes_to_the_gpu_partition_on_slurm():
    """A rule with the `gpu` resource that profiles/slurm leaves in the CPU partition would ask
    Slurm for a GPU where there is none: every such rule has its GPU settings there."""
    import re

    asking = set()
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=rule |checkpoint )", smk.read_text()):
            m = re.match(r"(?:rule|checkpoint) (\w+):", block)
            if m and re.search(r"^\s+gpu=", block, flags=re.M):
                asking.add(m.group(1))
    assert {"train_gpu", "train_member", "search_worker", "train_searched", "interpret"} <= asking
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["set-resources"]
    for rule in asking:
        assert profile.get(rule, {}).get("slurm_partition") == "gpu" and profile[rule].get("gpu") == 1, rule
