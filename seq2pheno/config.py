"""Configuration: validate a config dict against the JSON schema and fill its defaults.

The schema (config/schema/config.schema.yaml) rejects unknown keys. A violation becomes one
:class:`~seq2pheno.errors.InputError` line naming the key path, e.g.
``config: cohorts.demo.n: 'many' is not of type 'integer'``.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path

import jsonschema
import yaml

from .errors import InputError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema" / "config.schema.yaml"


def _with_defaults(validator_class):
    """A validator class that fills each missing property that has a ``default``."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    """The config schema, completed from the code that owns its parts.

    ``$defs.model`` comes from the registry of model kinds
    (:func:`seq2pheno.models.config_schema`), so the schema and the kinds cannot disagree;
    each cohort source also takes its own ``curation:``, ``split:`` and ``evaluation:``
    mappings, which override the top-level ones key by key (same keys, no defaults).
    """
    from .models import config_schema

    with open(path) as fh:
        schema = yaml.safe_load(fh)
    schema["$defs"]["model"] = config_schema()
    overrides = {name: _strip_defaults(schema["properties"][name])
                 for name in COHORT_OVERRIDES if name in schema["properties"]}
    for definition in schema["$defs"].values():
        props = definition.get("properties", {}) if isinstance(definition, dict) else {}
        if "const" in (props.get("source") or {}):
            props.update(overrides)
    return schema


#: Top-level sections a cohort may override with its own mapping.
COHORT_OVERRIDES = ("curation", "split", "evaluation", "models")


def _strip_defaults(schema):
    if isinstance(schema, dict):
        return {k: _strip_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_strip_defaults(v) for v in schema]
    return schema


def cohort_settings(config: dict, cohort: str, section: str) -> dict:
    """The ``section`` settings of ``cohort``: the top-level mapping with the cohort's own
    keys over it, and the defaults that depend on the cohort's source resolved
    (``evaluation.scheme``: kfold for genotype cohorts, holdout for sequence cohorts;
    ``curation.relatedness``: keep)."""
    entry = config["cohorts"][cohort]
    out = copy.deepcopy(config.get(section, {}))
    out.update(copy.deepcopy(entry.get(section, {})))
    genotype = entry["source"] in GENOTYPE_SOURCES
    if section == "evaluation" and out.get("scheme") is None:
        out["scheme"] = "kfold" if genotype else "holdout"
    return out


#: The models of a cohort when config names none, by kind of cohort (names of presets).
DEFAULT_MODELS = {
    "sequence": ("default", "seed_cnn", "ridge", "kmer_ridge"),
    "genotype": ("default", "ridge", "gblup", "sparse", "boosted"),
}


def cohort_models(config: dict, cohort: str) -> dict:
    """The ``models:`` of ``cohort``: its own mapping, else the top-level one, else
    :data:`DEFAULT_MODELS` for its kind (only presets that exist in this install)."""
    from .models import PRESETS

    entry = config["cohorts"][cohort]
    if entry.get("models"):
        return copy.deepcopy(entry["models"])
    if config.get("models"):
        return copy.deepcopy(config["models"])
    kind = "genotype" if entry["source"] in GENOTYPE_SOURCES else "sequence"
    return {name: {} for name in DEFAULT_MODELS[kind] if name in PRESETS}


#: The architectures ``default`` chooses among, per kind of cohort, by validation loss: the
#: positional network of the reference notebook's model and a motif network for sequences
#: (positional traits and motif-driven assays); for genotype cohorts the genotype network on
#: every marker (polygenic traits) and on the 50 markers that enter first a LARS path of
#: the training phenotype (a few loci of large effect).
DEFAULT_CANDIDATES = {"sequence": ("positional_cnn", "motif_cnn"),
                      "genotype": ("genotype_cnn", "genotype_screen_cnn")}

#: Keys of a model entry that tune training, not the architecture: ``default`` with only these
#: (and ``candidates``) is a choice among candidate architectures with these settings.
TRAINING_KEYS = {"learning_rate", "batch_size", "epochs", "patience", "reduce_lr_patience",
                 "reduce_lr_factor", "mixed_precision", "reverse_complement", "candidates", "min_delta",
                 "ensemble"}


def model_candidates(config: dict, cohort: str, name: str) -> list[str] | None:
    """The candidate presets a model entry chooses among (None: a single model).

    ``default`` without architecture keys chooses among :data:`DEFAULT_CANDIDATES` of its
    kind of cohort; any entry may name ``candidates: [preset, ...]`` itself.
    """
    entry = cohort_models(config, cohort)[name] or {}
    if entry.get("candidates"):
        return list(entry["candidates"])
    if name == "default" and set(entry) <= TRAINING_KEYS:
        from .models import PRESETS

        kind = "genotype" if config["cohorts"][cohort]["source"] in GENOTYPE_SOURCES else "sequence"
        return [c for c in DEFAULT_CANDIDATES[kind] if c in PRESETS]
    return None


def model_entry(config: dict, cohort: str, name: str, candidate: str | None = None) -> dict:
    """The config entry of model ``name`` for ``cohort`` (of one of its candidates when
    ``candidate`` is given: that preset with the entry's training keys over it)."""
    entry = copy.deepcopy(cohort_models(config, cohort)[name] or {})
    entry.pop("candidates", None)
    if candidate is not None:
        return {"preset": candidate, **entry}
    return entry


#: Sources whose tensor holds genotypes (one column per marker), not sequences.
GENOTYPE_SOURCES = ("vcf", "markers", "plink")


def _resolve_ref(schema, root: dict, depth: int = 0):
    """``schema`` with a local ``$ref`` replaced by its target (sibling keywords kept)."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 32:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            break
        target = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest} if rest else target
        depth += 1
    return schema


def _discriminated(branches: list, instance: dict, root: dict) -> list:
    """The anyOf/oneOf branches whose const/enum properties agree with ``instance`` (all
    branches when none does)."""
    def agrees(branch) -> bool:
        props = _resolve_ref(branch, root).get("properties", {}) if isinstance(branch, dict) else {}
        for key, sub in props.items():
            sub = _resolve_ref(sub, root)
            if key in instance and isinstance(sub, dict):
                if "const" in sub and instance[key] != sub["const"]:
                    return False
                if "enum" in sub and instance[key] not in sub["enum"]:
                    return False
        return True

    return [b for b in branches if agrees(b)] or list(branches)


def _object_views(schema, instance: dict, root: dict, validator, depth: int = 0) -> list[dict]:
    """The schemas that say which keys ``instance`` (a mapping) may have at this place: the
    schema itself and the allOf members, if/then branches and anyOf/oneOf branches that apply.
    When no ``if`` of an allOf holds (a cohort whose source is missing or unknown) every
    ``then`` counts, so the known keys are the union of all the sources' keys."""
    schema = _resolve_ref(schema, root)
    if not isinstance(schema, dict) or depth > 16:
        return []
    views = [schema]
    members = schema.get("allOf", [])
    conditional = [m for m in members if isinstance(m, dict) and "if" in m]
    for member in members:
        if member not in conditional:
            views += _object_views(member, instance, root, validator, depth + 1)
    if conditional:
        held = [m for m in conditional if validator.evolve(schema=m["if"]).is_valid(instance)]
        for member in held or conditional:
            branch = member.get("then")
            if branch is not None:
                views += _object_views(branch, instance, root, validator, depth + 1)
    for keyword in ("anyOf", "oneOf"):
        for branch in _discriminated(schema.get(keyword, []), instance, root):
            views += _object_views(branch, instance, root, validator, depth + 1)
    return views


def unknown_key(instance, schema: dict, root: dict | None = None, path: tuple = (),
                validator=None):
    """The first key of ``instance`` that its place in ``schema`` does not allow, as
    ``(path of its mapping, key, allowed keys)``; a mapping's own keys are checked before
    the mappings inside it. None when every key is known."""
    root = schema if root is None else root
    validator = validator or jsonschema.Draft202012Validator(root)
    schema = _resolve_ref(schema, root)
    if isinstance(instance, list) and isinstance(schema, dict):
        items = _resolve_ref(schema.get("items"), root)
        if isinstance(items, dict):
            for i, item in enumerate(instance):
                found = unknown_key(item, items, root, path + (i,), validator)
                if found:
                    return found
        return None
    if not isinstance(instance, dict):
        return None
    if isinstance(schema, dict) and _bad_choice(instance, schema, root):
        return None  # e.g. `source: bam`: the schema's message about it says more
    views = _object_views(schema, instance, root, validator)
    allowed = sorted({k for v in views for k in v.get("properties", {})})
    closed = any(v.get("additionalProperties") is False for v in views)
    patterns = [p for v in views for p in v.get("patternProperties", {})]
    children = []
    for key, value in instance.items():
        subs = [v["properties"][key] for v in views if key in v.get("properties", {})]
        subs += [v["patternProperties"][p] for v in views
                 for p in v.get("patternProperties", {}) if re.search(p, str(key))]
        if not subs:
            subs = [v["additionalProperties"] for v in views
                    if isinstance(v.get("additionalProperties"), dict)]
        if not subs and closed and not any(re.search(p, str(key)) for p in patterns):
            return path, key, allowed
        children += [(key, value, sub) for sub in subs]
    for key, value, sub in children:
        found = unknown_key(value, sub, root, path + (key,), validator)
        if found:
            return found
    return None


def _bad_choice(instance: dict, schema: dict, root: dict) -> bool:
    """True when a key with a fixed set of values (``source``, ``preset``) has another one."""
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve_ref(sub, root)
        if key in instance and isinstance(sub, dict):
            if "enum" in sub and instance[key] not in sub["enum"]:
                return True
            if "const" in sub and instance[key] != sub["const"]:
                return True
    return False


def unknown_key_message(path: tuple, key, allowed: list[str]) -> str:
    """``cohorts.x: unknown key 'sorce' (did you mean 'source'?)``."""
    where = ".".join(str(p) for p in path) or "(top level)"
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if not close:  # a different case or a separator typo: `Source`, `allow-n`
        norm = {re.sub(r"[-_ ]", "", a.lower()): a for a in allowed}
        close = [norm[n] for n in [re.sub(r"[-_ ]", "", str(key).lower())] if n in norm]
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed) or 'none'}"
    return f"{where}: unknown key {key!r} ({hint})"


