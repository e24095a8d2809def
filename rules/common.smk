# Config validation, cohort and model bookkeeping, and the input functions of every rule.
import re
import sys
from types import SimpleNamespace

sys.path.insert(0, workflow.basedir)

from seq2pheno import models as registry
from seq2pheno.config import (
    GENOTYPE_SOURCES,
    check_paths,
    cohort_models,
    cohort_settings,
    model_candidates,
    model_entry,
    validate_config,
)
from seq2pheno.errors import InputError
from seq2pheno.evaluation import fold_names
from seq2pheno.ensemble import parse_ensemble
from seq2pheno.search import parse_search

try:
    _validated = validate_config(config, source="config")
    check_paths(_validated)
except InputError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_validated)

COHORTS = config["cohorts"]
SOURCES = ("simulate", "table", "fasta", "vcf", "markers", "plink")
GENOTYPE_COHORTS = [c for c, e in COHORTS.items() if e["source"] in GENOTYPE_SOURCES]


def settings(cohort, section):
    """A cohort's curation / split / evaluation settings (its own keys over the top level)."""
    return cohort_settings(config, cohort, section)


# ---- models: every decision about a kind is the registry's (seq2pheno/models/) -----------

try:
    MODELS_OF = {c: list(cohort_models(config, c)) for c in COHORTS}
    # a model that chooses among candidate architectures (``default``): each candidate is
    # trained as the model "{model}~{candidate}", and the one with the lowest validation loss
    # becomes the model (rule select_candidate, per fold; the test split never chooses)
    CANDIDATES = {}
    for _c in COHORTS:
        for _m in MODELS_OF[_c]:
            _cands = model_candidates(config, _c, _m)
            if _cands:
                CANDIDATES[(_c, _m)] = [f"{_m}~{_x}" for _x in _cands]
    TRAINED_OF = {
        c: [t for m in MODELS_OF[c] for t in CANDIDATES.get((c, m), [m])]
        for c in COHORTS
    }
    ENTRY = {(c, m): model_entry(config, c, m) for c in COHORTS for m in MODELS_OF[c]}
    # a model with `ensemble:` (rules/ensemble.smk): K members trained as K jobs; their mean
    # is the model's prediction and their SD its spread
    ENSEMBLE = {k: e.pop("ensemble") for k, e in ENTRY.items() if "ensemble" in e}
    # a model with `search:` (rules/search.smk): its trials run as jobs, and the entry of the
    # best trial by validation loss is trained as the model
    SEARCH = {}
    for _key, _entry in ENTRY.items():
        if "search" in _entry:
            SEARCH[_key] = _entry.pop("search")
            SEARCH[_key], _params = parse_search(SEARCH[_key], _key[1], _entry)
            _presets = [p.choices for p in _params if p.path == "preset"]
            for _preset in _presets[0] if _presets else [None]:
                _e = dict(_entry, preset=_preset) if _preset else _entry
                if not registry.kind(_e, _key[1]).GPU:
                    raise registry.SpecError(
                        f"model {_key[1]!r}: search trains networks (cnn kinds); "
                        f"{registry.kind_name(_e, _key[1])!r} tunes itself on the validation split"
                    )
    for _key in ENSEMBLE:
        ENSEMBLE[_key] = parse_ensemble(ENSEMBLE[_key], _key[1], SEARCH.get(_key))
    for (_c, _m), _names in CANDIDATES.items():
        for _t in _names:
            ENTRY[(_c, _t)] = model_entry(config, _c, _m, _t.split("~", 1)[1])
            ENTRY[(_c, _t)].pop("ensemble", None)
    KIND_OF = {key: registry.kind(entry, key[1]).KIND for key, entry in ENTRY.items()}
    for (_c, _m), _entry in ENTRY.items():
        if (_c, _m) not in CANDIDATES:
            registry.resolve_spec(_m.split("~", 1)[-1] if "~" in _m else _m, _entry)
    for (_c, _m), _names in CANDIDATES.items():
        _kinds = {KIND_OF[(_c, _t)] for _t in _names}
        if len(_kinds) != 1:
            raise WorkflowError(
                f"config: models.{_m}: candidates must be of one kind, got {sorted(_kinds)}"
            )
        KIND_OF[(_c, _m)] = _kinds.pop()
    for _key in ENSEMBLE:
        if not registry.KINDS[KIND_OF[_key]].GPU:
            raise registry.SpecError(
                f"model {_key[1]!r}: an ensemble averages networks (cnn kinds); "
                f"{KIND_OF[_key]!r} is fitted deterministically, its members would agree"
            )
