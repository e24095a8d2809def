"""End to end: a small genotype cohort (VCF + FASTA + phenotypes with a covariate) through Snakemake.

Import, KING curation (group mode), split with the covariate regressed out, imputation,
three models, interpretation, scoring of a new VCF and the report, in a tmp --directory.
"""

import json
import subprocess
import sys
from pathlib import Path

import genotype_sim as gs
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from test_genotype_steps import family_cohort, subset_cohort

from seq2pheno.kinship import KING_COLUMNS

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.xdist_group("genotype_workflow")
MODELS = ["default", "seed_cnn", "ridge"]
COHORT = "geno"


def run_snakemake(workdir, configfile, *targets, check=True):
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile",
           str(configfile), "--cores", "2", "--quiet", "rules", "--", *targets]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def genotype_config(workdir, **changes):
    c = family_cohort(n_founders=110, n_sites=300, seed=4)
    files = gs.write_cohort(workdir / "cohort", c, phased=True, missing_rate=0.01, unphenotyped=8, seed=4)
    keep = np.ones(len(c.pos), bool)
    keep[[5, 17]] = False                      # two training sites absent from the new VCF
    gs.write_vcf(workdir / "new.vcf.gz", subset_cohort(c, [3, 4, 5, 6], keep), phased=False,
                 missing_rate=0.02, seed=1)
    config = {
        "cohorts": {COHORT: {"source": "vcf", "vcf": str(files["vcf"]), "fasta": str(files["fasta"]),
                             "phenotypes": str(files["phenotypes"]), "covariates": ["batch"]}},
        "curation": {"relatedness": "group"},
        "split": {"seed": 7},
        "models": {"default": {"epochs": 4, "patience": 2},
                   "seed_cnn": {"conv": [{"filters": 16, "kernel_size": 3, "pool": 4}], "epochs": 3},
                   "ridge": {}},
        "interpret": {"n_sequences": 8, "top_positions": 5},
        "predict": {"fresh": {"cohort": COHORT, "vcf": str(workdir / "new.vcf.gz")}},
        "resources": {"gpu": 0},
    }
    config.update(changes)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, files, c


@pytest.fixture(scope="module")
def genotype_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("genotypes")
    path, files, cohort = genotype_config(workdir)
    run_snakemake(workdir, path)
    return workdir, files, cohort


def read(path):
    return pd.read_csv(path, sep="\t", dtype={"id": str, "id1": str, "id2": str})


def test_every_output_exists_and_parses(genotype_run):
    workdir, files, cohort = genotype_run
    base = workdir / "results" / COHORT
    samples = read(base / "data/samples.tsv")
    assert list(samples.columns) == ["id", "phenotype", "batch"]
    x = np.load(base / "data/onehot.npy", mmap_mode="r")
    features = read(base / "data/features.tsv")
    assert list(features.columns) == ["position", "chrom", "pos", "ref", "alt"]
    assert x.shape == (len(samples), len(features), 4)
    mask = np.load(base / "data/missing.npy")
    assert mask.shape == x.shape[:2] and mask.any()
    imputed = np.load(base / "split/onehot.npy")
    assert imputed.shape == x.shape and np.allclose(imputed.sum(axis=2), 1, atol=1e-5)
    assert np.load(base / "data/dosage.npy").shape[0] == len(samples)
    assert list(read(base / "data/filtered.tsv").columns) == ["kind", "id", "reason", "detail"]
    summary = json.loads((base / "data/import_summary.json").read_text())
    assert summary["n_unphenotyped"] == len(files["unphenotyped"])

    kin = read(base / "curate/kinship.tsv")
    assert list(kin.columns) == KING_COLUMNS
    assert len(kin) == len(samples) * (len(samples) - 1) // 2
    kept = read(base / "curate/kept.tsv")
    removed = read(base / "curate/removed.tsv")
    assert list(kept.columns) == ["id", "phenotype", "group"]
    assert list(removed.columns) == ["id", "reason", "detail"]
    curate = json.loads((base / "curate/summary.json").read_text())
    assert curate["relatedness"] == "group" and curate["n_related_pairs"] >= 4
    split = read(base / "split/split.tsv")
    assert "phenotype" in split.columns
    for kind, (a, b) in cohort.families:
        sa = split.set_index("id").loc[[a, b], "split"]
        if "unphenotyped" not in set(sa):
            assert sa.nunique() == 1, (kind, a, b)
    assert "batch" in (base / "logs/split.log").read_text()

    unph = set(split.loc[split.split == "unphenotyped", "id"])
    assert unph == set(files["unphenotyped"])
    for model in MODELS:
        mdir = base / "models" / model
        metrics = json.loads((mdir / "metrics.json").read_text())
        assert metrics["test"]["n"] == int((split.split == "test").sum())
        ranking = read(mdir / "predict_unphenotyped.tsv")
        assert set(ranking.id) == unph and np.isfinite(ranking.predicted).all()
        new = read(base / "predict/fresh" / f"{model}.tsv")
        assert list(new.columns) == ["id", "predicted", "rank"]
        assert sorted(new.id) == ["new0", "new1", "new2", "new3"] and np.isfinite(new.predicted).all()
    log = (base / "logs/predict_fresh.log").read_text()
    assert "2 absent" in log


def test_report_has_kinship_section_ranking_and_gblup_name(genotype_run):
    workdir, files, _ = genotype_run
    html = (workdir / "results" / COHORT / "report.html").read_text()
    assert 'id="relatedness"' in html and "KING" in html
    assert "grouped" in html                     # the related pairs and what was done with them
    assert "ridge (rrBLUP/GBLUP-equivalent)" in html
    assert 'id="unphenotyped"' in html
    for sample in files["unphenotyped"][:3]:
        assert sample in html
    assert "http://" not in html and "https://" not in html


def test_predict_mismatching_site_stops_with_one_line(genotype_run, tmp_path):
    workdir, files, cohort = genotype_run
    bad = subset_cohort(cohort, [1, 2])
    k = 8
    bad.alt = bad.alt.copy()
    bad.alt[k] = next(b for b in "ACGT" if b not in (cohort.ref[k], cohort.alt[k]))
    gs.write_vcf(tmp_path / "bad.vcf.gz", bad, phased=False)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["predict"] = {"bad": {"cohort": COHORT, "vcf": str(tmp_path / "bad.vcf.gz")}}
    path = workdir / "config_bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, path, f"results/{COHORT}/predict/bad/ridge.tsv", check=False)
    assert result.returncode != 0
    assert f"site {cohort.chrom[k]}:{cohort.pos[k]}" in result.stderr
    assert not (workdir / "results" / COHORT / "predict/bad").exists() or not any(
        (workdir / "results" / COHORT / "predict/bad").glob("*.tsv"))
