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
        "evaluation": {"scheme": "holdout"},
        "models": {"default": {"epochs": 4, "patience": 2},
                   "seed_cnn": {"conv": [{"filters": 16, "kernel_size": 3, "pool": 4}], "epochs": 3},
                   "ridge": {}, "gblup": {}},
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
    log = (base / "logs/predict_fresh_ridge.log").read_text()
    assert "2 absent" in log


def test_every_prediction_has_an_interval_and_gblup_a_reliability(genotype_run):
    """predictions.tsv and predict_unphenotyped.tsv: lower <= predicted <= upper and sd for
    every model; GBLUP's reliability in [0, 1] and its intervals narrower where it is higher."""
    workdir, files, _ = genotype_run
    base = workdir / "results" / COHORT / "models"
    for model in MODELS + ["gblup"]:
        for name in ("predictions.tsv", "predict_unphenotyped.tsv"):
            t = read(base / model / name)
            assert {"predicted", "sd", "lower", "upper"} <= set(t.columns), (model, name)
            assert ((t["lower"] <= t["predicted"]) & (t["predicted"] <= t["upper"])).all(), (model, name)
    for name in ("predictions.tsv", "predict_unphenotyped.tsv"):
        t = read(base / "gblup" / name)
        assert t["reliability"].between(0, 1).all() and t["reliability"].nunique() > 1
        width = t["upper"] - t["lower"]
        assert width.nunique() > 1
        assert np.corrcoef(width, t["reliability"])[0, 1] < 0        # sure of relatives: narrower
    test = read(base / "gblup/predictions.tsv").query("split == 'test'")
    metrics = json.loads((base / "gblup/metrics.json").read_text())
    inside = ((test["observed"] >= test["lower"]) & (test["observed"] <= test["upper"])).mean()
    assert metrics["interval"]["test_coverage"] == pytest.approx(inside)


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


# ---- haplotypes: true: a phased cohort, two tensor rows per sample, predictions averaged ----------

HAP_MODELS = ["default", "ridge"]
# its own xdist group (genotype_workflow_haplotypes): runs beside the module's other workflow run
HAPLOTYPE_GROUP = pytest.mark.xdist_group("haplotypes")


