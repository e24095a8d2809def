"""Hyperparameter search (seq2pheno.search): the space, suggestions, journal-file studies run
by one or several workers, the trials table, the best entry and pruning. No training: the
objectives are cheap functions of the sampled values."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from seq2pheno import search  # noqa: E402
from seq2pheno.models import SpecError, resolve_spec  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

SPACE = {
    "learning_rate": {"log": [1e-4, 1e-2]},
    "dense.0.units": {"choice": [16, 32, 64, 128]},
    "conv.0.kernel_size": {"int": [1, 15]},
    "dense.0.l1": {"log": [1e-6, 1e-2]},
}
BASE = {"preset": "default", "search": {"space": SPACE}}


def quadratic(entry, trial=None):
    """A cheap objective with its minimum at learning_rate 1e-3, 64 units, kernel 5."""
    spec = resolve_spec("cnn_search", entry)
    return ((math.log10(spec["learning_rate"]) + 3) ** 2 + (spec["dense"][0]["units"] - 64) ** 2 / 1e3
            + (spec["conv"][0]["kernel_size"] - 5) ** 2 / 50)


def params():
    return search.parse_space(SPACE, "cnn_search", BASE)


# ---- the space ------------------------------------------------------------------------------


def test_parse_space_reads_every_range_kind():
    ps = search.parse_space(dict(SPACE, **{"dense.0.dropout": {"float": [0.0, 0.5]},
                                           "preset": {"choice": ["default", "genotype_cnn"]}}),
                            "cnn_search", BASE)
    by = {p.path: p for p in ps}
    assert ps[0].path == "preset"                       # the preset is chosen first
    assert by["learning_rate"].kind == "log" and by["learning_rate"].low == 1e-4
    assert by["dense.0.units"].choices == (16, 32, 64, 128)
    assert by["conv.0.kernel_size"].kind == "int" and (by["conv.0.kernel_size"].low,
                                                       by["conv.0.kernel_size"].high) == (1, 15)
    assert by["dense.0.dropout"].kind == "float"


@pytest.mark.parametrize("space, words", [
    ({"learning_rate": {"log": [1e-2, 1e-4]}}, ["learning_rate", "low < high"]),
    ({"learning_rate": {"float": [0.1, 0.1]}}, ["learning_rate", "low < high"]),
    ({"dense.0.l1": {"log": [0, 1e-2]}}, ["dense.0.l1", "positive"]),
    ({"dense.0.l1": {"log": [-1e-3, 1e-2]}}, ["dense.0.l1", "positive"]),
    ({"dense.0.units": {"choice": []}}, ["dense.0.units", "non-empty"]),
    ({"dense.0.units": {"uniform": [1, 2]}}, ["dense.0.units", "unknown range kind"]),
    ({"dense.0.units": {"int": [1.5, 8]}}, ["dense.0.units", "integers"]),
    ({"dense.0.units": {"int": [1, 8], "log": [1, 2]}}, ["dense.0.units", "one-key"]),
    ({"dense.5.units": {"int": [1, 8]}}, ["dense.5.units", "no item '5'"]),
    ({"dense.0.width": {"int": [1, 8]}}, ["dense.0.width", "no key 'width'"]),
    ({"momentum": {"float": [0.1, 0.9]}}, ["momentum", "no key 'momentum'"]),
    ({"dense.0.dropout": {"float": [0.0, 1.5]}}, ["dense.0.dropout", "1.5", "not valid"]),
    ({"preset": {"choice": ["default", "nonesuch"]}}, ["preset", "nonesuch"]),
    # kernel 1 is fine for `default` but motif_cnn has two conv layers: conv.1 exists there only
    ({"preset": {"choice": ["motif_cnn", "default"]}, "conv.1.kernel_size": {"int": [1, 9]}},
     ["conv.1.kernel_size", "no item '1'", "'default'"]),
])
def test_bad_ranges_are_one_line_naming_the_key(space, words):
    with pytest.raises(SpecError) as err:
        search.parse_space(space, "cnn_search", BASE)
    message = str(err.value)
    assert "\n" not in message
    assert "'cnn_search'" in message and "search.space." in message
    for w in words:
        assert w in message, message


def test_search_schema_defaults_and_errors():
    full, ps = search.parse_search({"space": SPACE}, "cnn_search", BASE)
    assert full["trials"] == 20 and full["workers"] == 1 and full["pruner"] == "median"
    assert full["metric"] == "val_loss" and len(ps) == 4
    for bad, key in [({"space": SPACE, "trials": 0}, "trials"),
                     ({"space": SPACE, "workers": 0}, "workers"),
                     ({"space": SPACE, "pruner": "hyperband"}, "pruner"),
                     ({"space": {"learning_rate": {"log": [1e-4, 1e-2], "int": [1, 2]}}}, "space"),
                     ({"trials": 3}, "space")]:
        with pytest.raises(SpecError, match=key) as err:
            search.parse_search(bad, "cnn_search", BASE)
        assert "\n" not in str(err.value)


def test_suggest_sets_dotted_paths_and_resolves():
    ps = search.parse_space(dict(SPACE, preset={"choice": ["default", "genotype_cnn"]}),
                            "cnn_search", BASE)
    fixed = optuna.trial.FixedTrial({"preset": "genotype_cnn", "learning_rate": 2e-3,
                                     "dense.0.units": 128, "conv.0.kernel_size": 7,
                                     "dense.0.l1": 1e-5})
    entry = search.suggest(fixed, ps, BASE, "cnn_search")
    assert "search" not in entry and entry["preset"] == "genotype_cnn"
    spec = resolve_spec("cnn_search", entry)
    assert spec["learning_rate"] == 2e-3
    assert spec["dense"][0]["units"] == 128 and spec["dense"][0]["l1"] == 1e-5
    assert spec["conv"][0]["kernel_size"] == 7
    # the rest comes from the chosen preset, not from the base's `default`
    genotype = resolve_spec("genotype_cnn")
    assert spec["dense"][1] == genotype["dense"][1] and spec["batch_size"] == genotype["batch_size"]
    assert spec["dense"][0]["dropout"] == genotype["dense"][0]["dropout"]
    assert BASE == {"preset": "default", "search": {"space": SPACE}}     # not modified


def test_choices_of_whole_layer_lists():
    layers = [[{"units": 8}], [{"units": 32}, {"units": 8}]]
    ps = search.parse_space({"dense": {"choice": layers}}, "cnn_search", BASE)
    assert ps[0].encoded
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(8):
        trial = study.ask()
        entry = search.suggest(trial, ps, BASE, "cnn_search")
        assert entry["dense"] in layers
        seen.add(len(entry["dense"]))
        study.tell(trial, 0.0)
    assert seen == {1, 2}
    assert json.loads(search.trials_table(study)["params"][0])["dense"] in layers


# ---- studies --------------------------------------------------------------------------------


def run(tmp_path, name, n, seed, **kw):
    path = tmp_path / f"{name}.journal"
    ran = search.run_worker(path, name, n, quadratic, seed, params=params(), base_entry=BASE,
                            base_name="cnn_search", **kw)
    return path, ran


def test_one_worker_with_a_fixed_seed_repeats_exactly(tmp_path):
    tables = []
    for name in ("a", "b"):
        path, ran = run(tmp_path, name, 14, seed=7)        # past TPE's 10 random start-up trials
        assert ran == list(range(14))
        tables.append(search.trials_table(search.load_study(path, name)))
    a, b = tables
    assert list(a["params"]) == list(b["params"])
    assert list(a["value"]) == list(b["value"])
    _, _ = run(tmp_path, "c", 14, seed=8)
    c = search.trials_table(search.load_study(tmp_path / "c.journal", "c"))
    assert list(c["params"]) != list(a["params"])


def test_trials_table_columns_and_best_entry(tmp_path):
    path, _ = run(tmp_path, "s", 12, seed=0)
    study = search.load_study(path, "s")
    table = search.trials_table(study)
    assert list(table.columns) == ["trial", "params", "value", "state", "seconds", "worker"]
    assert list(table["trial"]) == list(range(12)) and set(table["state"]) == {"COMPLETE"}
    assert (table["seconds"] >= 0).all() and set(table["worker"]) == {0}
    assert set(json.loads(table["params"][0])) == set(SPACE)
    best = search.best_entry(study, params(), BASE, "cnn_search")
    assert quadratic(best) == pytest.approx(table["value"].min())
    out = tmp_path / "trials.tsv"
    search.write_trials(study, out)
    assert out.read_text().splitlines()[0].split("\t") == search.TRIALS_COLUMNS


def test_best_is_chosen_by_validation_loss_only(tmp_path):
    """Not by trial order, duration or a pruned trial's (lower) partial value."""
    import time

    values = {0: 3.0, 1: 1.0, 2: 2.0}

    def objective(entry, trial):
        if trial.number == 3:
            trial.report(0.01, 0)
            raise optuna.TrialPruned()
        time.sleep(0.05 if trial.number == 1 else 0.0)     # the best is also the slowest
        return values[trial.number]

    path = tmp_path / "v.journal"
    search.run_worker(path, "v", 4, objective, 0, params=params(), base_entry=BASE,
                      base_name="cnn_search", pruner="none")
    study = search.load_study(path, "v")
    table = search.trials_table(study)
    assert list(table["state"]) == ["COMPLETE"] * 3 + ["PRUNED"]
    assert search.best_trial(study).number == 1
    best = search.best_entry(study, params(), BASE, "cnn_search")
    sampled = json.loads(table["params"][1])
    spec = resolve_spec("cnn_search", best)
    assert spec["learning_rate"] == sampled["learning_rate"]
    assert spec["dense"][0]["units"] == sampled["dense.0.units"]


