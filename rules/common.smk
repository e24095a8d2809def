# Config validation, cohort and model bookkeeping, and the input functions of every rule.
import re
import sys

sys.path.insert(0, workflow.basedir)

from seq2pheno.config import check_paths, validate_config
from seq2pheno.errors import InputError


try:
    _validated = validate_config(config, source="config")
    check_paths(_validated)
except InputError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_validated)

COHORTS = config["cohorts"]
SOURCES = ("simulate", "table", "fasta", "vcf")
MODEL_PRESET_TYPES = {"default": "cnn", "seed_cnn": "cnn", "ridge": "ridge"}


def model_type(name):
    """'cnn' or 'ridge' for a model named in config."""
    spec = config["models"][name]
    kind = spec.get("type") or MODEL_PRESET_TYPES.get(spec.get("preset", name))
    if kind is None:
        raise WorkflowError(
            f"config: models.{name}: give `type: cnn|ridge` or `preset: default|seed_cnn|ridge`"
        )
    return kind


MODELS = list(config["models"])
CNN_MODELS = [m for m in MODELS if model_type(m) == "cnn"]
RIDGE_MODELS = [m for m in MODELS if model_type(m) == "ridge"]
for _name in config["interpret"]["models"]:
    if _name not in CNN_MODELS:
        raise WorkflowError(
            f"config: interpret.models: {_name!r} is not a CNN of `models:` ({', '.join(CNN_MODELS) or 'none'})"
        )
INTERPRET_FILES = [
    "ism.tsv",
    "ism_maps.npz",
    "saliency.tsv",
    "filters.meme",
    "filters.tsv",
    "filter_influence.tsv",
    "interactions.tsv",
]


def one_of(names):
    """A wildcard regex matching exactly these names (matching nothing when empty)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def cohorts_from(*sources):
    return [c for c, entry in COHORTS.items() if entry["source"] in sources]


wildcard_constraints:
    cohort=one_of(COHORTS),
    model=one_of(MODELS),


# ---- input functions ------------------------------------------------------------------


def cohort_entry(wildcards):
    return COHORTS[wildcards.cohort]


def cohort_path(key):
    """An input function giving the cohort's file named by ``key`` (table, fasta, ...)."""

    def path(wildcards):
        return COHORTS[wildcards.cohort][key]

    return path


def model_spec(wildcards):
    return {"name": wildcards.model, **config["models"][wildcards.model]}


def trained_model(wildcards):
    filename = "model.keras" if model_type(wildcards.model) == "cnn" else "model.npz"
    return f"results/{wildcards.cohort}/models/{wildcards.model}/{filename}"


def model_tensor(wildcards):
    """The tensor models read: VCF cohorts with mean-imputed missing calls use the imputed copy."""
    entry = COHORTS[wildcards.cohort]
    if entry["source"] == "vcf" and entry["missing"] == "mean":
        return f"results/{wildcards.cohort}/split/onehot.npy"
    return f"results/{wildcards.cohort}/data/onehot.npy"


def truth_if_simulated(wildcards):
    if COHORTS[wildcards.cohort]["source"] == "simulate":
        return f"results/{wildcards.cohort}/data/truth.json"
    return []


def model_outputs(wildcards, name):
    return expand(
        "results/{cohort}/models/{model}/{name}",
        cohort=wildcards.cohort,
        model=MODELS,
        name=name,
    )


def all_metrics(wildcards):
    return model_outputs(wildcards, "metrics.json")


def all_predictions(wildcards):
    return model_outputs(wildcards, "predictions.tsv")


def all_unphenotyped(wildcards):
    return model_outputs(wildcards, "predict_unphenotyped.tsv")


def all_histories(wildcards):
    return model_outputs(wildcards, "history.tsv")


def cnn_metrics(wildcards):
    return expand(
        "results/{cohort}/models/{model}/metrics.json",
        cohort=wildcards.cohort,
        model=CNN_MODELS,
    )


def ridge_models_of_cohort(wildcards):
    return expand(
        "results/{cohort}/models/{model}/model.npz",
        cohort=wildcards.cohort,
        model=RIDGE_MODELS,
    )


def interpreted_models(wildcards):
    """The CNNs interpreted for a cohort: config's list, else the best by validation R²."""
    if config["interpret"]["models"]:
        return config["interpret"]["models"]
    if not CNN_MODELS:
        return []
    selection = checkpoints.select_interpreted.get(cohort=wildcards.cohort).output[0]
    with open(selection) as fh:
        return fh.read().split()


def interpretation_outputs(wildcards):
    models = interpreted_models(wildcards)
    files = expand(
        "results/{cohort}/interpret/{model}/{name}",
        cohort=wildcards.cohort,
        model=models,
        name=INTERPRET_FILES,
    )
    if COHORTS[wildcards.cohort]["source"] == "simulate":
        files += expand(
            "results/{cohort}/interpret/{model}/truth_recovery.json",
            cohort=wildcards.cohort,
            model=models,
        )
    return files


def all_targets():
    return expand("results/{cohort}/report.html", cohort=COHORTS) + predict_targets()


# ---- genotype cohorts (rules/genotype.smk) ----------------------------------------------

import os
from types import SimpleNamespace

VCF_COHORTS = cohorts_from("vcf")
VCF_MEAN_COHORTS = [c for c in VCF_COHORTS if COHORTS[c]["missing"] == "mean"]
PREDICT = config.get("predict", {})

for _name, _entry in PREDICT.items():
    if COHORTS[_entry["cohort"]]["source"] != "vcf":
        raise WorkflowError(
            f"config: predict.{_name}.cohort: {_entry['cohort']!r} is not a vcf cohort; "
            "only genotype cohorts can score new VCFs"
        )


def vcf_cohort_entry(wildcards):
    return {"name": wildcards.cohort, **COHORTS[wildcards.cohort]}


def vcf_inputs(wildcards):
    """The VCF, its FASTA and phenotypes (and samples list / BED) of a vcf cohort."""
    entry = COHORTS[wildcards.cohort]
    files = {"vcf": entry["vcf"], "fasta": entry["fasta"], "phenotypes": entry["phenotypes"]}
    if entry.get("samples"):
        files["samples"] = entry["samples"]
    if isinstance(entry.get("regions"), str):
        files["regions"] = entry["regions"]
    return files


def vcf_covariates(wildcards):
    return COHORTS[wildcards.cohort]["covariates"]


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
    return next((path + ext for ext in (".tbi", ".csi") if os.path.exists(path + ext)), None)


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
    return [trained_model(SimpleNamespace(cohort=wildcards.cohort, model=m)) for m in MODELS]


def predict_tensor(wildcards):
    return model_tensor(SimpleNamespace(cohort=wildcards.cohort))


def kinship_outputs(wildcards):
    """VCF cohorts: curate/kinship.tsv and curate/related.tsv for the report; [] otherwise."""
    if COHORTS[wildcards.cohort]["source"] == "vcf":
        return [
            f"results/{wildcards.cohort}/curate/kinship.tsv",
            f"results/{wildcards.cohort}/curate/related.tsv",
        ]
    return []


def predict_targets():
    """results/{cohort}/predict/{name}/{model}.tsv for every `predict:` entry and model."""
    return [
        f"results/{entry['cohort']}/predict/{name}/{model}.tsv"
        for name, entry in config.get("predict", {}).items()
        for model in MODELS
    ]