@pytest.fixture(scope="module")
def haplotype_run(tmp_path_factory):
    """Two phased cohorts with haplotypes: true (variants and sequence encodings), one run."""
    workdir = tmp_path_factory.mktemp("haplotypes")
    c = family_cohort(n_founders=70, n_sites=200, seed=6)
    files = gs.write_cohort(workdir / "cohort", c, phased=True, missing_rate=0.01, unphenotyped=6, seed=6)
    gs.write_vcf(workdir / "new.vcf.gz", subset_cohort(c, [3, 8]), phased=True)
    base = {"source": "vcf", "vcf": str(files["vcf"]), "fasta": str(files["fasta"]),
            "phenotypes": str(files["phenotypes"]), "haplotypes": True}
    config = {
        "cohorts": {"hap": base, "hapseq": {**base, "encoding": "sequence", "regions": ["1:1-600", "2:1-400"]}},
        "split": {"seed": 3},
        "evaluation": {"scheme": "holdout"},
        "models": {"default": {"epochs": 3, "patience": 2}, "ridge": {}},
        "interpret": {"n_sequences": 4, "top_positions": 3, "models": ["default"]},
        "predict": {"fresh": {"cohort": "hap", "vcf": str(workdir / "new.vcf.gz")},
                    "fresh_seq": {"cohort": "hapseq", "vcf": str(workdir / "new.vcf.gz")}},
        "resources": {"gpu": 0},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_snakemake(workdir, path)
    return workdir, files, c


def per_row_predictions(model_path, x) -> np.ndarray:
    from seq2pheno.models import load_trained
    from seq2pheno.train import predict

    return predict(load_trained(str(model_path)), x)


@HAPLOTYPE_GROUP
@pytest.mark.parametrize("cohort_name", ["hap", "hapseq"])
def test_haplotype_predictions_are_per_sample_means_of_the_two_rows(haplotype_run, cohort_name):
    workdir, files, cohort = haplotype_run
    base = workdir / "results" / cohort_name
    samples = read(base / "data/samples.tsv")
    assert samples.id.is_unique
    x = np.load(base / "split/onehot.npy")           # the imputed tensor the models read
    assert x.shape[0] == 2 * len(samples)
    assert np.load(base / "data/dosage.npy").shape[0] == len(samples)
    summary = json.loads((base / "data/import_summary.json").read_text())
    assert summary["haplotypes"] is True and summary["rows_per_sample"] == 2
    split = read(base / "split/split.tsv")
    assert split.id.is_unique
    row_of = {s: k for k, s in enumerate(samples.id)}
    phenotyped = split.loc[split.split != "unphenotyped", "id"]
    for model in HAP_MODELS:
        mdir = base / "models" / model
        per_row = per_row_predictions(next((base / "folds/holdout/models" / model).glob("model.*")), x)
        mean = {s: (per_row[2 * k] + per_row[2 * k + 1]) / 2 for s, k in row_of.items()}
        pred = read(mdir / "predictions.tsv")
        assert sorted(pred.id) == sorted(phenotyped) and pred.id.is_unique
        assert np.allclose(pred.predicted, [mean[s] for s in pred.id], rtol=1e-5, atol=1e-6)
        unph = read(mdir / "predict_unphenotyped.tsv")
        assert sorted(unph.id) == sorted(set(files["unphenotyped"]) & set(samples.id))
        assert np.allclose(unph.predicted, [mean[s] for s in unph.id], rtol=1e-5, atol=1e-6)
        metrics = json.loads((mdir / "metrics.json").read_text())
        assert metrics["test"]["n"] == int((split.split == "test").sum())
        new = read(base / "predict" / ("fresh" if cohort_name == "hap" else "fresh_seq") / f"{model}.tsv")
        assert sorted(new.id) == ["new0", "new1"] and np.isfinite(new.predicted).all()
    # interpretation: both haplotype rows of test samples
    with np.load(base / "interpret/default/ism_maps.npz") as maps:
        ids, hap = maps["ids"], maps["haplotype"]
        assert len(ids) == len(maps["onehot"]) == 4 and hap.tolist() == [0, 1, 0, 1]
        assert ids[0] == ids[1] and ids[2] == ids[3]
        assert set(ids) <= set(split.loc[split.split == "test", "id"])
    assert (base / "report.html").exists()


@HAPLOTYPE_GROUP
def test_haplotype_new_samples_are_scored_as_the_mean_of_their_haplotypes(haplotype_run):
    from seq2pheno.models import load_ridge, predict_ridge
    from test_genotype_steps import haplotype_onehot

    workdir, _, cohort = haplotype_run
    base = workdir / "results" / "hap"
    features = read(base / "data/features.tsv")
    params = load_ridge(base / "folds/holdout/models/ridge/model.npz")
    new = read(base / "predict/fresh/ridge.tsv").set_index("id")
    for name, k in (("new0", 3), ("new1", 8)):
        want = predict_ridge(params, haplotype_onehot(cohort, features, k)).mean()
        assert new.loc[name, "predicted"] == pytest.approx(want, rel=1e-6)


@HAPLOTYPE_GROUP
def test_haplotypes_on_an_unphased_vcf_stop_with_one_line(tmp_path):
    c = family_cohort(n_founders=20, n_sites=50, seed=2)
    files = gs.write_cohort(tmp_path / "cohort", c, phased=False, seed=2)
    config = {"cohorts": {"unphased": {"source": "vcf", "vcf": str(files["vcf"]), "fasta": str(files["fasta"]),
                                       "phenotypes": str(files["phenotypes"]), "haplotypes": True}},
              "models": {"ridge": {}}, "resources": {"gpu": 0}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, path, "results/unphased/data/samples.tsv", check=False)
    assert result.returncode != 0
    log = (tmp_path / "results/unphased/logs/import.log").read_text().splitlines()
    errors = [line for line in log if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in "\n".join(log)
    assert "unphased heterozygous call; haplotypes: true needs a phased VCF" in errors[0]
    assert "sample '" in errors[0] and str(files["vcf"]) in errors[0]
    assert errors[0].split(" ERROR ", 1)[1] in result.stderr
    assert not (tmp_path / "results/unphased/data/onehot.npy").exists()


# ---- import_chunks: the VCF read in scatter jobs, gathered into the same files ---------------------

CHUNK_GROUP = pytest.mark.xdist_group("chunked_import")
IMPORT_FILES = ["samples.tsv", "onehot.npy", "missing.npy", "dosage.npy", "features.tsv", "filtered.tsv"]


@CHUNK_GROUP
def test_chunked_import_writes_the_one_job_files_byte_for_byte(tmp_path):
    """import_chunks 3 (indexed .vcf.gz) and 2 (a plain .vcf: bgzipped and indexed first) give
    the bytes of import_chunks 1, with the filters biting, from separate scatter jobs."""
    c = family_cohort(n_founders=40, n_sites=300, seed=4)
    files = gs.write_cohort(tmp_path / "cohort", c, phased=True, missing_rate=0.03, unphenotyped=4, seed=4)
    plain = gs.write_vcf(tmp_path / "cohort" / "plain.vcf", c, phased=True, missing_rate=0.03, seed=4)
    base = {"source": "vcf", "vcf": str(files["vcf"]), "fasta": str(files["fasta"]),
            "phenotypes": str(files["phenotypes"]), "haplotypes": True, "min_maf": 0.15,
            "max_missing_sample": 0.045}
    config = {"cohorts": {"one": base, "three": {**base, "import_chunks": 3},
                          "plain": {**base, "vcf": str(plain), "import_chunks": 2}},
              "models": {"ridge": {}}, "resources": {"gpu": 0}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = [f"results/{name}/data/{f}" for name in config["cohorts"] for f in IMPORT_FILES]
    run_snakemake(tmp_path, path, *targets)
    results = tmp_path / "results"
    filtered = read(results / "one/data/filtered.tsv")
    assert {"mind", "maf"} <= set(filtered.reason)                # filters over the whole cohort bite
    assert np.load(results / "one/data/onehot.npy").shape[0] == 2 * len(read(results / "one/data/samples.tsv"))
    for name in ("three", "plain"):
        for f in IMPORT_FILES:
            assert (results / name / "data" / f).read_bytes() == (results / "one/data" / f).read_bytes(), (name, f)
    one = json.loads((results / "one/data/import_summary.json").read_text())
    three = json.loads((results / "three/data/import_summary.json").read_text())
    assert one == three
    # the chunks ran as separate jobs, each with its log and benchmark; their .npz files are temp()
    for name, k in (("three", 3), ("plain", 2)):
        for i in range(1, k + 1):
            log = (results / name / f"logs/import_chunks/{i}-of-{k}.log").read_text()
            assert f"chunk {i} of {k} of " in log
            assert (results / name / f"benchmarks/import_chunks/{i}-of-{k}.tsv").exists()
        assert not list((results / name / "data/chunks").glob("*.npz"))
        assert f"gathered {k} chunks" in (results / name / "logs/import.log").read_text()
    assert not (results / "three/data/chunks/input.csi").exists()           # it had its own index
    assert (results / "plain/logs/import_chunks/bgzip.log").exists()
    assert (results / "plain/data/chunks/input.csi").exists()
    assert not (results / "plain/data/chunks/input.vcf.gz").exists()        # temp(): gone after use
    assert not (results / "one/logs/import_chunks").exists()


def test_new_genotypes_are_scored_by_every_member_of_an_ensemble(tmp_path):
    """predict_new reads the model and each member it trains (a dry run: the planned job's inputs)."""
    path, _, _ = genotype_config(tmp_path, models={"net": {"preset": "genotype_cnn",
                                                           "ensemble": {"members": 3}}})
    target = f"results/{COHORT}/predict/fresh/net.tsv"
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(path),
           "-n", "--", target]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    block = result.stdout.split("rule predict_new:")[1].split("\n\n")[0]
    inputs = next(ln for ln in block.splitlines() if ln.strip().startswith("input:"))
    models = f"results/{COHORT}/folds/holdout/models/net"
    for f in (f"{models}/model.keras", f"{models}/members/1/model.keras", f"{models}/members/2/model.keras"):
        assert f in inputs, inputs
