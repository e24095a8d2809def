"""The workflow's steps as functions of file paths: read inputs, call the library, write outputs.

Each function here is what one Snakemake rule runs; scripts/ only open the log and call it.
Outputs are written to a temporary name and renamed, so a failed step leaves nothing that
looks complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path, json_default, read_json, write_json, write_text, write_tsv
from .dataset import load_design, read_tsv
from .errors import InputError
from .models.base import SampleMeanRows  # noqa: F401  (re-exported)
from .tensorfile import open_tensor


# ---- curation and split -----------------------------------------------------------------


def curate(samples_path, onehot_path, settings: dict, *, out: dict, log) -> dict:
    """Duplicates -> out['duplicates'|'removed'|'kept'|'summary']; returns the summary.

    settings: the config's ``curation`` mapping (``duplicates``: remove|group,
    ``near_duplicate_fraction``). The tensor is read in row blocks by positioned reads
    (:func:`seq2pheno.tensorfile.open_tensor`), so memory grows by tens of bytes per sample,
    not with the tensor's size.
    """
    from . import curate as cur

    chunk = 1 << 14     # samples read, and table rows written, at a time

    # ids as UTF-8 bytes and phenotypes as float64: no per-sample Python objects are kept
    ids_parts, y_parts = [], []
    try:
        for part in pd.read_csv(samples_path, sep="\t", dtype={"id": str}, usecols=["id", "phenotype"],
                                keep_default_na=True, chunksize=chunk):
            ids_parts.append(np.char.encode(part["id"].fillna("").to_numpy(dtype=str), "utf-8"))
            y_parts.append(part["phenotype"].to_numpy(dtype=np.float64))
    except ValueError as err:
        raise InputError(samples_path, f"expected columns id and phenotype ({err})") from None
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype="S1")
    y = np.concatenate(y_parts) if y_parts else np.zeros(0)
    del ids_parts, y_parts
    mode, fraction = settings["duplicates"], float(settings["near_duplicate_fraction"])
    with open_tensor(onehot_path) as x:
        if x.ndim != 3 or x.shape[2] != 4 or x.shape[0] != len(ids):
            raise InputError(onehot_path, f"expected a {len(ids)} x L x 4 tensor, got shape {x.shape}")
        length = int(x.shape[1])
        exact_groups = cur.duplicate_groups(x, 0.0, log=log)
        if fraction > 0:
            groups = cur.duplicate_groups(x, fraction, log=log, exact=exact_groups)
            dist = cur.group_distances(x, groups)
        else:
            groups, dist = exact_groups, None
    replicates = cur.replicate_summary(y, exact_groups)
    ceiling = replicates["ceiling"]
    del exact_groups
    res = cur.resolve(y, groups, mode=mode, distances=dist)
    n_kept_phenotyped = int(np.count_nonzero(~np.isnan(res.kept_phenotype)))
    if n_kept_phenotyped == 0:
        raise InputError(samples_path, "no phenotyped sample is left after curation")

    size = np.bincount(groups)
    in_dup = np.flatnonzero(size[groups] > 1)
    first = np.unique(groups, return_index=True)[1]      # labels are 0..G-1

    def duplicates(start, stop):
        rows = in_dup[start:stop]
        g = groups[rows]
        return pd.DataFrame({
            "id": cur.as_text(ids[rows]),
            "group": g,
            "group_size": size[g],
            "representative": cur.as_text(ids[first[g]]),
            "mismatches": dist[rows] if dist is not None else np.zeros(len(rows), np.int64),
            "phenotype": y[rows],
        })

    def write_chunks(n_rows, table, path):
        """The TSV of write_tsv, built and written ``chunk`` rows at a time."""
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            for start in range(0, max(n_rows, 1), chunk):
                table(start, min(n_rows, start + chunk)).to_csv(fh, sep="\t", index=False, na_rep="",
                                                                header=start == 0)

    summary = {
        "n_input": int(len(ids)),
        "length": length,
        "duplicates_mode": mode,
        "near_duplicate_fraction": fraction,
        "n_duplicate_groups": int((size > 1).sum()),
        "n_in_duplicate_groups": int(len(in_dup)),
        "n_kept": int(len(res.kept)),
        "n_kept_phenotyped": n_kept_phenotyped,
        "removed_by_reason": res.removed_by_reason(),
        "noise_ceiling": ceiling,
        "replicates": replicates,
    }
    write_chunks(len(in_dup), duplicates, out["duplicates"])
    write_chunks(len(res.removed), lambda s, e: res.removed_table(ids, s, e), out["removed"])
    write_json(summary, out["summary"])
    write_chunks(len(res.kept), lambda s, e: res.kept_table(ids, s, e), out["kept"])
    log.info("kept %d of %d samples; removed %s; %d duplicate groups; replicate noise ceiling %s",
             summary["n_kept"], summary["n_input"], summary["removed_by_reason"] or "none",
             summary["n_duplicate_groups"], "n/a" if ceiling is None else f"{ceiling:.4f}")
    return summary


def split(kept_path, settings: dict, *, out: dict, log) -> None:
    """Stratified group-aware split -> out['split'] (id, split, group, weight), out['distribution']."""
    from . import split as spl

    kept = read_tsv(kept_path)
    y = kept["phenotype"].to_numpy(dtype=float)
    groups = kept["group"].to_numpy()
    fractions = (settings["train"], settings["valid"], settings["test"])
    if abs(sum(fractions) - 1) > 1e-6:
        raise InputError("config", f"split: train + valid + test must be 1, got {sum(fractions):g}")
    splits = spl.assign_splits(y, groups, fractions=fractions, n_bins=settings["bins"], seed=settings["seed"])
    if settings["reweight"]:
        weights = spl.rare_value_weights(y, splits, n_bins=settings["reweight_bins"], cap=settings["reweight_cap"])
    else:
        weights = np.ones(len(kept))
    table = spl.split_table(kept["id"].to_numpy(), splits, groups, weights)
    distribution = spl.split_distribution(y, splits)
    write_tsv(table, out["split"])
    write_json(distribution, out["distribution"])
    log.info("split sizes: %s", ", ".join(f"{k} {v}" for k, v in distribution["n"].items()))
    for pair in distribution["pairs"]:
        log.info("KS %s vs %s: D = %.3f, p = %.3g", pair["a"], pair["b"], pair["ks_statistic"], pair["p_value"])


# ---- models -----------------------------------------------------------------------------


def _design_and_tensor(paths: dict):
    """The design (rows per sample from the tensor's shape) and the tensor, read in row blocks."""
    onehot = open_tensor(paths["onehot"])
    design = load_design(paths["samples"], paths["kept"], paths["split"],
                         n_tensor_rows=onehot.shape[0], tensor_path=paths["onehot"])
    return design, onehot


def _rows(design, onehot, positions):
    """The samples at ``positions`` of ``design`` as :class:`seq2pheno.models.Rows`."""
    from .models import Rows

    positions = np.asarray(positions, dtype=np.int64)
    return Rows(onehot, design.tensor_rows(positions), y=design.phenotype[positions],
                weights=design.weight[positions], k=design.rows_per_sample, ids=design.ids[positions])


def _log_haplotypes(design, log) -> None:
    if design.rows_per_sample > 1:
        log.info("haplotype tensor: %d rows per sample (each sample's phenotype and weight on every "
                 "row; its prediction is the mean of its rows)", design.rows_per_sample)


def train(paths: dict, spec: dict, seed: int, *, out: dict, log, valid_fold: tuple | None = None) -> None:
    """Fit one model of any kind on the training split -> out['model'] (the kind's artefact),
    out['history'].

    paths: ``onehot``, ``samples``, ``kept``, ``split`` (the fold's split.tsv). The validation
    split is for early stopping or tuning; the test split is never read. ``valid_fold``
    ``(k, folds, fold_seed)``: the training and validation samples are pooled and dealt into
    ``folds`` group-aware folds (:func:`seq2pheno.ensemble.fold_members`); fold ``k`` becomes the
    validation split and the rest the training split (an ``ensemble: {over: folds}`` member;
    with out['split'], the split trained on is written there: id, split).
    """
    from . import models

    spec = dict(spec)
    name = spec.pop("name")
    kind = models.kind(spec, name)
    spec = models.resolve_spec(name, spec)
    design, onehot = _design_and_tensor(paths)
    _log_haplotypes(design, log)
    if valid_fold is not None:
        design.split = member_split(design, *valid_fold)
    if "split" in out:                  # an ensemble member records the split it trained on
        write_tsv(pd.DataFrame({"id": design.ids, "split": design.split}), out["split"])
    tr, va = design.subset("train"), design.subset("valid")
    log.info("model %s (%s): %d training and %d validation samples, tensor %s", name, kind.KIND, len(tr),
             len(va), "x".join(map(str, onehot.shape)))
    # kinds whose fit takes a backup_dir (the CNNs) keep their training state beside the model
    # (not a Snakemake output, so not deleted with an incomplete job's outputs): a job killed
    # by a time limit or preemption resumes after its last completed epoch when rerun
    import inspect

    backup = {}
    if "backup_dir" in inspect.signature(kind.fit).parameters:
        backup["backup_dir"] = Path(out["model"]).parent / ".backup"
    model, history = kind.fit(_rows(design, onehot, tr), _rows(design, onehot, va), spec, seed=seed, log=log,
                              **backup)
    kind.save(model, out["model"])
    write_tsv(history, out["history"])
    if backup:
        from .train import remove_backup

        remove_backup(backup["backup_dir"])


# ---- ensembles (seq2pheno.ensemble) ---------------------------------------------------------


def member_split(design, k: int, folds: int, seed: int) -> np.ndarray:
    """(n,) split of ``over: folds`` member ``k``: the design's training and validation samples
    pooled, fold ``k`` of ``folds`` (group-aware, stratified) validation and the rest training;
    test and unphenotyped samples as they were."""
    from .ensemble import fold_members

    pool = np.flatnonzero(np.isin(design.split, ("train", "valid")))
    member = fold_members(design.group[pool], folds, seed, phenotype=design.phenotype[pool])
    split = design.split.astype("<U12")          # a copy wide enough for every split name
    split[pool] = np.where(member == int(k), "valid", "train")
    return split


def member_entry(plan: dict, member: int, paths: dict, log) -> tuple[dict, int]:
    """(entry, seed) of ensemble member ``member`` (0-based) of ``plan`` (the rule's params:
    ``over``, ``members``, ``seed``, and ``entry``, or ``candidates`` with paths['selection'], or
    a search with paths['best'])."""
    from .ensemble import member_seed

    over, seed = plan["over"], int(plan["seed"])
    if "best" in paths:
        best = read_json(paths["best"])
        if over == "trials":
            ranked = best.get("ranked") or []
            if member >= len(ranked):
                raise InputError(paths["best"], f"ensemble member {member + 1} needs the search's "
                                 f"{member + 1} best complete trials, but {len(ranked)} completed: "
                                 "run more trials or use fewer members")
            log.info("member %d: search trial %d (validation loss %.5f)", member, ranked[member]["trial"],
                     ranked[member]["value"])
            return ranked[member]["entry"], seed
        entry = best["entry"]
    elif "selection" in paths:
        table = read_tsv(paths["selection"])
        chosen = str(table.loc[table["chosen"].astype(str).str.lower() == "true", "candidate"].iloc[0])
        log.info("member %d: candidate %s (chosen on this fold by validation loss)", member, chosen)
        entry = plan["candidates"][chosen]
    else:
        entry = plan["entry"]
    return entry, (member_seed(seed, member) if over == "seeds" else seed)


def train_member(paths: dict, name: str, plan: dict, member: int, *, out: dict, log) -> None:
    """Train member ``member`` of model ``name``'s ensemble (:mod:`seq2pheno.ensemble`) on the
    fold -> out['model'], out['history'] (and out['split'] for ``over: folds``)."""
    entry, seed = member_entry(plan, int(member), paths, log)
    log.info("ensemble of %d over %s: member %d, seed %d", plan["members"], plan["over"], member, seed)
    fold = (int(member), int(plan["members"]), int(plan["seed"])) if plan["over"] == "folds" else None
    train(paths, {"name": name, **entry}, seed, out=out, log=log, valid_fold=fold)


# ---- hyperparameter search (seq2pheno.search) -----------------------------------------------


def search_study_name(name: str, entry: dict, search_settings: dict, seed: int, paths: dict) -> str:
    """The study of a search in its journal: ``{name}-{key}``, where the key hashes the entry,
    the search settings, the training seed and the fold's data (split, kept and samples tables;
    the tensor's size and modification time). Any change starts a new study in the same journal;
    a rerun with nothing changed joins (and resumes) the old one."""
    import hashlib

    h = hashlib.sha256(json.dumps({"entry": entry, "search": search_settings, "seed": int(seed)},
                                  sort_keys=True, default=str).encode())
    for key in ("split", "kept", "samples"):
        h.update(Path(paths[key]).read_bytes())
    st = Path(paths["onehot"]).stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{name}-{h.hexdigest()[:12]}"


def search_worker(paths: dict, name: str, entry: dict, search_settings: dict, seed: int, worker: int, *,
                  journal, out, log) -> list[int]:
    """Run worker ``worker``'s share of the trials of model ``name``'s search -> ``out`` (TSV: the
    trials this worker ran, with the study's name).

    Each trial trains the entry's spec with the sampled values on the fold's training split and
    early-stops on its validation split (the test split is never read: only those rows are
    given to the fit); its value is the best epoch's validation loss. ``journal``: the study's
    Optuna journal file, shared by the workers (:func:`seq2pheno.search.run_worker`)."""
    import time

    import keras

    from . import models, search

    full, params = search.parse_search(search_settings, name, entry)
    design, onehot = _design_and_tensor(paths)
    tr, va = design.subset("train"), design.subset("valid")
    train_rows, valid_rows = _rows(design, onehot, tr), _rows(design, onehot, va)
    study_name = search_study_name(name, entry, full, seed, paths)
    n = search.worker_trials(full["trials"], full["workers"], worker)
    log.info("search %s, worker %d of %d: %d of %d trials on %d training and %d validation samples "
             "(study %s in %s)", name, worker, full["workers"], n, full["trials"], len(tr), len(va),
             study_name, journal)

    def objective(trial_entry: dict, trial) -> float:
        spec = models.resolve_spec(name, trial_entry)
        kind = models.kind(spec, name)
        if spec.get("refit"):            # a trial is judged on validation: the refit would be wasted
            spec = dict(spec, refit=False)
        keras.backend.clear_session()
        start = time.perf_counter()
        log.info("trial %d: %s", trial.number, json.dumps(trial.params, default=str))
        try:
            _, history = kind.fit(train_rows, valid_rows, spec, seed=seed, log=None,
                                  callbacks=[search.PruningCallback(trial, full["metric"])])
        except Exception as err:            # optuna.TrialPruned and failures are logged, then raised
            log.info("trial %d stopped after %.1f s: %s: %s", trial.number, time.perf_counter() - start,
                     type(err).__name__, err)
            raise
        if full["metric"] not in history:
            raise ValueError(f"search metric {full['metric']!r} is not a column of the training "
                             f"history (columns: {list(history.columns)})")
        value = float(pd.to_numeric(history[full["metric"]], errors="coerce").min())
        log.info("trial %d: %s %.5f after %d epochs, %.1f s", trial.number, full["metric"], value,
                 len(history), time.perf_counter() - start)
        return value

    ran = search.run_worker(journal, study_name, n, objective, full["seed"], params=params,
                            base_entry=entry, base_name=name, pruner=full["pruner"], worker=worker,
                            catch=(ValueError,))           # SpecError is a ValueError
    table = search.trials_table(search.load_study(journal, study_name))
    table = table[table["worker"] == worker].assign(study=study_name)
    write_tsv(table, out)
    log.info("worker %d ran %d trials now (%d of its %d done in all)", worker, len(ran), len(table), n)
    return ran


def gather_search(name: str, entry: dict, search_settings: dict, worker_paths: list, *, journal,
                  out: dict, log, ranked: int = 1) -> dict:
    """The trials of every worker -> out['trials'] (trial, params, value, state, seconds, worker)
    and the best trial's entry -> out['best'] (JSON: ``entry``, ``trial``, ``value``, ``params``,
    and ``ranked``: the ``ranked`` best complete trials as ``{trial, value, entry}``, the members
    of an ``ensemble: {over: trials}``). The best is the complete trial with the lowest
    validation loss (no test data is read)."""
    from . import search

    full, params = search.parse_search(search_settings, name, entry)
    studies = {str(s) for p in worker_paths for s in read_tsv(p).get("study", pd.Series(dtype=str))}
    if len(studies) != 1:
        raise InputError(worker_paths[0], f"the workers of search {name!r} ran {len(studies)} studies "
                         f"({sorted(studies)}); expected one: rerun them")
    study = search.load_study(journal, studies.pop())
    table = search.write_trials(study, out["trials"])
    best = search.best_trial(study)
    chosen = search.best_entry(study, params, entry, name)
    counts = table["state"].value_counts().to_dict()
    write_json({"entry": chosen, "trial": int(best.number), "value": float(best.value),
                "metric": full["metric"], "params": json.loads(table.loc[table["trial"] == best.number,
                                                                          "params"].iloc[0]),
                "states": {k: int(v) for k, v in counts.items()},
                "ranked": search.ranked_entries(study, params, entry, name, max(1, int(ranked)))}, out["best"])
    log.info("search %s: %s; best trial %d, %s %.5f: %s", name,
             ", ".join(f"{v} {k.lower()}" for k, v in counts.items()), best.number, full["metric"],
             best.value, json.dumps(chosen, sort_keys=True))
    return chosen


def search_summary(folds: list[str], trials_paths: list, best_paths: list, *, out: dict, log) -> None:
    """Every fold's trials (out['trials'], with a ``fold`` column) and best trial (out['best'] TSV:
    fold, trial, value, params)."""
    trials = pd.concat([read_tsv(p).assign(fold=f) for f, p in zip(folds, trials_paths)], ignore_index=True)
    write_tsv(trials[["fold"] + [c for c in trials.columns if c != "fold"]], out["trials"])
    rows = []
    for f, p in zip(folds, best_paths):
        b = read_json(p)
        rows.append({"fold": f, "trial": b["trial"], "value": b["value"], "metric": b["metric"],
                     "params": json.dumps(b["params"], sort_keys=True)})
    write_tsv(pd.DataFrame(rows), out["best"])
    log.info("search: %d trials over %d fold(s)", len(trials), len(folds))


def train_searched(paths: dict, name: str, seed: int, *, out: dict, log) -> None:
    """Train model ``name`` with the entry its search chose (paths['best'], the JSON of
    :func:`gather_search`) on the fold's training split (as :func:`train`)."""
    best = read_json(paths["best"])
    log.info("model %s: the entry of search trial %d (%s %.5f): %s", name, best["trial"], best["metric"],
             best["value"], json.dumps(best["entry"], sort_keys=True))
    train(paths, {"name": name, **best["entry"]}, seed, out=out, log=log)


def _coverage(test: pd.DataFrame) -> float | None:
    ok = np.isfinite(test["observed"].to_numpy(dtype=float))
    if not ok.any():
        return None
    t = test[ok]
    return float(((t["observed"] >= t["lower"]) & (t["observed"] <= t["upper"])).mean())


def evaluate(paths: dict, kind: str | None = None, level: float = 0.9, *, out: dict, log,
             ensemble: dict | None = None) -> None:
    """Predict every kept sample -> predictions.tsv, metrics.json, predict_unphenotyped.tsv.

    ``kind``: the model's kind (from the config); None reads it from the artefact. Every
    prediction has a ``level`` interval (``lower``, ``upper``: split-conformal, calibrated on the
    validation samples) and ``sd``, the spread of an ensemble's members (empty for one model);
    GBLUP adds its ``reliability`` (1 - PEV / sigma2_g G_ii), and its intervals are scaled by
    each sample's predictive SD (:func:`seq2pheno.reliability.gblup_scale`). With a haplotype tensor a sample's
    prediction is the mean of its rows' predictions; every output has one row per sample. A kind
    fitted on training and validation samples (gblup, sparse, a network with ``refit``) is scored on validation by its
    held-out predictions (:func:`seq2pheno.models.held_out_predictions`), never in-sample.

    ``ensemble`` (``members``, ``over``; :mod:`seq2pheno.ensemble`): paths['networks'] are the
    members' artefacts in member order (``seeds``/``trials``: paths['model'] is member 0;
    ``folds``: with their splits in paths['member_splits']). The prediction is the
    members' mean, ``sd`` their SD, the interval scaled by it (``folds``: calibrated on the
    out-of-fold predictions, unscaled, and validation rows scored out of fold); metrics.json
    gains ``members`` (each member's metrics on the same samples) and ``ensemble``.
    """
    from . import models
    from .ensemble import combine
    from .evaluate import metrics_by_split
    from .reliability import conformal_interval

    design, onehot = _design_and_tensor(paths)
    _log_haplotypes(design, log)
    kind = kind or models.artefact_kind(paths["model"])
    everyone = _rows(design, onehot, np.arange(len(design.ids)))
    phenotyped = design.split != "unphenotyped"
    va = design.split == "valid"
    y = design.phenotype
    sd = np.full(len(design.ids), np.nan)
    member_metrics = None
    if ensemble:
        over = ensemble["over"]
        files = list(paths["networks"])
        if len(files) != int(ensemble["members"]):
            raise ValueError(f"an ensemble of {ensemble['members']} members got {len(files)} artefacts")
        preds = np.stack([_predict_held_out(models.load_trained(f, kind), kind, everyone, design, log)
                          for f in files])
        predicted, sd = combine(preds)
        member_metrics = [metrics_by_split(y[phenotyped], p[phenotyped], design.split[phenotyped])
                          for p in preds]
        if over == "folds":
            oof, pool = _out_of_fold(design, preds, paths["member_splits"])
            predicted[va] = oof[va]             # validation scored by the member that did not fit it
            lower, upper = conformal_interval(y[pool], oof[pool], predicted, level=level)
            log.info("ensemble of %d over folds: intervals calibrated on %d out-of-fold predictions",
                     len(files), int(pool.sum()))
        else:
            lower, upper = conformal_interval(y[va], predicted[va], predicted, level=level,
                                              scale_valid=sd[va], scale=sd)
            log.info("ensemble of %d over %s: median member SD %.4g; intervals scaled by it", len(files),
                     over, float(np.nanmedian(sd)))
    else:
        model = models.load_trained(paths["model"], kind)
        predicted = _predict_held_out(model, kind, everyone, design, log)
        held = models.held_out_predictions(model)
        scales = {}
        if kind == "gblup":               # scaled by each sample's predictive SD (reliability.py)
            from .models.gblup import pev_basis
            from .reliability import gblup_reliability, gblup_scale

            train_rows = _rows(design, onehot, design.subset("train"))
            basis = pev_basis(model, train_rows, _rows(design, onehot, design.subset("valid")))
            reliability = gblup_reliability(model, everyone, basis=basis)
            scale = gblup_scale(model, everyone, basis=basis)
            if held is not None and va.any():
                own = pev_basis(model, train_rows, fitted=False)
                scale[va] = gblup_scale(model, _rows(design, onehot, np.flatnonzero(va)), basis=own)
            scales = {"scale_valid": scale[va], "scale": scale}
        # split-conformal interval at ``level``, calibrated on the validation samples
        lower, upper = conformal_interval(y[va], predicted[va], predicted, level=level, **scales)
    table = pd.DataFrame({"id": design.ids, "split": design.split, "observed": y,
                          "predicted": predicted, "sd": sd, "lower": lower, "upper": upper})
    if kind == "gblup":
        table["reliability"] = reliability
    predictions = table[phenotyped]
    metrics = metrics_by_split(y[phenotyped], predicted[phenotyped], design.split[phenotyped])
    metrics["interval"] = {"level": level, "test_coverage": _coverage(predictions[predictions.split == "test"])}
    if ensemble:
        metrics["ensemble"] = {"members": int(ensemble["members"]), "over": ensemble["over"]}
        metrics["members"] = member_metrics
        log.info("test R²: ensemble %s, members %s", (metrics.get("test") or {}).get("r2"),
                 ", ".join(f"{(m.get('test') or {}).get('r2')}" for m in member_metrics))
    unphenotyped = table[~phenotyped].drop(columns=["split", "observed"])
    unphenotyped = unphenotyped.sort_values("predicted", ascending=False, kind="stable")
    unphenotyped["rank"] = np.arange(1, len(unphenotyped) + 1)
    write_tsv(predictions, out["predictions"])
    write_json(metrics, out["metrics"])
    write_tsv(unphenotyped, out["unphenotyped"])
    for name in ("train", "valid", "test"):
        m = metrics.get(name) or {}
        if m.get("r2") is not None:
            log.info("%s: n = %d, R² = %.4f, Pearson r = %.4f", name, m["n"], m["r2"], m["pearson_r"])
    if len(unphenotyped):
        log.info("scored %d unphenotyped samples", len(unphenotyped))


def _predict_held_out(model, kind: str, everyone, design, log) -> np.ndarray:
    """(n,) predictions of every sample of ``design``; a model fitted on training *and*
    validation samples (gblup, sparse, a refitted network) scores the validation samples it kept
    apart by the fit without them (:func:`seq2pheno.models.held_out_predictions`), never in-sample."""
    from . import models

    predicted = models.KINDS[kind].predict(model, everyone)
    held = models.held_out_predictions(model)
    if held is not None:
        ids = design.ids.astype(str)
        match = held.reindex(ids)
        found = match.notna().to_numpy()
        predicted[found] = match.to_numpy()[found]
        log.info("validation predictions of %d samples from the fit without them", int(found.sum()))
    return predicted


def _out_of_fold(design, preds: np.ndarray, split_paths: list) -> tuple[np.ndarray, np.ndarray]:
    """(oof, pool) of an ``over: folds`` ensemble: each pooled sample's prediction by the member
    whose validation fold it was in, and the mask of the pooled samples (NaN elsewhere)."""
    oof = np.full(len(design.ids), np.nan)
    pool = np.isin(design.split, ("train", "valid"))
    seen = np.zeros(len(design.ids), dtype=np.int64)
    pos = pd.Series(np.arange(len(design.ids)), index=design.ids)
    for k, path in enumerate(split_paths):
        table = read_tsv(path)
        rows = pos.reindex(table.loc[table["split"] == "valid", "id"].astype(str)).dropna().to_numpy(np.int64)
        oof[rows] = preds[k][rows]
        seen[rows] += 1
    if np.any(seen[pool] != 1):
        bad = design.ids[pool & (seen != 1)][0]
        raise InputError(split_paths[0], f"sample {bad!r} is in {int(seen[pos[bad]])} members' validation "
                         "folds; an over: folds ensemble needs exactly one: rerun its members")
    return oof, pool


def select_candidate(candidates: list[str], model_paths: list, history_paths: list, *, out: dict, log) -> str:
    """The candidate with the lowest validation loss (its history's best epoch) becomes the
    model: its artefact and history copied to out['model'|'history']; out['selection'] lists
    candidate, validation loss, chosen. Returns the chosen candidate."""
    import shutil

    losses = []
    for name, path in zip(candidates, history_paths):
        h = read_tsv(path)
        loss = pd.to_numeric(h.get("val_loss"), errors="coerce") if "val_loss" in h else pd.Series(dtype=float)
        losses.append(float(loss.min()) if loss.notna().any() else np.inf)
        log.info("candidate %s: validation loss %.5f", name, losses[-1])
    best = int(np.argmin(losses))
    table = pd.DataFrame({"candidate": candidates, "validation_loss": losses,
                          "chosen": np.arange(len(candidates)) == best})
    with atomic_path(out["model"]) as tmp:
        shutil.copyfile(model_paths[best], tmp)
    with atomic_path(out["history"]) as tmp:
        shutil.copyfile(history_paths[best], tmp)
    write_tsv(table, out["selection"])
    log.info("chose %s (validation loss %.5f)", candidates[best], losses[best])
    return candidates[best]


def gather_selection(folds: list[str], paths: list, *, out, log) -> None:
    """Every fold's selection table, with a ``fold`` column."""
    table = pd.concat([read_tsv(p).assign(fold=f) for f, p in zip(folds, paths)], ignore_index=True)
    write_tsv(table[["fold", "candidate", "validation_loss", "chosen"]], out)
    chosen = table[table["chosen"]].groupby("candidate").size()
    log.info("chosen: %s", ", ".join(f"{c} on {n} fold(s)" for c, n in chosen.items()))


# ---- cross-validation -------------------------------------------------------------------


def assign_folds(kept_path, settings: dict, split_settings: dict, *, columns_path=None, out, log) -> None:
    """Stratified group-aware k-fold assignment -> out (evaluation/folds.tsv: id, repeat, fold).

    settings: the cohort's ``evaluation`` (folds, repeats, seed, fold_column, group_column).
    columns_path: the cohort's phenotype table (CSV/TSV with ``id``), read when ``fold_column``
    or ``group_column`` is set. Unphenotyped samples get fold 0.
    """
    from . import split as spl
    from .evaluation import fold_groups, folds_from_column

    kept = read_tsv(kept_path)
    columns = None
    wanted = [c for c in (settings.get("fold_column"), settings.get("group_column")) if c]
    if wanted:
        columns = pd.read_csv(columns_path, sep=None, engine="python", dtype=str)
        if "id" not in columns.columns:
            raise InputError(columns_path, "expected an id column to match evaluation.fold_column / group_column")
        for c in wanted:
            if c not in columns.columns:
                raise InputError(columns_path, f"no column {c!r} (evaluation.fold_column / group_column); "
                                               f"columns: {', '.join(columns.columns)}")
        columns = columns[["id", *wanted]]
    y = kept["phenotype"].to_numpy(dtype=float)
    groups = kept["group"].to_numpy()
    if settings.get("group_column"):
        groups = fold_groups(kept, columns, settings["group_column"])
    if settings.get("fold_column"):
        folds = folds_from_column(kept, columns, settings["fold_column"], groups)[None, :]
        log.info("folds from column %r: %d folds", settings["fold_column"], int(folds.max()))
    else:
        folds = spl.assign_folds(y, groups, k=settings["folds"], repeats=settings["repeats"],
                                 n_bins=split_settings["bins"], seed=settings["seed"])
    table = pd.concat([pd.DataFrame({"id": kept["id"], "repeat": r + 1, "fold": folds[r]})
                       for r in range(len(folds))], ignore_index=True)
    write_tsv(table, out)
    sizes = table[table["fold"] > 0].groupby(["repeat", "fold"]).size()
    log.info("%d folds x %d repeats; test fold sizes %d to %d", int(folds.max()), len(folds), sizes.min(),
             sizes.max())


def fold_split(kept_path, folds_path, samples_path, fold: str, settings: dict, split_settings: dict,
               covariates: list[str], *, out: dict, log) -> None:
    """One fold's split.tsv (test = the fold; train/valid from the other folds) and its
    distribution.json; covariates regressed out on the fold's training samples.

    fold: ``"{repeat}_{fold}"`` (1-based). The validation share of the other folds is
    ``evaluation.valid``, by default ``split.valid / (split.train + split.valid)``.
    """
    from . import split as spl
    from .covariates import adjust_split_table

    repeat, k = (int(v) for v in fold.split("_"))
    kept = read_tsv(kept_path)
    folds = read_tsv(folds_path)
    folds = folds[folds["repeat"] == repeat].set_index("id")["fold"]
    y = kept["phenotype"].to_numpy(dtype=float)
    groups = kept["group"].to_numpy()
    f = folds.reindex(kept["id"]).fillna(0).to_numpy(dtype=np.int64)
    valid = settings.get("valid")
    if valid is None:
        valid = split_settings["valid"] / (split_settings["train"] + split_settings["valid"])
    splits = spl.fold_split(y, groups, f, k, valid=valid, n_bins=split_settings["bins"],
                            seed=settings["seed"] + 1000 * repeat)
    if split_settings.get("reweight"):
        weights = spl.rare_value_weights(y, splits, n_bins=split_settings["reweight_bins"],
                                         cap=split_settings["reweight_cap"])
    else:
        weights = np.ones(len(kept))
    table = spl.split_table(kept["id"].to_numpy(), splits, groups, weights)
    if covariates:
        table, coef, _ = adjust_split_table(table, kept, read_tsv(samples_path), covariates)
        log.info("fold %s: covariates %s regressed out on the training samples: %s", fold,
                 ", ".join(covariates), ", ".join(f"{a} = {b:.4g}" for a, b in coef.items()))
    write_tsv(table, out["split"])
    write_json(spl.split_distribution(y, splits), out["distribution"])
    log.info("fold %s: %s", fold, ", ".join(f"{s} {int((splits == s).sum())}" for s in ("train", "valid", "test")))


def gather_model(folds: list[str], paths: dict, scheme: str, *, out: dict, log) -> None:
    """A model's results over folds -> models/{model}/predictions.tsv, metrics.json,
    predict_unphenotyped.tsv (holdout: the one fold's tables as they are)."""
    from .evaluation import gather_folds

    preds = [read_tsv(p) for p in paths["predictions"]]
    metrics = [read_json(p) for p in paths["metrics"]]
    unphen = [read_tsv(p) for p in paths["unphenotyped"]]
    table, summary, ranking = gather_folds(folds, preds, metrics, unphen, scheme)
    write_tsv(table, out["predictions"])
    write_json(summary, out["metrics"])
    write_tsv(ranking, out["unphenotyped"])
    test = summary.get("test") or {}
    log.info("%s over %d fold(s): test r %s, R² %s", scheme, len(folds), test.get("pearson_r"), test.get("r2"))


def evaluation_summary(models: list[str], folds: list[str], metrics_paths: list, *, out: dict, log) -> None:
    """evaluation/per_fold.tsv (model, repeat, fold, n, pearson_r, r2 of each test fold) and
    evaluation/summary.tsv (model, folds, means and SDs); ``metrics_paths`` model-major."""
    from .evaluation import per_fold_table, summary_table

    metrics = [read_json(p) for p in metrics_paths]
    per_fold = per_fold_table(models, folds, metrics)
    write_tsv(per_fold, out["per_fold"])
    summary = summary_table(per_fold)
    write_tsv(summary, out["summary"])
    for row in summary.itertuples():
        log.info("%s: r %s ± %s, R² %s ± %s over %d folds", row.model, row.pearson_r_mean,
                 row.pearson_r_sd, row.r2_mean, row.r2_sd, row.folds)


# ---- report -----------------------------------------------------------------------------


def report(cohort: str, paths: dict, params: dict, *, out, log) -> None:
    """The cohort's HTML report (out['html']) and its verdict as data (out['summary']:
    results/{cohort}/summary.json, see :func:`seq2pheno.cohort_summary.summarise`)."""
    from . import report as rep
    from .cohort_summary import summarise

    if isinstance(out, (str, Path)):
        out = {"html": out}
    models = list(params["models"])
    files = {k: paths[k] for k in ("samples", "features", "kept", "removed", "split", "distribution",
                                   "curate_summary")}
    files.update(metrics=list(paths["metrics"]), predictions=list(paths["predictions"]),
                 history=list(paths["histories"]))
    if paths.get("truth"):
        files["truth"] = paths["truth"]
    evaluation = [str(p) for p in paths.get("evaluation") or []]
    files["per_fold"] = next((p for p in evaluation if p.endswith("per_fold.tsv")), None)
    kinds = dict(params["kinds"])
    ctx = rep.load_context(cohort, files, models, source=params["cohort"]["source"], model_kinds=kinds)
    ctx["scheme"] = (params.get("evaluation") or {}).get("scheme", "holdout")
    split_table = read_tsv(paths["split"])
    ctx["fold_sizes"] = {"train": int((split_table["split"] == "train").sum()),
                         "test": int((split_table["split"] == "test").sum())}
    ctx["relatives"] = _relatives(paths, split_table)
    ctx["sex_markers"] = _sex_markers(paths, params["cohort"])
    summary = summarise(ctx)
    ctx["summary"] = summary
    if summary.get("ceiling"):
        c = summary["ceiling"]
        ctx["noise_ceiling"] = {"value": c["value"], "source": c["label"]}
    else:
        ctx.pop("noise_ceiling", None)
    from .config import GENOTYPE_SOURCES

    predictions = {m: e["predictions"] for m, e in ctx["models"].items() if e.get("predictions") is not None}
    ctx["extra_sections"] = _extra_sections(paths, models, kinds=kinds,
                                            genotype=params["cohort"]["source"] in GENOTYPE_SOURCES,
                                            level=(params.get("evaluation") or {}).get("interval"),
                                            predictions=predictions)
    from .report_sections import ensemble_section

    ensembles = ensemble_section({m: e.get("metrics") or {} for m, e in ctx["models"].items()})
    if ensembles:
        ctx["extra_sections"].insert(0, ensembles)
    by_relatedness = _relatedness_section(ctx, summary)
    if by_relatedness:
        ctx["extra_sections"].insert(1 if paths.get("kinship") else 0, by_relatedness)
    rep.write_report(out["html"], ctx)
    if out.get("summary"):
        write_json(summary, out["summary"])
    log.info("report written to %s; verdict: %s", out["html"], summary.get("sentence"))


def _relatedness_section(ctx: dict, summary: dict) -> dict | None:
    """Accuracy of the best model on the first fold's test samples, binned by each test sample's
    highest kinship to the training samples (genotype cohorts)."""
    from .kinship import accuracy_by_relatedness
    from .report import section, table_block

    rel = summary.get("relatives") or {}
    kin = rel.get("max_kinship_to_train")
    best = summary.get("best_model")
    if not kin or best not in ctx["models"] or ctx["models"][best].get("predictions") is None:
        return None
    pred = ctx["models"][best]["predictions"]
    pred = pred[pred["split"] == "test"].drop_duplicates("id").set_index("id")
    k = pd.Series(kin["kinship"], index=kin["id"])
    ids = [i for i in k.index if i in pred.index]
    if not ids:
        return None
    table = accuracy_by_relatedness(pred.loc[ids, "observed"], pred.loc[ids, "predicted"], k.loc[ids])
    table = table[table["n"] > 0]
    caption = (f"Test samples of the first fold binned by their highest kinship to any training sample, "
               f"and the Pearson r of {best} within each bin. Accuracy on close relatives of the "
               "training set is what a breeding programme gets when it predicts the offspring of its "
               "own lines; accuracy on the least related bin is closer to what it would get on a new "
               "population. Bins with fewer than 3 samples have no r.")
    return section("Accuracy by relatedness to the training set",
                   table_block(table[["bin", "n", "pearson_r"]], caption), anchor="accuracy-by-relatedness")


def _sex_markers(paths: dict, cohort: dict) -> dict | None:
    """Genotype cohorts without covariates whose markers include sex chromosomes: the warning
    of :func:`seq2pheno.verdict.sex_marker_note` (None otherwise)."""
    from .config import GENOTYPE_SOURCES
    from .kinship import sex_chromosome_counts
    from .verdict import sex_marker_note

    if cohort.get("source") not in GENOTYPE_SOURCES or not paths.get("features"):
        return None
    chroms = read_tsv(paths["features"])["chrom"].astype(str)
    return sex_marker_note(sex_chromosome_counts(chroms), cohort.get("covariates"))


def _relatives(paths: dict, split_table: pd.DataFrame) -> dict | None:
    """Genotype cohorts: how close the test samples are to the training samples (first fold)."""
    from .kinship import max_kinship_to
    from .verdict import relatives_note

    files = paths.get("kinship") or []
    files = [files] if isinstance(files, (str, Path)) else [str(f) for f in files]
    kin = next((f for f in files if f.endswith("kinship.tsv")), None)
    if kin is None:
        return None
    test = split_table.loc[split_table["split"] == "test", "id"].to_numpy(dtype=str)
    train = split_table.loc[split_table["split"].isin(["train", "valid"]), "id"].to_numpy(dtype=str)
    summary = read_json(paths["curate_summary"]) if paths.get("curate_summary") else {}
    if summary.get("relationship_measure") is None and "relationship_measure" in summary:
        return relatives_note(None, reason_if_missing=summary.get("relationship_reason")
                              or "no sites to estimate kinship from")
    best = max_kinship_to(kin, test, train)
    note = relatives_note(best)
    note["measure"] = summary.get("relationship_measure")
    note["max_kinship_to_train"] = {"id": list(test), "kinship": [float(v) for v in best]}
    return note


def _extra_sections(paths: dict, models: list[str], *, kinds: dict | None = None,
                    genotype: bool = False, level: float | None = None,
                    predictions: dict[str, pd.DataFrame] | None = None) -> list[dict]:
    """Interpretation and unphenotyped-ranking sections from whatever outputs are inputs.

    ``paths["interpretation"]``: the files under interpret/{model}/ (what each model's kind
    gives: ISM files, effects.tsv or kmers.tsv); ``paths["features"]``: data/features.tsv;
    ``genotype``: a genotype cohort (markers along the genome, with their alleles, instead of
    sequence logos and filter motifs where the tensor is per marker); ``kinds``: model -> kind;
    ``paths["search"]``: search/{model}/trials.tsv and best.tsv of searched models;
    ``predictions``: model -> its predictions.tsv as read by the report (the calibration of its
    intervals at ``level``, the cohort mean the unphenotyped ranking flags).
    """
    from . import report_sections as rs
    from .coefficients import per_marker
    from .filters import read_meme

    sections = []
    if paths.get("kinship"):  # genotype cohorts: relatedness (seq2pheno.genotype_steps)
        sections.append(rs.kinship_report_section(paths))
    causal = read_json(paths["truth"])["causal"] if paths.get("truth") else None
    by_model: dict[str, dict[str, str]] = {}
    for path in paths.get("interpretation", []):
        by_model.setdefault(Path(path).parent.name, {})[Path(path).name] = path
    kinds = kinds or {}
    features = read_tsv(paths["features"]) if paths.get("features") else None
    markers = genotype and per_marker(features)
    for model, files in by_model.items():
        if "ism_maps.npz" not in files:
            effects = read_tsv(files["effects.tsv"]) if "effects.tsv" in files else None
            kmers = read_tsv(files["kmers.tsv"]) if "kmers.tsv" in files else None
            if effects is not None or kmers is not None:
                sections.append(rs.coefficients_section(model, kinds.get(model, "linear"), effects=effects,
                                                        kmers=kmers, genotype=genotype))
            continue
        with np.load(files["ism_maps.npz"]) as maps:
            global_map = maps["global_map"]
        recovery = read_json(files["truth_recovery.json"]) if "truth_recovery.json" in files else None
        sections.append(rs.interpretation_section(
            model, ism=read_tsv(files["ism.tsv"]), global_map=global_map,
            saliency=read_tsv(files["saliency.tsv"]), pwms=read_meme(files["filters.meme"]),
            influence=read_tsv(files["filter_influence.tsv"]),
            interactions=read_tsv(files["interactions.tsv"]), recovery=recovery, causal=causal,
            genotype=markers,
            motif_matches=read_tsv(files["motif_matches.tsv"]) if "motif_matches.tsv" in files else None))
    searched = {Path(p).parent.name: p for p in paths.get("search", []) if str(p).endswith("trials.tsv")}
    best = {Path(p).parent.name: read_tsv(p) for p in paths.get("search", []) if str(p).endswith("best.tsv")}
    search = rs.search_section({m: read_tsv(p) for m, p in searched.items()}, best)
    if search:
        sections.append(search)
    predictions = predictions or {}
    calibration = rs.calibration_section(predictions, level)
    if calibration:
        sections.append(calibration)
    cohort_mean = None
    for df in predictions.values():
        observed = pd.to_numeric(df.get("observed"), errors="coerce")
        if observed is not None and observed.notna().any():
            cohort_mean = float(observed.mean())
            break
    rankings = {m: read_tsv(p) for m, p in zip(models, paths.get("unphenotyped", []))}
    ranking = rs.unphenotyped_section(rankings, cohort_mean=cohort_mean)
    if ranking:
        sections.append(ranking)
    return sections


# ---- interpretation ------------------------------------------------------------------


def select_best(metrics_paths, models, *, out, log) -> str:
    """Write the name of the model of any kind with the best validation metric to ``out``;
    return it. Validation Pearson r decides, validation R² breaks ties (and decides where r is
    missing); the test split is never read. Ties left after both keep the first model."""
    scores = {}
    for name, path in zip(models, metrics_paths):
        valid = read_json(path).get("valid") or {}
        r, r2 = valid.get("pearson_r"), valid.get("r2")
        score = tuple(-np.inf if v is None or not np.isfinite(float(v)) else float(v) for v in (r, r2))
        scores[name] = score
        log.info("%s: validation Pearson r %s, R² %s", name, r, r2)
    best = max(models, key=lambda m: scores[m])    # max keeps the first of equal scores
    write_text(best + "\n", out)
    log.info("interpreting %s (best validation Pearson r, then R²)", best)
    return best


def interpret_coefficients(paths: dict, settings: dict, *, genotype: bool, out: dict, log) -> None:
    """The interpretation of a model whose parameters explain it (``INTERPRETATION``
    "coefficients"): out['effects'] (effects.tsv, :func:`seq2pheno.coefficients.effects_table`:
    per position and base, or per marker with chrom, pos, ref, alt and the effect of one ALT
    allele) or, for kinds with ``top_kmers`` (kmer_ridge), out['kmers'] (kmers.tsv).

    paths: ``model`` (the first fold's artefact), ``features`` (data/features.tsv).
    """
    from . import coefficients, models

    model = models.load_trained(paths["model"])
    kind = models.KINDS[models.kind_of_model(model)]
    if out.get("kmers"):
        table = kind.top_kmers(model, int(settings.get("top_kmers", 50)))
        write_tsv(table, out["kmers"])
        log.info("%s: the %d k-mers with the largest effects written", kind.KIND, len(table))
        return
    features = read_tsv(paths["features"]) if paths.get("features") else None
    effects = kind.effects(model)
    if effects is None or np.ndim(effects) != 2:
        log.info("%s: no per-position effects (effects() gave %s); effects.tsv is empty",
                 kind.KIND, "None" if effects is None else f"shape {np.shape(effects)}")
        write_tsv(coefficients.empty_effects(), out["effects"])
        return
    table = coefficients.effects_table(effects, features, signed=bool(kind.LINEAR), genotype=genotype)
    write_tsv(table, out["effects"])
    top = table.sort_values("rank").head(5)
    log.info("%s: %s of %d %s written; largest: %s", kind.KIND,
             "effects" if kind.LINEAR else "importances", len(table),
             "markers" if "alt_effect" in table and "effect_A" not in table else "positions",
             ", ".join(f"{p} ({v:.3g})" for p, v in zip(top["position"], top["importance"])))


def interpreted_rows(design, n: int, seed: int) -> np.ndarray:
    """Positions (into ``design``) of up to ``n`` test samples, chosen reproducibly, in order.

    With a haplotype tensor (``rows_per_sample`` 2) ``n`` counts tensor rows: up to ``n // 2``
    samples (at least one), whose haplotype rows are all interpreted.
    """
    test = design.subset("test")
    if len(test) == 0:
        raise InputError("split", "the test split is empty: nothing to interpret")
    n = max(1, int(n) // design.rows_per_sample)
    if len(test) > n:
        test = np.sort(np.random.default_rng(seed).choice(test, size=n, replace=False))
    return test


class _TensorRows:
    """Rows ``rows`` of a tensor (array, memmap or TensorFile) read on demand, float32: what the
    interpretation functions take as ``x`` (shape, len, slices) without holding every row."""

    def __init__(self, tensor, rows: np.ndarray):
        self.tensor, self.rows = tensor, np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows), *tuple(tensor.shape[1:]))
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("rows of an interpreted tensor are read by slices")
        rows = self.rows[key]
        if len(rows) == 0:
            return np.zeros((0, *self.shape[1:]), dtype=np.float32)
        return np.asarray(self.tensor[rows], dtype=np.float32)