except (InputError, registry.SpecError) as err:
    raise WorkflowError(f"config: models: {err}") from None
MODELS = list(dict.fromkeys(m for c in COHORTS for m in MODELS_OF[c]))
SELECTED_MODELS = sorted({m for (_c, m) in CANDIDATES})
if any(
    (c, m) not in CANDIDATES
    for c in COHORTS
    for m in MODELS_OF[c]
    if m in SELECTED_MODELS
):
    raise WorkflowError(
        f"config: models {SELECTED_MODELS}: a model that chooses among candidates in one cohort "
        "must do so in every cohort (give it `candidates:` or an architecture everywhere)"
    )
TRAINED = list(dict.fromkeys(t for c in COHORTS for t in TRAINED_OF[c]))


def kind_of(cohort, model):
    return registry.KINDS[KIND_OF[(cohort, model)]]


def models_where(test, names=None):
    names = MODELS if names is None else names
    return [
        m
        for m in names
        if any((c, m) in KIND_OF and test(kind_of(c, m)) for c in COHORTS)
    ]


SEARCHED_MODELS = sorted({m for (_c, m) in SEARCH})
if any(
    (c, m) not in SEARCH for c in COHORTS for m in MODELS_OF[c] if m in SEARCHED_MODELS
):
    raise WorkflowError(
        f"config: models {SEARCHED_MODELS}: a model with `search:` in one cohort must have it "
        "in every cohort (give the cohort's own entry a search too, or another name)"
    )
if set(SEARCHED_MODELS) & set(SELECTED_MODELS):
    raise WorkflowError(
        f"config: models {sorted(set(SEARCHED_MODELS) & set(SELECTED_MODELS))}: `search:` and "
        "`candidates:` are two ways to choose; let the search choose the preset "
        "(space: {preset: {choice: [...]}})"
    )

# models trained by train_gpu / train_cpu (candidates included, choices and searches excluded)
GPU_MODELS = [
    m
    for m in models_where(lambda k: k.GPU, TRAINED)
    if m not in SELECTED_MODELS and m not in SEARCHED_MODELS
]
CPU_MODELS = [
    m for m in models_where(lambda k: not k.GPU, TRAINED) if m not in SELECTED_MODELS
]
ISM_MODELS = models_where(lambda k: k.INTERPRETATION == "ism")
ENSEMBLE_MODELS = sorted({m for (_c, m) in ENSEMBLE})
for _c in COHORTS:
    for _m in config["interpret"]["models"]:
        if _m not in MODELS_OF[_c]:
            raise WorkflowError(
                f"config: interpret.models: {_m!r} is not a model of cohort {_c!r}"
            )
# One training rule per resource class, so each class has one artefact file name.
ARTEFACT = {
    cls: {k.ARTEFACT for k in registry.KINDS.values() if k.GPU == (cls == "gpu")}
    for cls in ("gpu", "cpu")
}
for _cls, _names in ARTEFACT.items():
    if len(_names) > 1:
        raise WorkflowError(
            f"model kinds of the {_cls} class write different artefacts: {sorted(_names)}"
        )
ARTEFACT = {
    cls: (names.pop() if names else f"model.{cls}") for cls, names in ARTEFACT.items()
}


def folds_of(cohort):
    """The folds of a cohort: ["holdout"], or "{repeat}_{fold}" under k-fold evaluation."""
    ev = settings(cohort, "evaluation")
    return fold_names(ev["scheme"], ev["folds"], ev["repeats"])


