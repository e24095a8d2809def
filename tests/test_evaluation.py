"""seq2pheno.evaluation and the k-fold parts of seq2pheno.split: folds that keep groups
together, published folds, gathering over folds."""

import numpy as np
import pandas as pd
import pytest

from seq2pheno import split as spl
from seq2pheno.errors import InputError
from seq2pheno.evaluation import (fold_groups, fold_names, folds_from_column, gather_folds,
                                  per_fold_table, summary_table)


def kept_table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    y[:3] = np.nan                                    # unphenotyped
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "phenotype": y, "group": np.arange(n) // 2})


def test_fold_names():
    assert fold_names("holdout") == ["holdout"]
    assert fold_names("kfold", 3, 2) == ["1_1", "1_2", "1_3", "2_1", "2_2", "2_3"]


def test_folds_keep_groups_and_are_balanced_and_reproducible():
    kept = kept_table()
    folds = spl.assign_folds(kept.phenotype, kept.group, k=4, repeats=2, seed=3)
    assert folds.shape == (2, 60)
    assert (folds[:, :3] == 0).all(), "unphenotyped samples are in no fold"
    for r in range(2):
        ok = folds[r] > 0
        assert pd.Series(folds[r][ok]).groupby(kept.group[ok].to_numpy()).nunique().max() == 1
        sizes = np.bincount(folds[r][ok])[1:]
        assert sizes.max() - sizes.min() <= 2
    assert not np.array_equal(folds[0], folds[1]), "each repeat draws new folds"
    np.testing.assert_array_equal(folds, spl.assign_folds(kept.phenotype, kept.group, k=4, repeats=2, seed=3))


def test_fold_split_tests_the_fold_and_never_shares_a_group():
    kept = kept_table()
    folds = spl.assign_folds(kept.phenotype, kept.group, k=3, seed=1)[0]
    s = spl.fold_split(kept.phenotype, kept.group, folds, 2, valid=0.2, seed=1)
    assert set(np.flatnonzero(s == "test")) == set(np.flatnonzero(folds == 2))
    assert (s[:3] == "unphenotyped").all()
    ok = kept.phenotype.notna().to_numpy()
    by_group = pd.Series(s[ok]).groupby(kept.group.to_numpy()[ok]).nunique()
    assert by_group.max() == 1


def test_too_many_folds_for_the_groups_is_one_clear_error():
    kept = kept_table(n=12)
    with pytest.raises(InputError, match="fold .* has .* samples"):
        spl.assign_folds(kept.phenotype, np.zeros(12), k=5)


def test_published_folds_are_reproduced_and_checked():
    kept = kept_table(n=12)
    columns = pd.DataFrame({"id": kept.id, "cv": ["b", "b", "a", "a"] * 3})
    folds = folds_from_column(kept, columns, "cv", kept.group.to_numpy())
    assert list(folds[3:]) == [1 if v == "a" else 2 for v in columns.cv[3:]]
    assert (folds[:3] == 0).all()
    split_pair = pd.DataFrame({"id": kept.id, "cv": ["a", "b"] * 6})       # groups are pairs
    with pytest.raises(InputError, match="different folds"):
        folds_from_column(kept, split_pair, "cv", kept.group.to_numpy())
    missing = columns.assign(cv=columns.cv.where(columns.index != 5))
    with pytest.raises(InputError, match="sample 's5' has no fold"):
        folds_from_column(kept, missing, "cv", kept.group.to_numpy())
    with pytest.raises(InputError, match="column 'nope'"):
        folds_from_column(kept, columns, "nope", kept.group.to_numpy())


def test_group_column_joins_with_kept_groups():
    kept = kept_table(n=8)                    # kept groups: pairs (0,1) (2,3) (4,5) (6,7)
    columns = pd.DataFrame({"id": kept.id, "family": ["f", None, None, "f", None, None, "g", None]})
    g = fold_groups(kept, columns, "family")
    assert g[0] == g[1] == g[2] == g[3]       # pair (0,1) and pair (2,3) joined by family f
    assert g[4] == g[5] and g[4] != g[0] and g[6] == g[7] and g[6] != g[4]


