"""Interpreting the model that won, in the terms of its data, within a memory bound.

- selection: the best model of any kind by validation Pearson r, then R²; never the test split;
- a linear winner is interpreted by its coefficients (effects.tsv equals ridge's, per marker the
  effect of one ALT allele);
- genotype cohorts: marker effects along the genome from features.tsv in the report section;
- the CNN interpretation stays under interpret.memory_mb (peak RSS of a subprocess).

Measured with tests/interpret_memory_case.py (random weights, genotype-like rows, 200 samples,
L = 10,346 markers, interpret.memory_mb 2000): see the session report.
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from seq2pheno import coefficients, steps
from seq2pheno import report_sections as rs
from seq2pheno.models import fit_ridge, save_ridge

REPO = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("test")


def write_metrics(tmp_path, name, valid, test):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"valid": valid, "test": test}))
    return path


def test_selection_by_validation_only_pearson_then_r2(tmp_path):
    # cnn is best on test, ridge on validation: ridge wins; the test split never counts
    paths = [write_metrics(tmp_path, "cnn", {"pearson_r": 0.5, "r2": 0.2}, {"pearson_r": 0.99, "r2": 0.98}),
             write_metrics(tmp_path, "ridge", {"pearson_r": 0.7, "r2": 0.4}, {"pearson_r": 0.1, "r2": 0.0}),
             write_metrics(tmp_path, "gblup", {"pearson_r": 0.7, "r2": 0.45}, {"pearson_r": 0.1, "r2": 0.0}),
             write_metrics(tmp_path, "none", {"pearson_r": None, "r2": 0.9}, {"pearson_r": 1.0, "r2": 1.0})]
    out = tmp_path / "models.txt"
    best = steps.select_best(paths, ["cnn", "ridge", "gblup", "none"], out=out, log=LOG)
    assert best == "gblup"                     # equal r: R² decides
    assert out.read_text().split() == ["gblup"]
    assert steps.select_best(paths[:2], ["cnn", "ridge"], out=out, log=LOG) == "ridge"


def genotype_cohort(n=120, L=30, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, L)
    alt = (ref + rng.integers(1, 4, L)) % 4
    dosage = rng.integers(0, 3, (n, L))
    x = np.zeros((n, L, 4), dtype=np.float32)
    for i in range(n):
        x[i, np.arange(L), ref] += (2 - dosage[i]) / 2
        x[i, np.arange(L), alt] += dosage[i] / 2
    beta = np.zeros(L)
    beta[[3, 17]] = [1.5, -1.0]
    y = dosage @ beta + rng.normal(0, 0.3, n)
    bases = np.array(list("ACGT"))
    features = pd.DataFrame({"position": np.arange(L), "chrom": np.where(np.arange(L) < L // 2, "1", "2"),
                             "pos": 100 * (np.arange(L) % (L // 2) + 1), "ref": bases[ref], "alt": bases[alt]})
    return x, y, features, beta


def test_linear_winner_effects_equal_ridge_coefficients_per_marker(tmp_path):
    x, y, features, beta = genotype_cohort()
    params = fit_ridge(x[:90], y[:90], x[90:], y[90:], [0.1, 1.0, 10.0])
    save_ridge(tmp_path / "model.npz", params)
    features.to_csv(tmp_path / "features.tsv", sep="\t", index=False)
    out = {"effects": str(tmp_path / "effects.tsv")}
    steps.interpret_coefficients({"model": str(tmp_path / "model.npz"), "features": str(tmp_path / "features.tsv")},
                                 {}, genotype=True, out=out, log=LOG)
    table = pd.read_csv(out["effects"], sep="\t", dtype={"chrom": str})
    coef = np.asarray(params["coef"]).reshape(len(features), 4)
    rows = np.arange(len(features))
    ref = ["ACGT".index(b) for b in features["ref"]]
    alt = ["ACGT".index(b) for b in features["alt"]]
    assert list(table.columns[:5]) == ["position", "chrom", "pos", "ref", "alt"]
    assert np.allclose(table["alt_effect"], 0.5 * (coef[rows, alt] - coef[rows, ref]), atol=1e-12)
    assert (table["chrom"] == features["chrom"]).all() and (table["pos"] == features["pos"]).all()
    # the planted markers lead, with the sign of their ALT allele
    top = table.sort_values("rank").head(2)
    assert set(top["position"]) == {3, 17}
    assert np.sign(table.loc[3, "alt_effect"]) == 1 and np.sign(table.loc[17, "alt_effect"]) == -1
    # sequence cohorts: per position and base, the coefficients themselves
    seq = coefficients.effects_table(coef, pd.DataFrame({"position": rows}), signed=True, genotype=False)
    assert np.array_equal(seq[[f"effect_{b}" for b in "ACGT"]].to_numpy(), coef)
    assert np.allclose(seq["importance"], coef.max(axis=1) - coef.min(axis=1))


def test_genotype_section_shows_markers_along_the_genome():
    x, y, features, beta = genotype_cohort()
    eff = np.zeros((len(features), 4))
    eff[np.arange(len(features)), ["ACGT".index(b) for b in features["alt"]]] = 2 * beta
    table = coefficients.effects_table(eff, features, signed=True, genotype=True)
    section = rs.coefficients_section("ridge", "ridge", effects=table, genotype=True)
    html = section["html"]
    assert "<img" in html and "ALT allele" in html
    for col in ("chrom", "pos", "ref", "alt", "alt_effect"):
        assert f">{col}<" in html
    assert "filter" not in html.lower()        # no motif logos over marker columns
    # a network on genotypes: ISM importance along the genome, no sequence logos or filters
    ism = table[["position", "chrom", "pos", "ref", "alt", "importance", "rank"]]
    net = rs.interpretation_section(
        "cnn", ism=ism, global_map=np.zeros((len(ism), 4)),
        saliency=pd.DataFrame({"position": ism["position"], "saliency": ism["importance"]}),
        pwms=[{"filter": 0, "pfm": np.full((3, 4), 0.25), "n_hits": 20}],
        influence=pd.DataFrame({"filter": [0], "loss_increase": [0.1], "r2_drop": [0.01], "rank": [1]}),
        interactions=pd.DataFrame(columns=["pos_a", "pos_b", "score", "signed_score", "rank"]), genotype=True)
    from seq2pheno import interpret_plots as ip

    assert ">chrom<" in net["html"] and ip.CAPTIONS["filters"][:40] not in net["html"]
    assert ip.CAPTIONS["logo"][:40] not in net["html"] and ip.CAPTIONS["manhattan"][:40] in net["html"]


def run_case(tmp_path, memory_mb, **kw) -> dict:
    args = [sys.executable, str(REPO / "tests/interpret_memory_case.py"), str(tmp_path / "case"),
            "--memory-mb", str(memory_mb)] + [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["children_peak_mb"] = peak / 1024 if peak > before else None
    result["log"] = proc.stderr
    return result


def test_cnn_interpretation_stays_under_the_memory_bound(tmp_path):
    # 32 filters over L = 6000 markers, 150 sequences: unchunked, the first layer's activations
    # (150 x 6000 x 32 float32 = 110 MB) were held whole by filter_activations, filter_influence
    # and its forward batch, and saliency's backward pass (>= 3 copies: 330 MB), beyond the
    # ~300 MB left under a 1,200 MB bound after Python, the Keras backend and the model (about
    # 700-900 MB, depending on the install).
    memory_mb = 1200
    L, n, filters = 6000, 150, 32
    unchunked = 3 * n * L * filters * 4 / 2 ** 20
    assert unchunked > 300
    result = run_case(tmp_path, memory_mb, length=L, n=n, filters=filters, preset="genotype_cnn",
                      top_positions=4)
    peak = result["children_peak_mb"] or result["peak_rss_mb"]
    assert peak <= memory_mb, result["log"][-3000:]
    with np.load(tmp_path / "case/out/ism_maps.npz") as maps:
        assert maps["deltas"].shape == (n, L, 4) and maps["onehot"].shape == (n, L, 4)
        assert np.allclose(np.abs(maps["deltas"]).sum(axis=(0, 2)) / (3 * n),
                           pd.read_csv(tmp_path / "case/out/ism.tsv", sep="\t")["importance"], rtol=1e-4)