FOLDS = sorted({f for c in COHORTS for f in folds_of(c)})
KFOLD_COHORTS = [c for c in COHORTS if settings(c, "evaluation")["scheme"] == "kfold"]
HOLDOUT_COHORTS = [c for c in COHORTS if c not in KFOLD_COHORTS]
INTERPRET_FILES = [
    "ism.tsv",
    "ism_maps.npz",
    "saliency.tsv",
    "filters.meme",
    "filters.tsv",
    "filter_influence.tsv",
    "interactions.tsv",
]
# Kinds interpreted by their own parameters (by the interpret_coefficients rule): effects.tsv, or the
# k-mer table of kinds that have one (kmer_ridge: top_kmers).
COEFFICIENT_MODELS = models_where(lambda k: k.INTERPRETATION == "coefficients")


def one_of(names):
    """A wildcard regex matching exactly these names (matching nothing when empty)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def cohorts_from(*sources):
    return [c for c, entry in COHORTS.items() if entry["source"] in sources]


wildcard_constraints:
    cohort=one_of(COHORTS),
    model=one_of(MODELS + [t for t in TRAINED if t not in MODELS]),
    fold=one_of(FOLDS),


# ---- input functions ------------------------------------------------------------------


def cohort_entry(wildcards):
    return COHORTS[wildcards.cohort]


def cohort_path(key):
    """An input function giving the cohort's file named by ``key`` (table, fasta, ...)."""

    def path(wildcards):
        return COHORTS[wildcards.cohort][key]

    return path


def model_spec(wildcards):
    return {"name": wildcards.model, **ENTRY[(wildcards.cohort, wildcards.model)]}


def model_kind_name(wildcards):
    return KIND_OF[(wildcards.cohort, wildcards.model)]


def fold_dir(cohort, fold):
    return f"results/{cohort}/folds/{fold}"


def fold_split_file(wildcards, fold=None):
    """The split.tsv of a fold: split/split.tsv of a holdout run, folds/{fold}/split.tsv else."""
    fold = fold or wildcards.fold
    if fold == "holdout":
        return f"results/{wildcards.cohort}/split/split.tsv"
    return f"{fold_dir(wildcards.cohort, fold)}/split.tsv"


def fold_distribution_file(wildcards, fold=None):
    return fold_split_file(wildcards, fold).replace("split.tsv", "distribution.json")


def first_fold(cohort):
    """The fold whose model is interpreted and scores new genotypes (the holdout model)."""
    return folds_of(cohort)[0]


def trained_model(wildcards, fold=None):
    """The artefact of a model on a fold (the kind says its file name)."""
    cohort, model = wildcards.cohort, wildcards.model
    fold = fold or getattr(wildcards, "fold", None) or first_fold(cohort)
    artefact = kind_of(cohort, model).ARTEFACT
    return f"{fold_dir(cohort, fold)}/models/{model}/{artefact}"


def model_tensor(wildcards):
    """The tensor models read: genotype cohorts with mean-imputed missing calls read the imputed copy."""
    entry = COHORTS[wildcards.cohort]
    if entry["source"] in GENOTYPE_SOURCES and entry.get("missing") == "mean":
        return f"results/{wildcards.cohort}/split/onehot.npy"
    return f"results/{wildcards.cohort}/data/onehot.npy"


def fold_outputs(wildcards, name):
    """A model's file ``name`` on every fold of the cohort."""
    return [
        f"{fold_dir(wildcards.cohort, f)}/models/{wildcards.model}/{name}"
        for f in folds_of(wildcards.cohort)
    ]


def fold_column_table(wildcards):
    """The phenotype table when evaluation names a fold or group column in it; [] otherwise."""
    ev = settings(wildcards.cohort, "evaluation")
    if not (ev.get("fold_column") or ev.get("group_column")):
        return []
    entry = COHORTS[wildcards.cohort]
    if "phenotypes" in entry:
        return entry["phenotypes"]
    if "table" in entry:
        return entry["table"]
    raise WorkflowError(
        f"config: cohorts.{wildcards.cohort}.evaluation: fold_column / group_column need a phenotype table"
    )


def candidate_files(wildcards, name):
    """The candidates' files ``name`` (artefact or history.tsv) on the fold, in config order."""
    out = []
    for cand in CANDIDATES[(wildcards.cohort, wildcards.model)]:
        w = SimpleNamespace(cohort=wildcards.cohort, model=cand, fold=wildcards.fold)
        out.append(
            trained_model(w)
            if name == "model"
            else f"{fold_dir(w.cohort, w.fold)}/models/{cand}/{name}"
        )
    return out


