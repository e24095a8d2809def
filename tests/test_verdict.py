"""seq2pheno.verdict: bootstrap intervals, paired differences, corrected t, verdict wording."""

import math
import time

import numpy as np
import pytest
from scipy import stats

from seq2pheno.curate import replicate_summary
from seq2pheno.verdict import (ceiling, compare, corrected_resampled_t, metric_interval,
                               pair_to_compare, paired_difference, relatives_note)


def noisy(y, r, rng):
    """A prediction whose population Pearson r with standard-normal y is r (and R² = r²)."""
    return r ** 2 * (y + rng.normal(0, math.sqrt(1 / r ** 2 - 1), len(y)))


# ---- metric_interval ---------------------------------------------------------------------


def test_metric_interval_point_values_and_determinism():
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    p = noisy(y, 0.6, rng)
    r = metric_interval(y, p, "pearson_r", n_boot=500)
    assert r["n"] == 500
    assert r["value"] == pytest.approx(stats.pearsonr(y, p)[0], abs=1e-12)
    assert r["lower"] < r["value"] < r["upper"]
    assert r == metric_interval(y, p, "pearson_r", n_boot=500)          # same seed, same answer
    r2 = metric_interval(y, p, "r2", n_boot=500)
    assert r2["value"] == pytest.approx(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    # NaNs dropped; too few samples or a constant prediction: undefined, not an error
    y2, p2 = y.copy(), p.copy()
    y2[:10] = np.nan
    assert metric_interval(y2, p2, n_boot=100)["n"] == 490
    assert metric_interval(y[:2], p[:2])["value"] is None
    assert metric_interval(y, np.ones_like(y), n_boot=100)["value"] is None
    with pytest.raises(ValueError):
        metric_interval(y, p, "mse")


def test_bootstrap_interval_matches_resampling_by_hand():
    # the vectorised bootstrap against a plain loop over the same index draws
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    p = noisy(y, 0.5, rng)
    draws = np.random.default_rng(0).integers(0, 200, size=(300, 200))
    by_hand = [stats.pearsonr(y[i], p[i])[0] for i in draws]
    lo, hi = np.quantile(by_hand, [0.025, 0.975])
    r = metric_interval(y, p, n_boot=300, seed=0)
    assert (r["lower"], r["upper"]) == pytest.approx((lo, hi), abs=1e-9)


def test_interval_width_shrinks_as_one_over_sqrt_n():
    rng = np.random.default_rng(2)
    widths = {}
    for n in (400, 6400):
        y = rng.normal(size=n)
        r = metric_interval(y, noisy(y, 0.5, rng), n_boot=1000)
        widths[n] = r["upper"] - r["lower"]
    assert widths[400] / widths[6400] == pytest.approx(4.0, rel=0.25)


def test_bootstrap_is_fast():
    rng = np.random.default_rng(3)
    y = rng.normal(size=10_000)
    p = noisy(y, 0.5, rng)
    t = time.process_time()                                   # CPU time: the machine is shared
    metric_interval(y, p, n_boot=2000)
    assert time.process_time() - t < 3.0                      # ~0.5 s alone; a loop would be far slower


# ---- paired_difference -------------------------------------------------------------------


def test_paired_bootstrap_recovers_known_difference():
    rng = np.random.default_rng(4)
    y = rng.normal(size=5000)
    a, b = noisy(y, 0.8, rng), noisy(y, 0.6, rng)          # true difference in r: 0.2
    d = paired_difference(y, a, b, "pearson_r")
    assert d["lower"] <= 0.2 <= d["upper"]
    assert d["lower"] > 0.15                                  # excludes 0 by far
    assert d["difference"] == pytest.approx(stats.pearsonr(y, a)[0] - stats.pearsonr(y, b)[0])
    assert d["p_value"] < 0.01 and d["n"] == 5000 and d["metric"] == "pearson_r"
    # swapped: the negation
    e = paired_difference(y, b, a, "pearson_r")
    assert e["difference"] == pytest.approx(-d["difference"])
    assert (e["lower"], e["upper"]) == pytest.approx((-d["upper"], -d["lower"]))


def test_paired_bootstrap_covers_truth_and_pairing_narrows_it():
    # coverage over repeated cohorts, and pairing beats unpaired intervals for correlated models
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(20):
        y = rng.normal(size=600)
        a, b = noisy(y, 0.7, rng), noisy(y, 0.6, rng)
        d = paired_difference(y, a, b, n_boot=400, seed=int(rng.integers(1 << 30)))
        covered += d["lower"] <= 0.1 <= d["upper"]
    assert covered >= 16
    y = rng.normal(size=1000)
    shared = rng.normal(0, 1, 1000)                           # both models err alike
    a, b = y + shared + rng.normal(0, 0.1, 1000), y + shared + rng.normal(0, 0.3, 1000)
    d = paired_difference(y, a, b, n_boot=1000)
    ia, ib = metric_interval(y, a, n_boot=1000), metric_interval(y, b, n_boot=1000)
    assert d["upper"] - d["lower"] < 0.5 * (ia["upper"] - ia["lower"])
    assert d["lower"] > 0 and ia["lower"] < ib["upper"]       # paired: separated; unpaired: overlap


def test_paired_bootstrap_r2_and_no_difference():
    rng = np.random.default_rng(6)
    y = rng.normal(size=3000)
    a = noisy(y, 0.6, rng)
    d = paired_difference(y, a, a.copy(), "r2", n_boot=300)
    assert d["difference"] == 0 and d["lower"] == 0 and d["upper"] == 0 and d["p_value"] == 1.0


# ---- corrected_resampled_t ---------------------------------------------------------------


def test_corrected_resampled_t_hand_computed():
    diffs = [0.02, 0.05, -0.01, 0.04, 0.03]
    # by hand: mean 0.026; s² = (0.006² + 0.024² + 0.036² + 0.014² + 0.004²) / 4 = 0.00053;
    # corrected variance (1/5 + 20/80) * 0.00053 = 0.0002385; se 0.0154434; t = 1.683565, 4 df
    r = corrected_resampled_t(diffs, n_train=80, n_test=20)
    se = math.sqrt(0.0002385)
    assert r["difference"] == pytest.approx(0.026)
    assert r["t"] == pytest.approx(0.026 / se) and r["t"] == pytest.approx(1.683565, abs=1e-5)
    assert r["df"] == 4 and r["n_folds"] == 5
    assert r["lower"] == pytest.approx(0.026 - 2.776445 * se, abs=1e-6)   # t(0.975, 4) = 2.776445
    assert r["upper"] == pytest.approx(0.026 + 2.776445 * se, abs=1e-6)
    assert r["p_value"] == pytest.approx(0.1675, abs=5e-4)
    assert r["test"] == "Nadeau-Bengio corrected resampled t"
    # the naive t (variance s²/J) ignores the overlap of training sets: far too confident
    naive = stats.ttest_1samp(diffs, 0.0).pvalue
    assert naive == pytest.approx(0.06499, abs=1e-4) and naive < r["p_value"] / 2


def test_corrected_resampled_t_repeated_kfold_and_edges():
    rng = np.random.default_rng(7)
    d = rng.normal(0.01, 0.02, (3, 5))                         # 3 repeats x 5 folds
    r = corrected_resampled_t(d, n_train=400, n_test=100)
    assert r["n_folds"] == 15 and r["df"] == 14
    assert r == corrected_resampled_t(d.ravel(), n_train=400, n_test=100)
    const = corrected_resampled_t([0.5, 0.5, 0.5], 10, 5)
    assert const["p_value"] == 0.0 and const["lower"] == const["upper"] == 0.5
    with pytest.raises(ValueError):
        corrected_resampled_t([0.1], 10, 5)


# ---- compare -----------------------------------------------------------------------------


def iv(value, lower, upper, n=1043):
    return {"value": value, "lower": lower, "upper": upper, "n": n}


def model(name, kind, r, r2=(0.3, 0.2, 0.4), valid=None, **kw):
    m = {"name": name, "kind": kind, "test": {"pearson_r": iv(*r) if isinstance(r, tuple) else r,
                                              "r2": iv(*r2)}}
    if valid is not None:
        m["valid"] = {"pearson_r": valid}
    m.update(kw)
    return m


def paired(d, lo, hi, n=1043):
    return {"difference": d, "lower": lo, "upper": hi, "p_value": 0.01, "n": n,
            "metric": "pearson_r", "level": 0.95}


KEYS = {"best_model", "best_linear", "compared_with", "metric", "comparison", "difference",
        "sentence"}


def test_compare_better_puts_interval_in_sentence():
    models = [model("default", "cnn", (0.62, 0.58, 0.66)),
              model("kmer_ridge", "kmer_ridge", (0.55, 0.51, 0.59)),
              model("ridge", "ridge", (0.50, 0.46, 0.54))]
    assert pair_to_compare(models) == ("default", "kmer_ridge")
    v = compare(models, {("default", "kmer_ridge"): paired(0.07, 0.03, 0.11)})
    assert set(v) == KEYS
    assert v["best_model"] == "default" and v["best_linear"] == "kmer_ridge"
    assert v["comparison"] == "better" and v["metric"] == "pearson_r"
    assert v["difference"] == {"value": 0.07, "interval": [0.03, 0.11]}
    s = v["sentence"]
    assert s.startswith("CNN `default`") and "predicts better than the best linear baseline" in s
    assert "k-mer ridge `kmer_ridge`" in s and "0.62 against 0.55" in s
    assert "a difference of 0.07 (95 % interval 0.03 to 0.11, paired bootstrap over 1,043 test samples)" in s


def test_compare_indistinguishable_and_worse():
    models = [model("cnn", "cnn", (0.60, 0.55, 0.65)), model("ridge", "ridge", (0.59, 0.54, 0.64))]
    v = compare(models, paired(0.01, -0.02, 0.04))
    assert v["comparison"] == "indistinguishable"
    assert "is not distinguishable from the best linear baseline, ridge `ridge`" in v["sentence"]
    assert "-0.02 to 0.04" in v["sentence"] and "better" not in v["sentence"]
    # chosen on validation, worse on test
    models = [model("cnn", "cnn", (0.50, 0.46, 0.54), valid=0.61),
              model("ridge", "ridge", (0.56, 0.52, 0.60), valid=0.58)]
    v = compare(models, paired(-0.06, -0.09, -0.03))
    assert v["best_model"] == "cnn" and v["comparison"] == "worse"
    assert "predicts worse than the best linear baseline" in v["sentence"]
    assert "chosen on validation" in v["sentence"]


def test_compare_end_to_end_from_predictions():
    rng = np.random.default_rng(8)
    y = rng.normal(size=2000)
    preds = {"cnn": noisy(y, 0.7, rng), "ridge": noisy(y, 0.5, rng), "tie": noisy(y, 0.5, rng)}

    def m(name, kind):
        return {"name": name, "kind": kind, "predicted": preds[name],
                "test": {"pearson_r": metric_interval(y, preds[name], n_boot=300),
                         "r2": metric_interval(y, preds[name], "r2", n_boot=300)}}

    v = compare([m("cnn", "cnn"), m("ridge", "ridge")], observed=y, n_boot=500)
    assert v["comparison"] == "better" and v["difference"]["interval"][0] > 0.1
    assert "2,000 test samples" in v["sentence"]
    v = compare([m("tie", "cnn"), m("ridge", "ridge")], observed=y, n_boot=500, metric="r2")
    assert v["metric"] == "r2" and "test R²" in v["sentence"]


def test_compare_no_model_predicts_makes_no_claim():
    models = [model("cnn", "cnn", (0.10, 0.02, 0.18), r2=(-0.03, -0.08, 0.01)),
              model("ridge", "ridge", (0.05, -0.03, 0.12), r2=(-0.05, -0.10, 0.0))]
    v = compare(models, paired(0.05, 0.01, 0.09))
    assert v["comparison"] == "no_model_predicts" and v["difference"] is None
    s = v["sentence"]
    assert s.startswith("No model predicts this phenotype from these data")
    assert "too few samples" in s and "heritability" in s and "encoding" in s
    assert "-0.08 to 0.01" in s
    for word in ("epista", "additiv", "non-linear", "interaction", "better"):
        assert word not in s.lower()
    # r's interval above 0 (0.02 to 0.18): the ranking is named as weak evidence, no verdict
    assert "Pearson r, 0.10 (95 % interval 0.02 to 0.18), is above 0" in s and "weak evidence" in s


def test_no_model_predicts_names_no_ranking_when_r_includes_zero():
    models = [model("cnn", "cnn", (0.05, -0.02, 0.12), r2=(-0.03, -0.08, 0.01)),
              model("ridge", "ridge", (0.04, -0.03, 0.11), r2=(-0.05, -0.10, 0.0))]
    v = compare(models, paired(0.01, -0.03, 0.05))
    assert v["comparison"] == "no_model_predicts"
    assert "Pearson r" not in v["sentence"] and "ranking" not in v["sentence"]


def test_compare_linear_best_is_not_compared_with_itself():
    models = [model("ridge", "ridge", (0.60, 0.56, 0.64)),
              model("gblup", "gblup", (0.58, 0.54, 0.62)),
              model("x", "cnn", (0.52, 0.48, 0.56))]
    assert pair_to_compare(models) == ("ridge", "x")
    v = compare(models, {("x", "ridge"): paired(-0.08, -0.12, -0.04)})   # reversed key: negated
    assert v["best_model"] == v["best_linear"] == "ridge" and v["compared_with"] == "x"
    assert v["comparison"] == "better" and v["difference"]["interval"] == pytest.approx([0.04, 0.12])
    s = v["sentence"]
    assert s.startswith("The linear model ridge `ridge` is the best")
    assert "the best non-linear model, CNN `x`, predicts worse than it" in s
    assert "beats" not in s and s.count("`ridge`") == 1
    v = compare(models, paired(0.01, -0.03, 0.05))
    assert v["comparison"] == "indistinguishable"
    assert "CNN `x`, is not distinguishable from it" in v["sentence"]
    # no non-linear model at all: no comparison, said so
    v = compare(models[:2], paired(0.01, -0.03, 0.05))
    assert v["comparison"] is None and "no non-linear model" in v["sentence"]


def test_compare_selects_on_validation_not_test():
    models = [model("cnn", "cnn", (0.62, 0.58, 0.66), valid=0.50),
              model("ridge", "ridge", (0.55, 0.51, 0.59), valid=0.57),
              model("kr", "kmer_ridge", (0.57, 0.53, 0.61), valid=0.52)]
    assert pair_to_compare(models) == ("ridge", "cnn")
    assert compare(models, paired(-0.07, -0.1, -0.03))["best_linear"] == "ridge"
    assert pair_to_compare(models, select_by="test") == ("cnn", "kr")
    # a model without a validation metric: all chosen on test
    models[2].pop("valid")
    assert pair_to_compare(models) == ("cnn", "kr")
    # is_linear overrides the kind
    assert pair_to_compare([model("a", "cnn", (0.6, 0.5, 0.7), is_linear=True),
                            model("b", "cnn", (0.5, 0.4, 0.6))]) == ("a", "b")


def test_compare_missing_pieces():
    only_cnn = [model("cnn", "cnn", (0.6, 0.5, 0.7))]
    v = compare(only_cnn)
    assert v["best_linear"] is None and v["comparison"] is None and "no linear baseline" in v["sentence"]
    v = compare([model("cnn", "cnn", (0.6, 0.5, 0.7)), model("ridge", "ridge", (0.5, 0.4, 0.6))])
    assert v["comparison"] is None and "no paired comparison" in v["sentence"]
    assert compare([])["best_model"] is None
    with pytest.raises(ValueError):   # a paired result on another metric than the verdict's
        compare([model("cnn", "cnn", (0.6, 0.5, 0.7)), model("ridge", "ridge", (0.5, 0.4, 0.6))],
                {"difference": 0.1, "lower": 0, "upper": 0.2, "metric": "r2"})


# ---- ceilings and relatives --------------------------------------------------------------


def test_ceiling_sources_in_order():
    assert ceiling() is None
    assert ceiling(replicate=0.8, reml_h2=0.4, truth={"H2": 0.9})["source"] == "truth"
    c = ceiling(replicate={"ceiling": 0.8, "n_replicate_groups": 120, "n_copy_groups": 3},
                reml_h2=0.4)
    assert c["value"] == 0.8 and c["source"] == "replicates" and "120 replicate groups" in c["label"]
    c = ceiling(reml_h2={"h2": 0.42, "se": 0.05})
    assert c == {"value": 0.42, "source": "reml_h2", "label": c["label"]} and "REML" in c["label"]
    assert ceiling(replicate=float("nan"), reml_h2=0.3)["source"] == "reml_h2"


def test_ceiling_copies_are_not_replicates():
    rng = np.random.default_rng(9)
    g = np.repeat(np.arange(31), 2)
    copies = replicate_summary(rng.normal(size=31)[g], g)     # 31 copied pairs, identical values
    assert copies["ceiling"] is None and copies["n_copy_groups"] == 31
    assert ceiling(replicate=copies, reml_h2=0.35)["source"] == "reml_h2"
    g = np.repeat(np.arange(200), 2)
    y = rng.normal(0, 1, 200)[g] + rng.normal(0, 0.5, 400)     # repeatability 1 / 1.25 = 0.8
    reps = replicate_summary(y, g)
    c = ceiling(replicate=reps, reml_h2=0.35)
    assert c["source"] == "replicates" and c["value"] == pytest.approx(0.8, abs=0.07)


def test_relatives_note():
    kin = np.array([0.02, 0.2, 0.5, 0.1, np.nan, 0.18, 0.0, 0.01])
    r = relatives_note(kin)
    assert (r["n_test"], r["n_close"], r["n_duplicates"]) == (8, 3, 1)
    assert r["share"] == pytest.approx(3 / 8)
    assert "3 of 8 test samples (37.5 %) have a close relative in training" in r["sentence"]
    assert "unknown for 1" in r["sentence"]
    dup = np.zeros(8, bool)
    dup[6] = True                                             # a duplicate the kinship missed
    r = relatives_note(kin, dup)
    assert r["n_close"] == 4 and r["n_duplicates"] == 1
    r = relatives_note(np.zeros(5))
    assert r["share"] == 0 and "0 of 5" in r["sentence"] and "overstate" not in r["sentence"]
    r = relatives_note(None, reason_if_missing="fewer than 100 variants")
    assert r["share"] is None
    assert r["sentence"].startswith("Kinship could not be estimated: fewer than 100 variants")
    r = relatives_note(None, np.array([True, False, False, False]), reason_if_missing="no VCF")
    assert r["n_duplicates"] == 1 and "1 of 4 test samples" in r["sentence"]
    with pytest.raises(ValueError):
        relatives_note(kin, np.zeros(3, bool))


def test_sex_marker_note():
    from seq2pheno.kinship import sex_chromosome_counts
    from seq2pheno.verdict import sex_marker_note

    counts = sex_chromosome_counts(["1", "1", "X", "chrX", "19", "Z", "chrY", "MT", "x"])
    assert counts == {"X": 1, "chrX": 1, "Z": 1, "chrY": 1, "x": 1}
    assert sex_chromosome_counts(["1", "LG3", "MT", "Pt"]) == {}
    note = sex_marker_note({"X": 272}, None)
    assert note["sex_markers"] == {"X": 272}
    assert "272 markers lie on sex chromosomes (272 on X)" in note["sentence"]
    assert "covariate" in note["sentence"]
    assert sex_marker_note({"X": 272}, ["sex_male"]) is None       # sex given: nothing to warn
    assert sex_marker_note({}, None) is None                        # no sex chromosome
