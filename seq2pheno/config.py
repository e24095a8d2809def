"""Configuration: validate a config dict against the JSON schema and fill its defaults.

The schema (config/schema/config.schema.yaml) rejects unknown keys. A violation becomes one
:class:`~seq2pheno.errors.InputError` line naming the key path, e.g.
``config: cohorts.demo.n: 'many' is not of type 'integer'``.
"""

from __future__ import annotations

import copy
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
    with open(path) as fh:
        return yaml.safe_load(fh)


def validate_config(config: dict, schema: dict | None = None, *, source: str = "config") -> dict:
    """Return a validated deep copy of ``config`` with defaults filled in.

    Raises InputError (one line: ``source: key.path: message``) on the most relevant
    violation.
    """
    schema = load_schema() if schema is None else schema
    filled = copy.deepcopy(dict(config))
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


PATH_KEYS = ("table", "fasta", "phenotypes", "vcf", "samples")


def check_paths(config: dict, base: str | Path = ".") -> None:
    """Raise InputError for the first cohort file named in config that does not exist.

    Relative paths are taken from ``base`` (the workflow's working directory).
    """
    for name, cohort in config["cohorts"].items():
        for key in PATH_KEYS:
            value = cohort.get(key)
            if isinstance(value, str) and not (Path(base) / value).exists():
                raise InputError("config", f"cohorts.{name}.{key}: {value} does not exist")
        regions = cohort.get("regions")
        if isinstance(regions, str) and not (Path(base) / regions).exists():
            raise InputError("config", f"cohorts.{name}.regions: BED file {regions} does not exist")
    for name, entry in config.get("predict", {}).items():
        if entry["cohort"] not in config["cohorts"]:
            raise InputError("config", f"predict.{name}.cohort: no cohort named {entry['cohort']!r}")
        if not (Path(base) / entry["vcf"]).exists():
            raise InputError("config", f"predict.{name}.vcf: {entry['vcf']} does not exist")