def member_dir(cohort, fold, model, member):
    return f"{fold_dir(cohort, fold)}/models/{model}/members/{member}"


def member_numbers(cohort, model):
    """The members trained by train_member: 1..K-1 (member 0 is the model itself), or 0..K-1
    under `over: folds` (the model is then a single network, trained as without an ensemble).
    """
    ens = ENSEMBLE[(cohort, model)]
    return range(0 if ens["over"] == "folds" else 1, ens["members"])


def ensemble_members(wildcards, name=None, fold=None):
    """The member artefacts (or their file ``name``) of an ensemble on a fold; [] otherwise."""
    cohort, model = wildcards.cohort, wildcards.model
    if (cohort, model) not in ENSEMBLE:
        return []
    fold = fold or getattr(wildcards, "fold", None) or first_fold(cohort)
    name = name or ARTEFACT["gpu"]
    return [
        f"{member_dir(cohort, fold, model, i)}/{name}"
        for i in member_numbers(cohort, model)
    ]


def ensemble_member_splits(wildcards):
    """An `over: folds` ensemble's member splits on the fold (their validation folds); []."""
    ens = ENSEMBLE.get((wildcards.cohort, wildcards.model))
    if not ens or ens["over"] != "folds":
        return []
    return ensemble_members(wildcards, "split.tsv")


def ensemble_files(wildcards, fold=None):
    """The networks whose mean is the model's prediction on a fold, in member order: the model
    itself (a single model, or member 0) and the members train_member trains."""
    members = ensemble_members(wildcards, fold=fold)
    ens = ENSEMBLE.get((wildcards.cohort, wildcards.model))
    if ens and ens["over"] == "folds":
        return members
    return [trained_model(wildcards, fold)] + members


def member_inputs(wildcards):
    """A member's training inputs: the fold's data, and what chose its architecture (the
    selection of a model with candidates, the best trials of a search)."""
    files = {
        "onehot": model_tensor(wildcards),
        "samples": f"results/{wildcards.cohort}/data/samples.tsv",
        "split": fold_split_file(wildcards),
        "kept": f"results/{wildcards.cohort}/curate/kept.tsv",
    }
    key = (wildcards.cohort, wildcards.model)
    if key in CANDIDATES:
        files["selection"] = (
            f"{fold_dir(wildcards.cohort, wildcards.fold)}/models/{wildcards.model}/selection.tsv"
        )
    if key in SEARCH:
        files["best"] = (
            f"{search_dir(wildcards.cohort, wildcards.fold, wildcards.model)}/best.json"
        )
    return files


def member_plan(wildcards):
    """What a member trains: the ensemble settings, the training seed, and the entry (or the
    candidates' entries, one of which the fold's selection names)."""
    key = (wildcards.cohort, wildcards.model)
    plan = {**ENSEMBLE[key], "seed": config["training"]["seed"]}
    if key in CANDIDATES:
        plan["candidates"] = {
            t.split("~", 1)[1]: ENTRY[(wildcards.cohort, t)] for t in CANDIDATES[key]
        }
    else:
        plan["entry"] = ENTRY[key]
    return plan


def search_dir(cohort, fold, model):
    return f"{fold_dir(cohort, fold)}/search/{model}"


def search_workers(wildcards):
    """The worker tables of a fold's search (one job per worker)."""
    n = SEARCH[(wildcards.cohort, wildcards.model)]["workers"]
    d = search_dir(wildcards.cohort, wildcards.fold, wildcards.model)
    return [f"{d}/worker_{i}.tsv" for i in range(n)]


def search_outputs(wildcards):
    """search/{model}/trials.tsv and best.tsv of every searched model of the cohort."""
    return [
        f"results/{wildcards.cohort}/search/{m}/{name}"
        for m in MODELS_OF[wildcards.cohort]
        if (wildcards.cohort, m) in SEARCH
        for name in ("trials.tsv", "best.tsv")
    ]


def selection_tables(wildcards):
    return [
        f"{fold_dir(wildcards.cohort, f)}/models/{wildcards.model}/selection.tsv"
        for f in folds_of(wildcards.cohort)
    ]