def validate_config(config: dict, schema: dict | None = None, *, source: str = "config") -> dict:
    """Return a validated deep copy of ``config`` with defaults filled in.

    Raises InputError (one line: ``source: key.path: message``) on the most relevant
    violation.
    """
    schema = load_schema() if schema is None else schema
    filled = copy.deepcopy(dict(config))
    # An unknown key first, named with the nearest known one: a typo'd `sorce:` would
    # otherwise be reported as "'source' is a required property".
    found = unknown_key(filled, schema)
    if found is not None:
        raise InputError(source, unknown_key_message(*found))
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    # Defaults are filled while validating, so validate twice: the second pass sees them.
    for _ in range(2):
        error = jsonschema.exceptions.best_match(validator.iter_errors(filled))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
            raise InputError(source, f"{where}: {error.message}")
    return filled


def load_config(path: str | Path) -> dict:
    """Read a YAML config file and validate it (see :func:`validate_config`)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "config file does not exist")
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise InputError(path, f"not valid YAML: {err}".replace("\n", " ")) from None
    if not isinstance(config, dict):
        raise InputError(path, "expected a mapping with a `cohorts:` entry")
    return validate_config(config, source=str(path))


PATH_KEYS = ("table", "fasta", "phenotypes", "vcf", "samples", "markers", "map")


def check_paths(config: dict, base: str | Path = ".") -> None:
    """Raise InputError for the first cohort file named in config that does not exist.

    Relative paths are taken from ``base`` (the workflow's working directory).
    """
    for name, cohort in config["cohorts"].items():
        for key in PATH_KEYS:
            value = cohort.get(key)
            if isinstance(value, str) and not (Path(base) / value).exists():
                raise InputError("config", f"cohorts.{name}.{key}: {value} does not exist")
        prefix = cohort.get("plink")
        if isinstance(prefix, str):  # a PLINK prefix: the three files beside it
            from .markers import plink_files

            for path in plink_files(Path(base) / prefix).values():
                if not path.exists():
                    raise InputError("config", f"cohorts.{name}.plink: {path.name} does not exist "
                                               f"(the prefix {prefix} needs .bed, .bim and .fam)")
        regions = cohort.get("regions")
        if isinstance(regions, str) and not (Path(base) / regions).exists():
            raise InputError("config", f"cohorts.{name}.regions: BED file {regions} does not exist")
    for name, entry in config.get("predict", {}).items():
        if entry["cohort"] not in config["cohorts"]:
            raise InputError("config", f"predict.{name}.cohort: no cohort named {entry['cohort']!r}")
        if not (Path(base) / entry["vcf"]).exists():
            raise InputError("config", f"predict.{name}.vcf: {entry['vcf']} does not exist")
