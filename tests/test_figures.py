"""The figures for `snakemake --report` (seq2pheno.figure_steps, rules/figures.smk, report/).

Unit tests draw each figure from small hand-made files; one module-scoped tiny run (one
simulated cohort, one CNN and ridge) then builds the Snakemake report and finds every
figure and caption in it.
"""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from seq2pheno import figure_steps as fs

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
FIGURES = "results/tiny_sim/figures/index.tsv"


def write_tsv(df, path):
    df.to_csv(path, sep="\t", index=False)
    return path


def per_fold_table(models=("cnn_a", "ridge"), folds=5):
    rng = np.random.default_rng(1)
    rows = [{"model": m, "repeat": 1, "fold": k + 1, "n": 40, "pearson_r": rng.uniform(0.3, 0.8),
             "r2": rng.uniform(0.1, 0.6)} for m in models for k in range(folds)]
    return pd.DataFrame(rows)


def test_model_comparison_draws_a_dot_per_fold_under_kfold(tmp_path):
    per_fold = per_fold_table(folds=5)
    fig = fs.model_comparison_figure(per_fold, kinds={"cnn_a": "cnn", "ridge": "ridge"})
    dots = [c for ax in fig.axes for c in ax.collections]
    assert len(fig.axes) == 2 and len(dots) == 4                      # 2 metrics x 2 models
    assert all(len(c.get_offsets()) == 5 for c in dots)
    assert "5 test folds" in fig._suptitle.get_text()
    out = tmp_path / "model_comparison.svg"
    fs.model_comparison(write_tsv(per_fold, tmp_path / "per_fold.tsv"), out=out,
                        kinds={"cnn_a": "cnn", "ridge": "ridge"}, genotype=True)
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "rrBLUP/GBLUP" in text


def test_model_comparison_of_a_holdout_run_has_bars_and_no_dots(tmp_path):
    fig = fs.model_comparison_figure(per_fold_table(folds=1))
    assert not [c for ax in fig.axes for c in ax.collections]
    assert "holdout" in fig._suptitle.get_text()


def test_observed_vs_predicted_picks_the_best_by_validation(tmp_path):
    models = ["a", "b"]
    metrics, predictions = [], []
    for m, valid in zip(models, [0.2, 0.5]):
        p = tmp_path / f"{m}.json"
        p.write_text(json.dumps({"valid": {"r2": valid}, "test": {"r2": 0.1}}))
        metrics.append(p)
        predictions.append(write_tsv(pd.DataFrame({
            "id": [f"s{i}" for i in range(6)], "split": ["train", "test", "test", "valid", "test", "train"],
            "observed": np.arange(6.0), "predicted": np.arange(6.0) + 0.1}), tmp_path / f"{m}.tsv"))
    out = tmp_path / "ovp.svg"
    assert fs.observed_vs_predicted(metrics, predictions, models, out=out) == "b"
    assert "b (best by validation R²): test samples" in out.read_text()


def test_kfold_predictions_are_drawn_once_per_sample():
    pred = pd.DataFrame({"id": ["x", "y", "x", "y"], "split": "test", "observed": [1.0, 2, 1, 2],
                         "predicted": [1.1, 2.1, 0.9, 1.9], "repeat": [1, 1, 2, 2], "fold": [1, 2, 2, 1]})
    rows, which = fs.drawn_predictions(pred)
    assert which == "test" and list(rows.id) == ["x", "y"]


def test_ism_importance_png_and_kinship_svg(tmp_path):
    ism = write_tsv(pd.DataFrame({"position": [2, 0, 1], "importance": [0.3, 0.1, 0.2], "rank": [1, 3, 2]}),
                    tmp_path / "ism.tsv")
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"causal": [2]}))
    fs.ism_importance(ism, out=tmp_path / "ism_m.png", model="m", truth_path=truth)
    assert (tmp_path / "ism_m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kin = write_tsv(pd.DataFrame({"id1": ["a", "a", "b"], "id2": ["b", "c", "c"], "nsnp": 100,
                                  "hethet": 0.1, "ibs0": 0.0, "kinship": [0.25, 0.0, -0.01]}),
                    tmp_path / "kinship.tsv")
    fs.kinship_histogram(kin, out=tmp_path / "kinship.svg")
    assert "KING kinship" in (tmp_path / "kinship.svg").read_text()
    assert not list(tmp_path.glob(".*tmp*"))                           # atomic writes left nothing