def selection_outputs(wildcards):
    """models/{model}/selection.tsv of every model that chooses among candidates."""
    return [
        f"results/{wildcards.cohort}/models/{m}/selection.tsv"
        for m in MODELS_OF[wildcards.cohort]
        if (wildcards.cohort, m) in CANDIDATES
    ]


def all_fold_metrics(wildcards):
    """Every model's metrics.json on every fold, model-major."""
    return [
        f"{fold_dir(wildcards.cohort, f)}/models/{m}/metrics.json"
        for m in MODELS_OF[wildcards.cohort]
        for f in folds_of(wildcards.cohort)
    ]


def truth_if_simulated(wildcards):
    if COHORTS[wildcards.cohort]["source"] == "simulate":
        return f"results/{wildcards.cohort}/data/truth.json"
    return []


def model_outputs(wildcards, name):
    return expand(
        "results/{cohort}/models/{model}/{name}",
        cohort=wildcards.cohort,
        model=MODELS_OF[wildcards.cohort],
        name=name,
    )


def all_metrics(wildcards):
    return model_outputs(wildcards, "metrics.json")


def all_predictions(wildcards):
    return model_outputs(wildcards, "predictions.tsv")


def all_unphenotyped(wildcards):
    return model_outputs(wildcards, "predict_unphenotyped.tsv")


def all_histories(wildcards):
    """Each model's training history on the first fold."""
    fold = first_fold(wildcards.cohort)
    return [
        f"{fold_dir(wildcards.cohort, fold)}/models/{m}/history.tsv"
        for m in MODELS_OF[wildcards.cohort]
    ]


def ism_models_of(cohort):
    return [m for m in MODELS_OF[cohort] if kind_of(cohort, m).INTERPRETATION == "ism"]


def cnn_metrics(wildcards):
    return expand(
        "results/{cohort}/models/{model}/metrics.json",
        cohort=wildcards.cohort,
        model=ism_models_of(wildcards.cohort),
    )


def ridge_models_of_cohort(wildcards):
    """The trained one-hot ridge models of a cohort (first fold): the truth-recovery baseline."""
    fold = first_fold(wildcards.cohort)
    return [
        trained_model(SimpleNamespace(cohort=wildcards.cohort, model=m), fold)
        for m in MODELS_OF[wildcards.cohort]
        if KIND_OF[(wildcards.cohort, m)] == "ridge"
    ]


def evaluation_outputs(wildcards):
    return [
        f"results/{wildcards.cohort}/evaluation/per_fold.tsv",
        f"results/{wildcards.cohort}/evaluation/summary.tsv",
    ]


def interpreted_models(wildcards):
    """The models interpreted for a cohort: config's list, else the best of any kind by
    validation Pearson r (then R²; the select_interpreted checkpoint)."""
    if config["interpret"]["models"]:
        return config["interpret"]["models"]
    if not MODELS_OF[wildcards.cohort]:
        return []
    selection = checkpoints.select_interpreted.get(cohort=wildcards.cohort).output[0]
    with open(selection) as fh:
        return fh.read().split()


def interpreted_ism_models(wildcards):
    """The interpreted models whose interpretation is ISM (networks)."""
    return [
        m
        for m in interpreted_models(wildcards)
        if kind_of(wildcards.cohort, m).INTERPRETATION == "ism"
    ]


def interpretation_files(cohort, model):
    """File names under interpret/{model}/ of a model's interpretation, by its kind's INTERPRETATION:
    "ism" -> INTERPRET_FILES (rule interpret; + truth_recovery.json on simulated cohorts);
    "coefficients" -> kmers.tsv for kinds with top_kmers, else effects.tsv (rule interpret_coefficients).
    """
    kind = kind_of(cohort, model)
    if kind.INTERPRETATION == "ism":
        extra = (
            ["truth_recovery.json"] if COHORTS[cohort]["source"] == "simulate" else []
        )
        if config["interpret"]["motifs"] and cohort not in GENOTYPE_COHORTS:
            extra.append("motif_matches.tsv")
        return INTERPRET_FILES + extra
    if kind.INTERPRETATION == "coefficients":
        return ["kmers.tsv"] if hasattr(kind, "top_kmers") else ["effects.tsv"]
    return []


