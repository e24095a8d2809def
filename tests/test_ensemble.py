"""Ensembles (seq2pheno.ensemble and the ensemble steps): settings, mean and spread, members
over seeds / folds / trials, scaled intervals, averaged attributions."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
from test_search import STEP_ENTRY, STEP_SEARCH, write_fold

from seq2pheno import ensemble
from seq2pheno.models.base import SpecError

LOG = logging.getLogger("test_ensemble")


# ---- settings -----------------------------------------------------------------------------


def test_defaults_and_trials_need_a_search():
    assert ensemble.parse_ensemble({"members": 3}, "m") == {"members": 3, "over": "seeds"}
    assert ensemble.parse_ensemble({"members": 2, "over": "trials"}, "m", {"trials": 4}) == {
        "members": 2, "over": "trials"}


@pytest.mark.parametrize("settings, search, words", [
    ({"members": 1}, None, "ensemble.members"),
    ({"members": "5"}, None, "ensemble.members"),
    ({"members": True}, None, "ensemble.members"),
    ({"members": 3, "over": "bags"}, None, "ensemble.over"),
    ({"members": 3, "size": 2}, None, "unknown key"),
    ({"members": 3, "over": "trials"}, None, "needs a search"),
    ({"members": 5, "over": "trials"}, {"trials": 4}, "more than the search's 4 trials"),
    ([5], None, "must be a mapping"),
])
def test_bad_settings_are_one_line_naming_the_key(settings, search, words):
    with pytest.raises(SpecError) as err:
        ensemble.parse_ensemble(settings, "deep", search)
    assert words in str(err.value) and "'deep'" in str(err.value) and "\n" not in str(err.value)


def test_the_config_schema_takes_an_ensemble_and_rejects_bad_ones():
    from seq2pheno.config import validate_config
    from seq2pheno.errors import InputError

    base = {"cohorts": {"c": {"source": "table", "table": "t.csv"}}}
    ok = validate_config({**base, "models": {"default": {"ensemble": {"members": 3}}}})
    assert ok["models"]["default"]["ensemble"]["members"] == 3
    with pytest.raises(InputError, match="members"):
        validate_config({**base, "models": {"default": {"ensemble": {"members": 1}}}})
    with pytest.raises(InputError, match="over"):
        validate_config({**base, "models": {"default": {"ensemble": {"members": 3, "over": "x"}}}})


# ---- mean, spread, agreement, folds -----------------------------------------------------------


def test_combine_is_the_mean_and_the_sd_of_the_members():
    m = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 5.0], [2.0, 2.0, np.nan]])
    mean, sd = ensemble.combine(m)
    assert mean[:2] == pytest.approx([2.0, 2.0]) and sd[:2] == pytest.approx([1.0, 0.0])
    assert np.isnan(mean[2]) and np.isnan(sd[2])
    with pytest.raises(ValueError, match="members >= 2"):
        ensemble.combine(m[:1])


def test_member_agreement_counts_the_members_ranking_a_position_high():
    imp = np.array([[5.0, 4.0, 0.1, 0.2],     # top 2: positions 0, 1
                    [5.0, 0.1, 4.0, 0.2],     # 0, 2
                    [5.0, 4.0, 0.2, 0.1]])    # 0, 1
    assert ensemble.member_agreement(imp, 2) == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


def test_fold_members_keep_groups_together_and_balance_the_folds():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 2)                  # 60 pairs of relatives
    y = rng.normal(size=120)
    member = ensemble.fold_members(groups, 3, seed=1, phenotype=y)
    assert set(member) == {0, 1, 2}
    assert all(len(set(member[groups == g])) == 1 for g in range(60))
    assert np.bincount(member).min() >= 36
    assert (member == ensemble.fold_members(groups, 3, seed=1, phenotype=y)).all()


# ---- the steps: members trained, evaluated, interpreted ----------------------------------------


def _predict(path, paths):
    from seq2pheno import models, steps

    design, onehot = steps._design_and_tensor(paths)
    rows = steps._rows(design, onehot, np.arange(len(design.ids)))
    return models.KINDS["cnn"].predict(models.load_trained(path, "cnn"), rows)


def _members(tmp_path, paths, plan, numbers, extra=None):
    from seq2pheno import steps

    files = []
    for k in numbers:
        d = tmp_path / f"member_{k}"
        out = {"model": str(d / "model.keras"), "history": str(d / "history.tsv"), "split": str(d / "split.tsv")}
        steps.train_member(dict(paths, **(extra or {})), "ens", plan, k, out=out, log=LOG)
        files.append(out)
    return files


def test_a_seed_ensemble_is_the_mean_of_its_members_with_intervals_scaled_by_their_spread(tmp_path):
    from seq2pheno import steps

    paths = write_fold(tmp_path / "fold")
    plan = {"members": 3, "over": "seeds", "seed": 0, "entry": STEP_ENTRY}
    model = {"model": str(tmp_path / "model.keras"), "history": str(tmp_path / "history.tsv")}
    steps.train(paths, {"name": "ens", **STEP_ENTRY}, 0, out=model, log=LOG)     # member 0
    members = _members(tmp_path, paths, plan, [1, 2])
    # member k trains with the seed 0 + k: the members differ
    assert pd.read_csv(members[0]["split"], sep="\t")["split"].tolist() == pd.read_csv(
        paths["split"], sep="\t")["split"].tolist()
    preds = np.stack([_predict(f, paths) for f in [model["model"]] + [m["model"] for m in members]])
    assert np.abs(preds[1] - preds[2]).max() > 1e-4
    out = {k: str(tmp_path / f"{k}.out") for k in ("predictions", "metrics", "unphenotyped")}
    steps.evaluate(dict(paths, model=model["model"], networks=[model["model"]] + [m["model"] for m in members]),
                   "cnn", 0.9,
                   out=out, log=LOG, ensemble={"members": 3, "over": "seeds"})
    table = pd.read_csv(out["predictions"], sep="\t")
    assert table["predicted"].to_numpy() == pytest.approx(preds.mean(axis=0), abs=1e-5)
    assert table["sd"].to_numpy() == pytest.approx(preds.std(axis=0, ddof=1), abs=1e-5)
    half = (table["upper"] - table["predicted"]).to_numpy()
    assert (table["predicted"] - table["lower"]).to_numpy() == pytest.approx(half, abs=1e-6)
    floor = 1e-3 * np.median(table.loc[table["split"] == "valid", "sd"])
    q = half / np.maximum(table["sd"].to_numpy(), floor)
    assert q == pytest.approx(np.full(len(q), q[0]), rel=1e-5)      # one quantile, scaled per sample
    metrics = json.loads(open(out["metrics"]).read())
    assert metrics["ensemble"] == {"members": 3, "over": "seeds"} and len(metrics["members"]) == 3
    single = preds[0][table["split"] == "test"]
    r2 = 1 - np.sum((table.loc[table.split == "test", "observed"] - single) ** 2) / np.sum(
        (table.loc[table.split == "test", "observed"] - table.loc[table.split == "test", "observed"].mean()) ** 2)
    assert metrics["members"][0]["test"]["r2"] == pytest.approx(r2, abs=1e-4)
    # a member list that does not add up is refused
    with pytest.raises(ValueError, match="3 members got 2"):
        steps.evaluate(dict(paths, model=model["model"], networks=[model["model"], members[0]["model"]]), "cnn", 0.9,
                       out=out, log=LOG, ensemble={"members": 3, "over": "seeds"})


def test_a_seed_ensemble_of_refit_members_scores_validation_by_their_held_out_fits(tmp_path):
    """Members that refit on training + validation are averaged on validation through their
    early-stopped fits (never in-sample), so the intervals are calibrated out of sample."""
    from seq2pheno import models, steps

    paths = write_fold(tmp_path / "fold")
    entry = dict(STEP_ENTRY, refit=True)
    plan = {"members": 2, "over": "seeds", "seed": 0, "entry": entry}
    model = {"model": str(tmp_path / "model.keras"), "history": str(tmp_path / "history.tsv")}
    steps.train(paths, {"name": "ens", **entry}, 0, out=model, log=LOG)
    files = [model["model"]] + [m["model"] for m in _members(tmp_path, paths, plan, [1])]
    out = {k: str(tmp_path / f"{k}.out") for k in ("predictions", "metrics", "unphenotyped")}
    steps.evaluate(dict(paths, model=model["model"], networks=files), "cnn", 0.9, out=out, log=LOG,
                   ensemble={"members": 2, "over": "seeds"})
    table = pd.read_csv(out["predictions"], sep="\t", dtype={"id": str}).set_index("id")
    held = [models.held_out_predictions(models.load_trained(f, "cnn")) for f in files]
    valid = table.index[table["split"] == "valid"]
    assert all(sorted(h.index) == sorted(valid) for h in held)
    want = (held[0].loc[valid] + held[1].loc[valid]).to_numpy() / 2
    assert table.loc[valid, "predicted"].to_numpy() == pytest.approx(want, abs=1e-6)
    ids = pd.read_csv(paths["split"], sep="\t", dtype={"id": str})["id"].tolist()
    in_sample = np.stack([_predict(f, paths) for f in files]).mean(axis=0)[[ids.index(i) for i in valid]]
    assert np.abs(in_sample - want).max() > 1e-3


def test_a_fold_ensemble_validates_each_pooled_sample_once_and_calibrates_out_of_fold(tmp_path):
    from seq2pheno import steps

    paths = write_fold(tmp_path / "fold")
    plan = {"members": 3, "over": "folds", "seed": 0, "entry": STEP_ENTRY}
    members = _members(tmp_path, paths, plan, [0, 1, 2])
    splits = pd.concat([pd.read_csv(m["split"], sep="\t").set_index("id")["split"].rename(i)
                        for i, m in enumerate(members)], axis=1)
    original = pd.read_csv(paths["split"], sep="\t").set_index("id")["split"]
    pool = original.isin(["train", "valid"])
    assert ((splits[pool] == "valid").sum(axis=1) == 1).all()         # each pooled sample: one member
    assert (splits[~pool].eq(original[~pool], axis=0)).all().all()    # the test rows stay test
    out = {k: str(tmp_path / f"{k}.out") for k in ("predictions", "metrics", "unphenotyped")}
    steps.evaluate(dict(paths, model="unused", networks=[m["model"] for m in members],
                        member_splits=[m["split"] for m in members]), "cnn", 0.9, out=out, log=LOG,
                   ensemble={"members": 3, "over": "folds"})
    table = pd.read_csv(out["predictions"], sep="\t").set_index("id")
    preds = np.stack([_predict(m["model"], paths) for m in members])
    ids = pd.read_csv(paths["split"], sep="\t")["id"]
    valid = ids[(original == "valid").to_numpy()]
    for i in valid[:10]:
        k = int(np.flatnonzero(splits.loc[i].to_numpy() == "valid")[0])
        assert table.loc[i, "predicted"] == pytest.approx(preds[k][ids.tolist().index(i)], abs=1e-5)
    test = table[table["split"] == "test"]
    assert test["predicted"].to_numpy() == pytest.approx(preds.mean(axis=0)[-30:], abs=1e-5)
    widths = (test["upper"] - test["lower"]).to_numpy()
    assert widths == pytest.approx(np.full(len(widths), widths[0]))   # unscaled (CV+)


def test_a_trial_ensemble_trains_the_best_trials(tmp_path):
    from seq2pheno import steps

    paths = write_fold(tmp_path / "fold")
    search_dir = tmp_path / "search"
    workers = []
    for w in range(1):
        o = str(search_dir / f"worker_{w}.tsv")
        search_dir.mkdir(parents=True, exist_ok=True)
        steps.search_worker(paths, "cnn_search", STEP_ENTRY, STEP_SEARCH, 0, w,
                            journal=str(search_dir / "journal.log"), out=o, log=LOG)
        workers.append(o)
    best = {"trials": str(search_dir / "trials.tsv"), "best": str(search_dir / "best.json")}
    steps.gather_search("cnn_search", STEP_ENTRY, STEP_SEARCH, workers, journal=str(search_dir / "journal.log"),
                        out=best, log=LOG, ranked=2)
    chosen = json.loads(open(best["best"]).read())
    trials = pd.read_csv(best["trials"], sep="\t").sort_values(["value", "trial"])
    assert [r["trial"] for r in chosen["ranked"]] == trials["trial"].head(2).tolist()
    assert chosen["ranked"][0]["entry"] == chosen["entry"]
    plan = {"members": 2, "over": "trials", "seed": 0}
    member = _members(tmp_path, paths, plan, [1], extra={"best": best["best"]})[0]
    import keras

    units = [la.units for la in keras.models.load_model(member["model"]).layers
             if isinstance(la, keras.layers.Dense)]
    assert units[0] == chosen["ranked"][1]["entry"]["dense"][0]["units"]
    with pytest.raises(Exception, match="3 best complete trials, but 2"):
        _members(tmp_path / "more", paths, dict(plan, members=3), [2], extra={"best": best["best"]})


def test_a_seed_member_of_a_model_with_candidates_trains_the_chosen_candidate(tmp_path):
    from seq2pheno import steps

    sel = tmp_path / "selection.tsv"
    pd.DataFrame({"candidate": ["wide", "narrow"], "validation_loss": [2.0, 1.0],
                  "chosen": [False, True]}).to_csv(sel, sep="\t", index=False)
    narrow = dict(STEP_ENTRY, dense=[{"units": 3}])
    plan = {"members": 2, "over": "seeds", "seed": 0,
            "candidates": {"wide": dict(STEP_ENTRY, dense=[{"units": 9}]), "narrow": narrow}}
    entry, seed = steps.member_entry(plan, 1, {"selection": str(sel)}, LOG)
    assert entry == narrow and seed == 1


def test_interpreting_an_ensemble_averages_the_members_maps(tmp_path):
    from interpret_memory_case import write_case

    from seq2pheno import backend, ism, steps
    from seq2pheno.models import build_cnn, resolve_spec

    backend.configure(1)
    import keras

    paths = write_case(tmp_path / "case", 24, 12)
    spec = resolve_spec("m", {"type": "cnn", "conv": [{"filters": 4, "kernel_size": 3}], "dense": [{"units": 4}]})
    files = []
    for k in range(3):
        keras.utils.set_random_seed(k)
        model = build_cnn(spec, (24, 4))
        files.append(str(tmp_path / f"m{k}.keras"))
        model.save(files[-1])
    names = ["ism", "ism_maps", "saliency", "meme", "filters", "influence", "interactions"]
    out = {k: str(tmp_path / "out" / f"{k}.out") for k in names}
    (tmp_path / "out").mkdir()
    settings = {"n_sequences": 12, "top_positions": 4, "seed": 0, "memory_mb": 2000}
    steps.interpret(dict(paths, model=files[0], networks=files), settings, out=out, log=LOG,
                    ensemble={"members": 3, "over": "seeds"})
    with np.load(out["ism_maps"]) as maps:
        x = maps["onehot"]
        naive = np.stack([ism.naive_ism(keras.models.load_model(f), x) for f in files])
        assert maps["deltas"] == pytest.approx(naive.mean(axis=0), abs=1e-4)
        per_member = np.abs(naive).sum(axis=(1, 3)) / (3.0 * len(x))
        assert maps["member_importance"] == pytest.approx(per_member, abs=1e-4)
    table = pd.read_csv(out["ism"], sep="\t").sort_values("position")
    assert table["importance_sd"].to_numpy() == pytest.approx(per_member.std(axis=0, ddof=1), abs=1e-4)
    assert table["member_agreement"].to_numpy() == pytest.approx(ensemble.member_agreement(per_member, 4))
    pairs = pd.read_csv(out["interactions"], sep="\t")
    assert "score_sd" in pairs and pairs["rank"].tolist() == list(range(1, len(pairs) + 1))
    assert not list((tmp_path / "out").glob(".ensemble*"))            # the scratch sum is removed
