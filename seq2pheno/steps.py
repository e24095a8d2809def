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
    ceiling = cur.replicate_repeatability(y, exact_groups)
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


def train(paths: dict, spec: dict, seed: int, *, out: dict, log) -> None:
    """Fit one model of any kind on the training split -> out['model'] (the kind's artefact),
    out['history'].

    paths: ``onehot``, ``samples``, ``kept``, ``split`` (the fold's split.tsv). The validation
    split is for early stopping or tuning; the test split is never read.
    """
    from . import models

    spec = dict(spec)
    name = spec.pop("name")
    kind = models.kind(spec, name)
    spec = models.resolve_spec(name, spec)
    design, onehot = _design_and_tensor(paths)
    _log_haplotypes(design, log)
    tr, va = design.subset("train"), design.subset("valid")
    log.info("model %s (%s): %d training and %d validation samples, tensor %s", name, kind.KIND, len(tr),
             len(va), "x".join(map(str, onehot.shape)))
    model, history = kind.fit(_rows(design, onehot, tr), _rows(design, onehot, va), spec, seed=seed, log=log)
    kind.save(model, out["model"])
    write_tsv(history, out["history"])


def evaluate(paths: dict, kind: str | None = None, *, out: dict, log) -> None:
    """Predict every kept sample -> predictions.tsv, metrics.json, predict_unphenotyped.tsv.

    ``kind``: the model's kind (from the config); None reads it from the artefact. With a
    haplotype tensor a sample's prediction is the mean of its rows' predictions; every output
    has one row per sample.
    """
    from . import models
    from .evaluate import metrics_by_split

    design, onehot = _design_and_tensor(paths)
    _log_haplotypes(design, log)
    kind = kind or models.artefact_kind(paths["model"])
    model = models.load_trained(paths["model"], kind)
    predicted = models.KINDS[kind].predict(model, _rows(design, onehot, np.arange(len(design.ids))))
    phenotyped = design.split != "unphenotyped"
    predictions = pd.DataFrame({"id": design.ids, "split": design.split,
                                "observed": design.phenotype, "predicted": predicted})[phenotyped]
    metrics = metrics_by_split(design.phenotype[phenotyped], predicted[phenotyped], design.split[phenotyped])
    unphenotyped = pd.DataFrame({"id": design.ids[~phenotyped], "predicted": predicted[~phenotyped]})
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
    from .covariates import adjust_covariates

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
        samples = read_tsv(samples_path)
        t = table.merge(kept[["id", "phenotype"]], on="id", how="left").merge(
            samples[["id", *covariates]], on="id", how="left")
        adjusted, coef = adjust_covariates(t["phenotype"].to_numpy(float), t[covariates],
                                           (t["split"] == "train").to_numpy())
        table["phenotype"] = adjusted
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
    """Write the cohort's HTML report from the workflow's outputs."""
    from . import report as rep

    models = list(params["models"])
    files = {k: paths[k] for k in ("samples", "features", "kept", "removed", "split", "distribution",
                                   "curate_summary")}
    files.update(metrics=list(paths["metrics"]), predictions=list(paths["predictions"]),
                 history=list(paths["histories"]))
    if paths.get("truth"):
        files["truth"] = paths["truth"]
    kinds = dict(params["kinds"])
    ctx = rep.load_context(cohort, files, models, source=params["cohort"]["source"], model_kinds=kinds)
    ctx["extra_sections"] = _extra_sections(paths, models)
    rep.write_report(out, ctx)
    log.info("report written to %s", out)


def _extra_sections(paths: dict, models: list[str]) -> list[dict]:
    """Interpretation and unphenotyped-ranking sections from whatever outputs are inputs."""
    from . import report_sections as rs
    from .filters import read_meme

    sections = []
    if paths.get("kinship"):  # genotype cohorts: relatedness (seq2pheno.genotype_steps)
        sections.append(rs.kinship_report_section(paths))
    causal = read_json(paths["truth"])["causal"] if paths.get("truth") else None
    by_model: dict[str, dict[str, str]] = {}
    for path in paths.get("interpretation", []):
        by_model.setdefault(Path(path).parent.name, {})[Path(path).name] = path
    for model, files in by_model.items():
        with np.load(files["ism_maps.npz"]) as maps:
            global_map = maps["global_map"]
        recovery = read_json(files["truth_recovery.json"]) if "truth_recovery.json" in files else None
        sections.append(rs.interpretation_section(
            model, ism=read_tsv(files["ism.tsv"]), global_map=global_map,
            saliency=read_tsv(files["saliency.tsv"]), pwms=read_meme(files["filters.meme"]),
            influence=read_tsv(files["filter_influence.tsv"]),
            interactions=read_tsv(files["interactions.tsv"]), recovery=recovery, causal=causal))
    rankings = {m: read_tsv(p) for m, p in zip(models, paths.get("unphenotyped", []))}
    ranking = rs.unphenotyped_section(rankings)
    if ranking:
        sections.append(ranking)
    return sections