def interpretation_outputs(wildcards):
    return [
        f"results/{wildcards.cohort}/interpret/{m}/{name}"
        for m in interpreted_models(wildcards)
        for name in interpretation_files(wildcards.cohort, m)
    ]


def interpret_mem_mb(wildcards=None):
    """The interpret rule's memory request: interpret.memory_mb, the bound on the job's peak RSS
    (the interpretation sizes its chunks to what the process has left under it)."""
    return int(config["interpret"]["memory_mb"])


def all_targets():
    return (
        expand("results/{cohort}/report.html", cohort=COHORTS)
        + expand(
            "results/{cohort}/figures/index.tsv", cohort=COHORTS
        )  # rules/figures.smk
        + predict_targets()
    )


# ---- genotype cohorts (rules/genotype.smk) ----------------------------------------------

import os

VCF_COHORTS = cohorts_from("vcf")
# vcf, markers and plink cohorts write the same import files; from curation on they share rules
GENOTYPE_MEAN_COHORTS = [c for c in GENOTYPE_COHORTS if COHORTS[c]["missing"] == "mean"]
PREDICT = config.get("predict", {})

for _name, _entry in PREDICT.items():
    if COHORTS[_entry["cohort"]]["source"] != "vcf":
        raise WorkflowError(
            f"config: predict.{_name}.cohort: {_entry['cohort']!r} is not a vcf cohort; "
            "only genotype cohorts can score new VCFs"
        )


def vcf_cohort_entry(wildcards):
    """A genotype cohort's entry for its import: which contigs are autosomes comes from the
    cohort's curation settings (dosage.npy, the kinship input, is written at import)."""
    return {
        "name": wildcards.cohort,
        **COHORTS[wildcards.cohort],
        "autosomes": settings(wildcards.cohort, "curation").get("autosomes"),
    }


def vcf_inputs(wildcards):
    """The VCF, its FASTA and phenotypes (and samples list / BED) of a vcf cohort."""
    entry = COHORTS[wildcards.cohort]
    files = {
        "vcf": entry["vcf"],
        "fasta": entry["fasta"],
        "phenotypes": entry["phenotypes"],
    }
    if entry.get("samples"):
        files["samples"] = entry["samples"]
    if isinstance(entry.get("regions"), str):
        files["regions"] = entry["regions"]
    return files


def imputation_samples(wildcards):
    """Whose called genotypes give the imputation frequencies: the holdout training split, or
    under k-fold every kept sample (genotypes only, no phenotype: nothing leaks into a test fold).
    """
    if wildcards.cohort in KFOLD_COHORTS:
        return f"results/{wildcards.cohort}/curate/kept.tsv"
    return f"results/{wildcards.cohort}/split/split.tsv"


def vcf_covariates(wildcards):
    return COHORTS[wildcards.cohort]["covariates"]


def markers_inputs(wildcards):
    """The marker matrix, its map (when given) and phenotypes of a markers cohort."""
    entry = COHORTS[wildcards.cohort]
    files = {"markers": entry["markers"], "phenotypes": entry["phenotypes"]}
    if entry.get("map"):
        files["map"] = entry["map"]
    return files


def plink_inputs(wildcards):
    """prefix.bed, .bim and .fam and the phenotypes of a plink cohort."""
    from seq2pheno.markers import plink_files

    entry = COHORTS[wildcards.cohort]
    files = {k: str(v) for k, v in plink_files(entry["plink"]).items()}
    files["phenotypes"] = entry["phenotypes"]
    return files


# Chunked import (`import_chunks` > 1): scatter jobs read pieces of the genome through an index.
VCF_CHUNKED_COHORTS = [c for c in VCF_COHORTS if COHORTS[c]["import_chunks"] > 1]
VCF_SINGLE_COHORTS = [c for c in VCF_COHORTS if c not in VCF_CHUNKED_COHORTS]


def vcf_scatter_name(cohort):
    """The scattergather name of a chunked cohort (`--set-scatter vcf_import_<cohort>=N`)."""
    return f"vcf_import_{cohort}"