class _NpzStream:
    """An .npz written array by array, a large array chunk by chunk (as np.savez_compressed
    writes it, without holding the array): ``add(name, array)``, ``stream(name, shape, dtype,
    chunks)``. Atomic: the file appears complete or not at all."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        import zipfile

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self.zf = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        return self

    def __exit__(self, *exc):
        self.zf.close()
        return self._atomic.__exit__(*exc)

    def stream(self, name: str, shape: tuple, dtype, chunks) -> None:
        from numpy.lib import format as npf

        dtype = np.dtype(dtype)
        with self.zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
            npf.write_array_header_1_0(fh, {"descr": npf.dtype_to_descr(dtype), "fortran_order": False,
                                           "shape": tuple(int(v) for v in shape)})
            for chunk in chunks:
                fh.write(np.ascontiguousarray(chunk, dtype=dtype).tobytes())

    def add(self, name: str, array) -> None:
        array = np.asarray(array)
        self.stream(name, array.shape, array.dtype, [array])


def _ensemble_ism(networks: list, x, workdir: Path, log, budget) -> tuple[np.ndarray, np.ndarray]:
    """(mean deltas (N, L, 4) float64 memmap, member importance (K, L)): the ISM of every member
    network of an ensemble, summed in a scratch file under ``workdir`` (one member's chunks in
    memory at a time). Importance: mean |delta| over sequences and the 3 alternatives."""
    from . import ism

    N, L = x.shape[0], x.shape[1]
    path = Path(workdir) / ".ensemble_deltas.f64"
    total = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(N, L, 4))
    importance = np.zeros((len(networks), L))
    for k, net in enumerate(networks):
        for s, d in ism.ism_chunks(net, x, log=log, memory_mb=budget(f"ISM, member {k}")):
            total[s:s + len(d)] += d
            importance[k] += np.abs(d).sum(axis=(0, 2))
    total /= len(networks)
    return total, importance / (3.0 * N)


def _ensemble_epistasis(first: pd.DataFrame, others: list, x, top, log, budget) -> pd.DataFrame:
    """The members' mean epistasis of each pair (``first``: member 0's table), with
    ``score_sd`` (the SD of the members' scores) beside it, ranked again."""
    from . import interactions

    tables = [first] + [interactions.pairwise_epistasis(m, x, top, log=log, memory_mb=budget("epistasis"))
                        for m in others]
    if not len(first):
        return first.assign(score_sd=pd.Series(dtype=float))
    keyed = [t.set_index(["pos_a", "pos_b"]) for t in tables]
    score = pd.concat([t["score"] for t in keyed], axis=1)
    signed = pd.concat([t["signed_score"] for t in keyed], axis=1)
    out = pd.DataFrame({"score": score.mean(axis=1), "signed_score": signed.mean(axis=1),
                        "score_sd": score.std(axis=1, ddof=1)}).reset_index()
    out = out.sort_values(["score", "pos_a", "pos_b"], ascending=[False, True, True], kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    return out[["pos_a", "pos_b", "score", "signed_score", "rank", "score_sd"]].reset_index(drop=True)


def interpret(paths: dict, settings: dict, *, out: dict, log, ensemble: dict | None = None) -> None:
    """ISM, saliency, filter PWMs and influence, pairwise epistasis for one CNN.

    An ensemble (``ensemble`` settings, paths['networks'] its members' artefacts, as
    :func:`evaluate` takes them): the ISM map, saliency and epistasis are the
    members' means; ism.tsv gains ``importance_sd`` (SD of the members' importances) and
    ``member_agreement`` (share of members ranking the position in their ``top_positions``),
    interactions.tsv ``score_sd``, ism_maps.npz ``member_importance`` (K, L). Filters are one
    network's (member 0's: filters of different members do not correspond).

    The inputs are tensor rows of test samples: with a haplotype tensor, both haplotype rows of
    each chosen sample, each with the sample's phenotype (ism_maps.npz then has a ``haplotype``
    array, 0 or 1, beside ``ids``). ISM deltas are the model's change on one row; a sample's
    prediction averages its two rows, so a change on one haplotype moves it by half the delta.

    Memory: ``settings["memory_mb"]`` bounds the job's peak RSS. The rows are read from the
    tensor chunk by chunk, ISM deltas and the rows are streamed into ism_maps.npz, and every
    step sizes its chunks of sequences and mutants to the working memory the process has left
    under the bound (:func:`seq2pheno.ism.working_mb`). Filter motifs are drawn for sequence
    tensors only: on a per-marker genotype tensor a filter's window spans neighbouring marker
    columns, which is no motif (filters.meme and filters.tsv are then empty; influence stays).
    """
    import keras  # noqa: F401  (the backend is configured by the caller)

    from . import filters, interactions, ism, models
    from .coefficients import per_marker

    limit_mb = float(settings.get("memory_mb") or 2000)
    design, onehot = _design_and_tensor(paths)
    features = read_tsv(paths["features"])
    files = list(paths["networks"]) if ensemble else [paths["model"]]
    networks = [models.load_trained(f, "cnn") for f in files]    # an ensemble's members, loaded once
    model = networks[0]
    chosen = interpreted_rows(design, settings["n_sequences"], settings["seed"])
    trows = design.tensor_rows(chosen)
    order = np.argsort(trows, kind="stable")
    x = _TensorRows(onehot, trows[order])
    ids = design.per_row(design.ids, chosen)[order]
    y = design.per_row(design.phenotype, chosen)[order]
    extra = {"haplotype": trows[order] % design.rows_per_sample} if design.rows_per_sample > 1 else {}
    N, L = x.shape[0], x.shape[1]
    log.info("interpreting %d test sequences of length %d%s", N, L,
             f" (both haplotypes of {len(chosen)} samples)" if extra else "")

    def budget(step: str) -> float:
        mb = ism.working_mb(limit_mb)
        log.info("%s: working memory %.0f MB (peak-RSS bound %.0f MB, RSS now %.0f MB)",
                 step, mb, limit_mb, ism.rss_mb())
        return mb

    abs_sum = np.zeros(L)
    signed_sum = np.zeros((L, 4))
    block = max(1, int(ism.budget_bytes(budget("rows")) // max(16 * L, 1)))
    member_importance = None
    if len(networks) > 1:
        # an ensemble: each member's ISM in turn, summed on disk; the map is their mean and
        # each member's importance is kept for the spread
        mean_deltas, member_importance = _ensemble_ism(networks, x, Path(out["ism_maps"]).parent, log, budget)
        log.info("ISM averaged over %d ensemble members", len(networks))

    def delta_chunks():
        if member_importance is not None:
            for s in range(0, N, block):
                d = np.asarray(mean_deltas[s:s + block], dtype=np.float64)
                abs_sum[:] += np.abs(d).sum(axis=(0, 2))
                signed_sum[:] += d.sum(axis=0)
                yield d.astype(np.float32)
            return
        for _, d in ism.ism_chunks(model, x, log=log, memory_mb=budget("ISM")):
            abs_sum[:] += np.abs(d).sum(axis=(0, 2))
            signed_sum[:] += d.sum(axis=0)
            yield d.astype(np.float32)

    with _NpzStream(out["ism_maps"]) as npz:
        npz.add("ids", ids)
        npz.stream("onehot", x.shape, np.float32, (x[s:s + block] for s in range(0, N, block)))
        npz.stream("deltas", x.shape, np.float32, delta_chunks())
        importance = abs_sum / (3.0 * N)
        global_map = signed_sum / N
        npz.add("global_map", global_map)
        for k, v in extra.items():
            npz.add(k, v)
        if member_importance is not None:
            npz.add("member_importance", member_importance)
    if member_importance is not None:
        del mean_deltas
        Path(out["ism_maps"]).parent.joinpath(".ensemble_deltas.f64").unlink(missing_ok=True)
    sal_sum = np.zeros(L)
    for net in networks:
        for _, g in ism.saliency_chunks(net, x, memory_mb=budget("saliency")):
            sal_sum += np.abs(g.sum(axis=2)).sum(axis=0)
    sal = sal_sum / (N * len(networks))
    log.info("saliency vs ISM importance: Spearman rho = %.3f",
             ism.compare_importance(importance, sal)["spearman_r"])
    table = ism.importance_table(importance, features)
    for base, col in zip("ACGT", global_map.T):
        table[f"mean_delta_{base}"] = col
    if member_importance is not None:
        from .ensemble import member_agreement

        table["importance_sd"] = member_importance.std(axis=0, ddof=1)
        table["member_agreement"] = member_agreement(member_importance, settings["top_positions"])
    write_tsv(table, out["ism"])
    saliency_table = ism.importance_table(sal)[["position", "importance", "rank"]].rename(
        columns={"importance": "saliency"})
    saliency_table["ism_rank"] = table["rank"]
    write_tsv(saliency_table, out["saliency"])

    if per_marker(features):
        pwms = []
        log.info("per-marker genotype tensor: no filter motifs (a filter's window spans "
                 "neighbouring markers); filter influence only")
    else:
        pwms = filters.filter_pwms(model, x, memory_mb=budget("filter motifs"))
    filters.write_meme(out["meme"], pwms)
    write_tsv(pd.DataFrame([{k: v for k, v in p.items() if k != "pfm"} for p in pwms],
                           columns=["filter", "n_hits", "informative", "top_positions"]), out["filters"])
    influence = filters.filter_influence(model, x, y, memory_mb=budget("filter influence"))
    write_tsv(influence, out["influence"])
    log.info("%d of %d filters informative", sum(p["informative"] for p in pwms), len(pwms))

    top = np.sort(np.argsort(-importance, kind="stable")[: settings["top_positions"]])
    pairs = interactions.pairwise_epistasis(model, x, top, log=log, memory_mb=budget("epistasis"))
    if len(networks) > 1:
        pairs = _ensemble_epistasis(pairs, networks[1:], x, top, log, budget)
    write_tsv(pairs, out["interactions"])
    log.info("interpretation done: peak RSS %.0f MB (bound %.0f MB)", _peak_rss_mb(), limit_mb)


def name_motifs(paths: dict, *, out, log) -> None:
    """Motifs with names -> out (motif_matches.tsv): the informative first-layer filters and the
    TF-MoDISco patterns of the ISM attributions, each matched against JASPAR (q <= 0.05)."""
    from . import motifs
    from .filters import read_meme

    informative = read_tsv(paths["filters"]).set_index("filter")["informative"] if paths.get("filters") else {}
    pwms = [{"filter": m["filter"], "pfm": m["pfm"], "informative": bool(informative.get(m["filter"], True))}
            for m in read_meme(paths["meme"]) if m["filter"] is not None]
    with np.load(paths["ism_maps"]) as maps:
        onehot, deltas = maps["onehot"], maps["deltas"]
    found = motifs.run_modisco(onehot, deltas, log=log)
    if not found:
        log.info("TF-MoDISco found no pattern: %s", getattr(found, "reason", "no seqlets"))
    table = motifs.motif_table(pwms, found)
    write_tsv(table, out)
    named = table[table["jaspar_id"].notna()]
    log.info("%d named matches (%s)", len(named),
             ", ".join(f"{r.motif} ~ {r.jaspar_name}" for r in named.head(5).itertuples()) or "none")


def _peak_rss_mb() -> float:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2 ** 20 if sys.platform == "darwin" else 1024)


def truth_recovery(paths: dict, *, out, log) -> None:
    """Compare ISM importance and epistasis ranks with the simulated truth."""
    from .models import load_ridge
    from .recovery import truth_recovery as recover

    truth = read_json(paths["truth"])
    ism_table = read_tsv(paths["ism"])
    pairs = read_tsv(paths["interactions"])
    ridge = paths.get("ridge")
    coef = None
    if ridge:
        params = load_ridge(ridge if isinstance(ridge, str) else ridge[0])
        coef = np.asarray(params["coef"]).reshape(len(ism_table), 4)
    result = recover(ism_table["importance"].to_numpy(), pairs, truth, ridge_coef=coef)
    write_json(result, out)
    log.info("truth recovery: %s", json.dumps(result, default=json_default)[:500])