def test_gather_over_folds_gives_out_of_fold_predictions_and_means():
    folds = ["1_1", "1_2"]
    preds, metrics, unphen = [], [], []
    for f, (a, b) in zip(folds, [(0, 5), (5, 10)]):
        ids = [f"s{i}" for i in range(10)]
        split = ["test" if a <= i < b else "train" for i in range(10)]
        preds.append(pd.DataFrame({"id": ids, "split": split, "observed": np.arange(10.0),
                                   "predicted": np.arange(10.0) + (1 if f == "1_1" else -1)}))
        metrics.append({"test": {"n": 5, "r2": 0.5 if f == "1_1" else 0.7, "pearson_r": 0.8, "mse": 1.0,
                                 "spearman_r": 0.8}})
        unphen.append(pd.DataFrame({"id": ["u1", "u2"], "predicted": [1.0, 3.0] if f == "1_1" else [3.0, 5.0],
                                    "lower": [0.0, 2.0], "upper": [2.0, 4.0]}))
    table, summary, ranking = gather_folds(folds, preds, metrics, unphen, "kfold")
    assert sorted(table.id) == [f"s{i}" for i in range(10)] and (table.split == "test").all()
    assert list(table.set_index("id").loc[["s0", "s9"], "fold"]) == [1, 2]
    assert summary["test"]["r2"] == pytest.approx(0.6) and summary["test"]["n"] == 10
    assert summary["test"]["r2_sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert list(ranking.id) == ["u2", "u1"] and list(ranking.predicted) == [4.0, 2.0]
    assert list(ranking["sd"]) == pytest.approx([np.sqrt(2), np.sqrt(2)])
    hold_table, hold_summary, _ = gather_folds(["holdout"], preds[:1], metrics[:1], unphen[:1], "holdout")
    assert hold_table is preds[0] and hold_summary["scheme"] == "holdout"


def test_gather_over_folds_keeps_each_ensemble_members_mean_accuracy():
    folds = ["1_1", "1_2"]
    preds = [pd.DataFrame({"id": ["a", "b"], "split": ["test", "train"], "observed": [1.0, 2.0],
                           "predicted": [1.0, 2.0]})] * 2
    metrics = [{"test": {"n": 1, "r2": 0.5}, "ensemble": {"members": 2, "over": "seeds"},
                "members": [{"test": {"r2": r0, "pearson_r": 0.5}}, {"test": {"r2": r1, "pearson_r": None}}]}
               for r0, r1 in [(0.2, 0.4), (0.4, 0.8)]]
    empty = pd.DataFrame({"id": pd.Series([], dtype=str), "predicted": pd.Series([], dtype=float)})
    _, summary, _ = gather_folds(folds, preds, metrics, [empty, empty], "kfold")
    assert summary["ensemble"] == {"members": 2, "over": "seeds"}
    assert [m["test"]["r2"] for m in summary["members"]] == pytest.approx([0.3, 0.6])
    assert summary["members"][0]["test"]["pearson_r"] == 0.5 and summary["members"][1]["test"]["pearson_r"] is None


def test_per_fold_and_summary_tables():
    metrics = [{"test": {"n": 5, "pearson_r": r, "r2": r / 2}} for r in (0.2, 0.4, 0.6, 0.8)]
    per = per_fold_table(["a", "b"], ["1_1", "1_2"], metrics)
    assert list(per.model) == ["a", "a", "b", "b"] and list(per.fold) == [1, 2, 1, 2]
    summ = summary_table(per).set_index("model")
    assert summ.loc["a", "pearson_r_mean"] == pytest.approx(0.3)
    assert summ.loc["b", "pearson_r_sd"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    with pytest.raises(ValueError, match="metric files"):
        per_fold_table(["a"], ["1_1", "1_2"], metrics[:1])