def test_median_pruner_prunes_a_clearly_bad_trial(tmp_path):
    def objective(entry, trial):
        bad = trial.number == 4
        for epoch in range(10):
            value = 100.0 if bad else 1.0 / (epoch + 1) - 0.01 * trial.number  # each better
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    path = tmp_path / "p.journal"
    search.run_worker(path, "p", 6, objective, 0, params=params(), base_entry=BASE,
                      base_name="cnn_search",
                      pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    table = search.trials_table(search.load_study(path, "p"))
    assert table.loc[table["trial"] == 4, "state"].item() == "PRUNED"
    assert (table.loc[table["trial"] != 4, "state"] == "COMPLETE").all()
    assert isinstance(search.make_pruner("median").base, optuna.pruners.MedianPruner)
    assert isinstance(search.make_pruner("halving").base, optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(search.make_pruner("none"), optuna.pruners.NopPruner)


def test_pruning_compares_a_trial_with_trials_of_its_own_preset(tmp_path):
    """Two presets learning at different speeds: `default` starts ten times worse and ends ten
    times better than `motif_cnn`. A median over every trial prunes default trials at their
    first epochs; the workflow's pruner compares each with its own preset's trials, so they run
    to the end and the best trial is a default one."""
    space = {"preset": {"choice": ["default", "motif_cnn"]}, "learning_rate": {"log": [1e-4, 1e-2]}}
    ps = search.parse_space(space, "cnn_search", BASE)

    def objective(entry, trial):
        slow = entry["preset"] == "default"
        for epoch in range(8):
            value = (10.0 / (epoch + 1) ** 2 if slow else 1.0) + 1e-3 * trial.number
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    def states(pruner, name):
        path = tmp_path / f"{name}.journal"
        search.run_worker(path, name, 14, objective, 0, params=ps, base_entry=BASE,
                          base_name="cnn_search", pruner=pruner)
        table = search.trials_table(search.load_study(path, name))
        table["preset"] = [json.loads(p)["preset"] for p in table["params"]]
        return table

    plain = states(optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1), "plain")
    assert (plain.loc[plain["preset"] == "default", "state"] == "PRUNED").any()
    ours = states(search.same_preset_pruner(optuna.pruners.MedianPruner(n_startup_trials=2,
                                                                        n_warmup_steps=1)), "ours")
    assert set(ours["preset"]) == {"default", "motif_cnn"}
    slow = ours[ours["preset"] == "default"]
    assert (slow["state"] == "COMPLETE").sum() >= 2
    best = ours[ours["state"] == "COMPLETE"].sort_values("value").iloc[0]
    assert best["preset"] == "default"
    assert isinstance(search.make_pruner("median").base, optuna.pruners.MedianPruner)


def test_a_search_first_tries_each_preset_as_it_stands(tmp_path):
    """The first trials are the presets the space chooses among with their own settings where
    the ranges hold them (default's dropout 0 lies outside 0.1-0.4: sampled), so a search whose
    optimum is a preset as it stands finds it exactly."""
    space = {"preset": {"choice": ["default", "motif_cnn"]}, "learning_rate": {"log": [1e-4, 1e-2]},
             "dense.0.units": {"choice": [16, 32, 64, 128]}, "dense.0.dropout": {"float": [0.1, 0.4]}}
    ps = search.parse_space(space, "cnn_search", BASE)
    d, m = resolve_spec("d", {"preset": "default"}), resolve_spec("m", {"preset": "motif_cnn"})
    points = search.starting_points(ps, BASE, "cnn_search")
    assert points == [
        {"preset": "default", "learning_rate": d["learning_rate"], "dense.0.units": d["dense"][0]["units"]},
        {"preset": "motif_cnn", "learning_rate": m["learning_rate"], "dense.0.units": m["dense"][0]["units"],
         "dense.0.dropout": m["dense"][0]["dropout"]}]
    assert search.starting_points(params(), BASE, "cnn_search") == [
        {"learning_rate": d["learning_rate"], "dense.0.units": d["dense"][0]["units"],
         "conv.0.kernel_size": d["conv"][0]["kernel_size"], "dense.0.l1": d["dense"][0]["l1"]}]

    def objective(entry, trial):
        spec = resolve_spec("cnn_search", entry)
        return ((entry["preset"] != "default") + abs(math.log10(spec["learning_rate"] / d["learning_rate"]))
                + abs(spec["dense"][0]["units"] - 64) / 100)

    path = tmp_path / "s.journal"
    search.run_worker(path, "s", 5, objective, 0, params=ps, base_entry=BASE, base_name="cnn_search",
                      pruner="none")
    table = search.trials_table(search.load_study(path, "s"))
    first = [json.loads(p) for p in table.sort_values("trial")["params"].iloc[:2]]
    assert [{k: v for k, v in f.items() if k != "dense.0.dropout"} for f in first] == [
        {k: v for k, v in p.items() if k != "dense.0.dropout"} for p in points]
    assert table["value"].min() == 0.0 and len(table) == 5


def test_a_worker_run_again_resumes(tmp_path):
    path, ran = run(tmp_path, "r", 3, seed=0)
    assert ran == [0, 1, 2]
    _, again = run(tmp_path, "r", 3, seed=0)
    assert again == []
    _, more = run(tmp_path, "r", 5, seed=0)
    assert more == [3, 4]
    assert len(search.trials_table(search.load_study(path, "r"))) == 5


WORKER = textwrap.dedent("""
    import math, sys, time
    from seq2pheno import search
    from seq2pheno.models import resolve_spec
    path, worker, workers, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    base = {"preset": "default"}
    space = {"learning_rate": {"log": [1e-4, 1e-2]}, "dense.0.units": {"choice": [16, 32, 64]}}
    params = search.parse_space(space, "cnn_search", base)
    def objective(entry, trial):
        time.sleep(0.02)
        return (math.log10(resolve_spec("cnn_search", entry)["learning_rate"]) + 3) ** 2
    search.run_worker(path, "shared", search.worker_trials(total, workers, worker), objective, 0,
                      params=params, base_entry=base, base_name="cnn_search", worker=worker)
""")


def test_two_processes_share_one_journal_file(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    journal = tmp_path / "search" / "study.journal"
    total, workers = 9, 2
    procs = [subprocess.Popen([sys.executable, str(script), str(journal), str(w), str(workers),
                               str(total)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    table = search.trials_table(search.load_study(journal, "shared"))
    assert len(table) == total and sorted(table["trial"]) == list(range(total))
    assert set(table["state"]) == {"COMPLETE"}
    assert table["worker"].value_counts().to_dict() == {0: 5, 1: 4}


def test_worker_seeds_and_shares():
    assert search.worker_seed(5, 0) == 5
    assert len({search.worker_seed(5, w) for w in range(4)}) == 4
    assert [search.worker_trials(10, 4, w) for w in range(4)] == [3, 3, 2, 2]
    assert sum(search.worker_trials(7, 3, w) for w in range(3)) == 7


def test_load_study_of_a_missing_journal(tmp_path):
    from seq2pheno.errors import InputError

    with pytest.raises(InputError, match="no search journal"):
        search.load_study(tmp_path / "none.journal", "x")
    run(tmp_path, "y", 1, seed=0)
    with pytest.raises(InputError, match="no study 'x'"):
        search.load_study(tmp_path / "y.journal", "x")


def test_keras_pruning_callback_reports_and_raises():
    pytest.importorskip("keras")

    class Trial:
        def __init__(self):
            self.reported = []

        def report(self, value, step):
            self.reported.append((step, value))

        def should_prune(self):
            return len(self.reported) >= 3

    trial = Trial()
    cb = search.PruningCallback(trial)
    cb.on_epoch_end(0, {"val_loss": 2.0})
    cb.on_epoch_end(1, {"loss": 1.0})                    # no val_loss: nothing reported
    cb.on_epoch_end(2, {"val_loss": 1.5})
    with pytest.raises(optuna.TrialPruned):
        cb.on_epoch_end(3, {"val_loss": 1.4})
    assert trial.reported == [(0, 2.0), (2, 1.5), (3, 1.4)]


# ---- the workflow steps (seq2pheno.steps: search_worker, gather_search, train_searched) --------

STEP_ENTRY = {"type": "cnn", "conv": [{"filters": 4, "kernel_size": 3}], "dense": [{"units": 4}],
              "epochs": 2, "batch_size": 32}
STEP_SEARCH = {"trials": 3, "workers": 1, "seed": 0, "pruner": "none",
               "space": {"learning_rate": {"log": [1e-3, 1e-2]}, "dense.0.units": {"choice": [2, 4, 8]}}}


def write_fold(d: Path, test_shift: float = 0.0, test_seed: int = 0) -> dict:
    """A cohort of 120 sequences of 20 bp (60 train, 30 valid, 30 test) as the steps read it;
    ``test_shift`` / ``test_seed`` change only the test rows' phenotypes and sequences."""
    import numpy as np
    import pandas as pd

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(120, 20))
    y = (codes[:, 3] == 1) * 2.0 + (codes[:, 11] == 2) * 1.0 + rng.normal(0, 0.3, 120)
    split = np.array(["train"] * 60 + ["valid"] * 30 + ["test"] * 30)
    test = split == "test"
    codes[test] = np.random.default_rng(100 + test_seed).integers(0, 4, size=(test.sum(), 20))
    y[test] += test_shift
    onehot = np.eye(4, dtype=np.float32)[codes]
    ids = [f"s{i}" for i in range(120)]
    np.save(d / "onehot.npy", onehot)
    pd.DataFrame({"id": ids}).to_csv(d / "samples.tsv", sep="\t", index=False)
    pd.DataFrame({"id": ids, "phenotype": y}).to_csv(d / "kept.tsv", sep="\t", index=False)
    pd.DataFrame({"id": ids, "split": split, "weight": 1.0, "group": np.arange(120)}).to_csv(
        d / "split.tsv", sep="\t", index=False)
    return {k: str(d / f) for k, f in [("onehot", "onehot.npy"), ("samples", "samples.tsv"),
                                       ("kept", "kept.tsv"), ("split", "split.tsv")]}


LOG = __import__("logging").getLogger("test_search")


def run_search(d: Path, paths: dict, search_settings: dict = STEP_SEARCH):
    import pandas as pd

    from seq2pheno import steps

    workers = []
    for w in range(search_settings["workers"]):
        out = str(d / f"worker_{w}.tsv")
        steps.search_worker(paths, "cnn_search", STEP_ENTRY, search_settings, 0, w,
                            journal=str(d / "journal.log"), out=out, log=LOG)
        workers.append(out)
    out = {"trials": str(d / "trials.tsv"), "best": str(d / "best.json")}
    chosen = steps.gather_search("cnn_search", STEP_ENTRY, search_settings, workers,
                                 journal=str(d / "journal.log"), out=out, log=LOG)
    return pd.read_csv(out["trials"], sep="\t"), json.loads(Path(out["best"]).read_text()), chosen


def test_search_trials_never_read_the_test_rows(tmp_path):
    """Two cohorts that differ only in their test samples (sequences and phenotypes) give the
    same trials, the same values and the same choice: no trial reads a test row."""
    a = run_search(tmp_path / "a", write_fold(tmp_path / "a"))
    b = run_search(tmp_path / "b", write_fold(tmp_path / "b", test_shift=1000.0, test_seed=7))
    ta, tb = a[0], b[0]
    assert len(ta) == 3 and (ta["state"] == "COMPLETE").all()
    assert ta["params"].tolist() == tb["params"].tolist()
    assert ta["value"].tolist() == pytest.approx(tb["value"].tolist(), rel=1e-6)
    assert a[2] == b[2]


def test_gather_chooses_the_lowest_validation_loss_and_the_model_is_trained_with_it(tmp_path):
    from seq2pheno import steps

    paths = write_fold(tmp_path)
    two = dict(STEP_SEARCH, workers=2)
    trials, best, chosen = run_search(tmp_path, paths, two)
    assert sorted(trials["worker"].tolist()) == [0, 0, 1]          # 3 trials shared by 2 workers
    done = trials[trials["state"] == "COMPLETE"]
    assert best["trial"] == int(done.loc[done["value"].idxmin(), "trial"])
    assert best["value"] == pytest.approx(done["value"].min())
    assert chosen["dense"][0]["units"] == best["params"]["dense.0.units"]
    assert chosen["learning_rate"] == pytest.approx(best["params"]["learning_rate"])
    assert "search" not in chosen and best["entry"] == json.loads(json.dumps(chosen))
    # a worker run again finds its trials done and runs none
    assert steps.search_worker(paths, "cnn_search", STEP_ENTRY, two, 0, 0, journal=str(tmp_path / "journal.log"),
                               out=str(tmp_path / "again.tsv"), log=LOG) == []
    # the searched model is trained with the chosen entry
    out = {"model": str(tmp_path / "model.keras"), "history": str(tmp_path / "history.tsv")}
    steps.train_searched(dict(paths, best=str(tmp_path / "best.json")), "cnn_search", 0, out=out, log=LOG)
    import keras

    model = keras.models.load_model(out["model"])
    units = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert units[0] == best["params"]["dense.0.units"]


def test_a_changed_cohort_starts_a_new_study(tmp_path):
    from seq2pheno import steps

    paths = write_fold(tmp_path / "a")
    name = steps.search_study_name("m", STEP_ENTRY, STEP_SEARCH, 0, paths)
    assert name == steps.search_study_name("m", STEP_ENTRY, STEP_SEARCH, 0, paths)
    assert name != steps.search_study_name("m", STEP_ENTRY, dict(STEP_SEARCH, trials=4), 0, paths)
    assert name != steps.search_study_name("m", STEP_ENTRY, STEP_SEARCH, 1, paths)
    changed = write_fold(tmp_path / "a", test_shift=1.0)
    assert name != steps.search_study_name("m", STEP_ENTRY, STEP_SEARCH, 0, changed)


def test_trials_of_a_refit_entry_train_once(tmp_path, monkeypatch):
    """A trial is judged on validation only, so an entry's ``refit`` (a second training on
    training + validation) is switched off inside trials; the entry keeps it."""
    from seq2pheno import models

    cnn = models.KINDS["cnn"]
    seen = []
    original = cnn.fit

    def recording_fit(train, valid, spec, **kwargs):
        seen.append(spec.get("refit"))
        return original(train, valid, spec, **kwargs)

    monkeypatch.setattr(cnn, "fit", recording_fit)
    monkeypatch.setitem(globals(), "STEP_ENTRY", dict(STEP_ENTRY, refit=True))
    trials, best, _ = run_search(tmp_path, write_fold(tmp_path))
    assert len(trials) == 3 and seen == [False, False, False]
    assert best["entry"].get("refit") is True