# ---- interpretation ------------------------------------------------------------------


def select_best(metrics_paths, models, *, out, log) -> str:
    """Write the name of the CNN with the best validation R² to ``out``; return it."""
    scores = {}
    for name, path in zip(models, metrics_paths):
        r2 = read_json(path).get("valid", {}).get("r2")
        scores[name] = -np.inf if r2 is None else r2
        log.info("%s: validation R² %s", name, r2)
    best = max(models, key=lambda m: scores[m])
    write_text(best + "\n", out)
    log.info("interpreting %s", best)
    return best


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


def interpret(paths: dict, settings: dict, *, out: dict, log) -> None:
    """ISM, saliency, filter PWMs and influence, pairwise epistasis for one CNN.

    The inputs are tensor rows of test samples: with a haplotype tensor, both haplotype rows of
    each chosen sample, each with the sample's phenotype (ism_maps.npz then has a ``haplotype``
    array, 0 or 1, beside ``ids``). ISM deltas are the model's change on one row; a sample's
    prediction averages its two rows, so a change on one haplotype moves it by half the delta.
    """
    import keras

    from . import filters, interactions, ism

    design, onehot = _design_and_tensor(paths)
    features = read_tsv(paths["features"])
    model = keras.models.load_model(paths["model"])
    chosen = interpreted_rows(design, settings["n_sequences"], settings["seed"])
    trows = design.tensor_rows(chosen)
    order = np.argsort(trows, kind="stable")
    x = np.asarray(onehot[trows[order]], dtype=np.float32)
    ids = design.per_row(design.ids, chosen)[order]
    y = design.per_row(design.phenotype, chosen)[order]
    extra = {"haplotype": trows[order] % design.rows_per_sample} if design.rows_per_sample > 1 else {}
    log.info("interpreting %d test sequences of length %d%s", len(x), x.shape[1],
             f" (both haplotypes of {len(chosen)} samples)" if extra else "")

    deltas = ism.ism(model, x, log=log)
    importance = ism.position_importance(deltas)
    global_map = ism.global_map(deltas)
    sal = ism.saliency_importance(ism.saliency(model, x))
    log.info("saliency vs ISM importance: Spearman rho = %.3f",
             ism.compare_importance(importance, sal)["spearman_r"])
    table = ism.importance_table(importance, features)
    for base, col in zip("ACGT", global_map.T):
        table[f"mean_delta_{base}"] = col
    write_tsv(table, out["ism"])
    with atomic_path(out["ism_maps"]) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, ids=ids, deltas=deltas.astype(np.float32), onehot=x, global_map=global_map,
                            **extra)
    saliency_table = ism.importance_table(sal)[["position", "importance", "rank"]].rename(
        columns={"importance": "saliency"})
    saliency_table["ism_rank"] = table["rank"]
    write_tsv(saliency_table, out["saliency"])

    pwms = filters.filter_pwms(model, x)
    filters.write_meme(out["meme"], pwms)
    write_tsv(pd.DataFrame([{k: v for k, v in p.items() if k != "pfm"} for p in pwms],
                           columns=["filter", "n_hits", "informative", "top_positions"]), out["filters"])
    influence = filters.filter_influence(model, x, y)
    write_tsv(influence, out["influence"])
    log.info("%d of %d filters informative", sum(p["informative"] for p in pwms), len(pwms))

    top = np.sort(np.argsort(-importance, kind="stable")[: settings["top_positions"]])
    pairs = interactions.pairwise_epistasis(model, x, top, log=log)
    write_tsv(pairs, out["interactions"])


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