def vcf_own_index(cohort):
    """The index htslib finds beside a cohort's bgzipped VCF or BCF (.tbi, then .csi), or None."""
    path = str(COHORTS[cohort]["vcf"])
    if path.lower().endswith(".vcf"):
        return None
    return next(
        (path + ext for ext in (".tbi", ".csi") if os.path.exists(path + ext)), None
    )


VCF_CHUNKED_UNINDEXED = [c for c in VCF_CHUNKED_COHORTS if vcf_own_index(c) is None]
VCF_CHUNKED_PLAIN = [
    c for c in VCF_CHUNKED_UNINDEXED if str(COHORTS[c]["vcf"]).lower().endswith(".vcf")
]


# Settings a chunk job does not read (the filters, phenotypes and covariates are applied once,
# by the gather job): changing them reruns only the gather job (when the chunks are still there).
VCF_GATHER_ONLY_KEYS = {
    "phenotypes",
    "covariates",
    "missing_ids",
    "max_missing_variant",
    "max_missing_sample",
    "min_maf",
    "import_chunks",
    "autosomes",
}


def vcf_chunk_entry(wildcards):
    """The cohort entry of a chunk job: what reading the VCF depends on."""
    entry = vcf_cohort_entry(wildcards)
    return {k: v for k, v in entry.items() if k not in VCF_GATHER_ONLY_KEYS}


def vcf_chunk_source(wildcards):
    """The file the chunk jobs read: the VCF, or the bgzipped copy of a plain-text one."""
    if wildcards.cohort in VCF_CHUNKED_PLAIN:
        return f"results/{wildcards.cohort}/data/chunks/input.vcf.gz"
    return COHORTS[wildcards.cohort]["vcf"]


def vcf_chunk_inputs(wildcards):
    """One chunk job: the VCF it reads and its index (its own, or one made under results/),
    the FASTA, and the samples list / BED of the cohort."""
    files = vcf_inputs(wildcards)
    del files["phenotypes"]
    files["vcf"] = vcf_chunk_source(wildcards)
    files["index"] = (
        vcf_own_index(wildcards.cohort)
        or f"results/{wildcards.cohort}/data/chunks/input.csi"
    )
    return files


def vcf_gather_inputs(wildcards):
    """The gather job: every chunk of the cohort (Snakemake gather), FASTA, phenotypes, ..."""
    scattered = getattr(gather, vcf_scatter_name(wildcards.cohort))
    return {
        "chunks": scattered(
            "results/{cohort}/data/chunks/{scatteritem}.npz", cohort=wildcards.cohort
        ),
        **vcf_inputs(wildcards),
    }


def predict_entry(wildcards):
    entry = PREDICT[wildcards.name]
    if entry["cohort"] != wildcards.cohort:
        raise WorkflowError(
            f"predict.{wildcards.name} scores with cohort {entry['cohort']!r}, "
            f"not {wildcards.cohort!r}: ask for results/{entry['cohort']}/predict/{wildcards.name}/"
        )
    return entry


def predict_vcf(wildcards):
    return PREDICT[wildcards.name]["vcf"]


def predict_models(wildcards):
    """The model on every fold (k-fold: the mean of the fold models scores new samples), and
    an ensemble's members on every fold (the mean of all of them)."""
    return [a for f in folds_of(wildcards.cohort) for a in ensemble_files(wildcards, f)]


def predict_tensor(wildcards):
    return model_tensor(SimpleNamespace(cohort=wildcards.cohort))


def kinship_outputs(wildcards):
    """Genotype cohorts: curate/kinship.tsv, curate/related.tsv and data/import_summary.json (how
    the genotypes were read) for the report; [] otherwise."""
    if COHORTS[wildcards.cohort]["source"] in GENOTYPE_SOURCES:
        return [
            f"results/{wildcards.cohort}/curate/kinship.tsv",
            f"results/{wildcards.cohort}/curate/related.tsv",
            f"results/{wildcards.cohort}/data/import_summary.json",
        ]
    return []


def predict_targets():
    """results/{cohort}/predict/{name}/{model}.tsv for every `predict:` entry and model."""
    return [
        f"results/{entry['cohort']}/predict/{name}/{model}.tsv"
        for name, entry in config.get("predict", {}).items()
        for model in MODELS_OF[entry["cohort"]]
    ]