def test_cv_summary_is_an_html_table_with_report_names(tmp_path):
    summary = write_tsv(pd.DataFrame({"model": ["net", "ridge"], "folds": [5, 5], "pearson_r_mean": [0.7, 0.6],
                                      "pearson_r_sd": [0.05, 0.04], "r2_mean": [0.5, 0.4],
                                      "r2_sd": [0.1, 0.08]}), tmp_path / "summary.tsv")
    out = tmp_path / "cv.html"
    fs.cv_summary(summary, out=out, cohort="c<1>", kinds={"net": "cnn", "ridge": "ridge"}, genotype=True)
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "c&lt;1&gt;" in text
    assert "ridge (rrBLUP/GBLUP-equivalent)" in text and "0.500" in text and "<table>" in text


def test_figure_index_lists_every_file(tmp_path):
    fs.figure_index({"model_comparison": "x/model_comparison.svg", "kinship": [],
                     "ism": ["x/ism_a.png", "x/ism_b.png"]}, out=tmp_path / "index.tsv")
    index = pd.read_csv(tmp_path / "index.tsv", sep="\t")
    assert list(index.kind) == ["model_comparison", "ism", "ism"]
    assert list(index.file) == ["model_comparison.svg", "ism_a.png", "ism_b.png"]


# ---- the workflow: figures marked for `snakemake --report` -------------------------------


def snakemake(workdir: Path, *args):
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile",
           str(workdir / "config.yaml"), "--cores", "2", "--quiet", "rules", *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="module")
def figure_run(tmp_path_factory):
    """The tiny config cut to its simulated cohort, one CNN (interpreted) and ridge, run to the
    figure list (the HTML report and rankings are not needed)."""
    workdir = tmp_path_factory.mktemp("figures")
    config = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    config["cohorts"] = {"tiny_sim": config["cohorts"]["tiny_sim"]}
    config["models"] = {"default": config["models"]["default"], "ridge": {}}
    config["interpret"]["models"] = ["default"]                      # the network, whatever wins
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--", FIGURES)
    return workdir


def test_the_default_target_asks_for_every_cohorts_figures(tmp_path):
    config = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    config["cohorts"]["tiny_table"]["table"] = str(REPO / "tests/data/notebook_400.csv")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "-n").stdout
    for rule in ["figure_model_comparison", "figure_observed_predicted", "figure_cv_summary", "figures"]:
        assert re.search(rf"^{rule}\s+2$", out, re.M), f"{rule} is not run for both cohorts:\n{out}"


@pytest.mark.xdist_group("workflow")
def test_snakemake_report_holds_the_figures_and_captions(figure_run):
    figures = figure_run / "results/tiny_sim/figures"
    index = pd.read_csv(figures / "index.tsv", sep="\t")
    expected = {"model_comparison.svg", "observed_vs_predicted.svg", "cv_summary.html", "ism_default.png"}
    assert set(index.file) == expected                                 # no kinship: not genotypes
    assert all((figures / f).stat().st_size > 0 for f in expected)
    snakemake(figure_run, "--report", str(figure_run / "report.zip"), "--", FIGURES)
    with zipfile.ZipFile(figure_run / "report.zip") as zf:
        names = zf.namelist()
        text = "\n".join(zf.read(n).decode("utf-8", "replace") for n in names
                         if n.endswith((".html", ".js", ".json")))
    for f in expected:
        assert any(n.endswith(f) for n in names), f"{f} is not in the report"
    for phrase in ["Model comparison for cohort", "Observed against predicted phenotype",
                   "In-silico mutagenesis (ISM) importance of model", "Cross-validation summary of cohort",
                   "predicts a quantitative phenotype from DNA"]:                     # workflow.rst
        assert phrase in text, f"caption {phrase!r} is not in the report"
    assert "tiny_sim" in text and "ISM importance" in text             # category and subcategory


@pytest.mark.xdist_group("genotype_workflow")
def test_genotype_cohort_kinship_histogram_is_in_the_report(tmp_path):
    """Only import and curation run: the kinship figure and an HTML report of it (seconds)."""
    from test_genotype_workflow import genotype_config

    genotype_config(tmp_path)
    target = "results/geno/figures/kinship.svg"
    snakemake(tmp_path, "--", target)
    assert "KING kinship" in (tmp_path / target).read_text()
    snakemake(tmp_path, "--report", str(tmp_path / "report.html"), "--", target)
    text = (tmp_path / "report.html").read_text()
    assert "Relatedness in genotype cohort" in text and "kinship.svg" in text
