"""The config schema: defaults filled, unknown keys and wrong types rejected in one line."""

import copy

import pytest
import yaml

from conftest import REPO
from seq2pheno.config import load_config, validate_config
from seq2pheno.errors import InputError

MINIMAL = {"cohorts": {"demo": {"source": "simulate", "n": 100, "length": 50}}}


def test_defaults_are_filled():
    config = validate_config(MINIMAL)
    assert config["cohorts"]["demo"]["env"] == 2.0
    assert config["split"] == {"train": 0.7, "valid": 0.15, "test": 0.15, "bins": 10, "seed": 42,
                               "reweight": False, "reweight_bins": 20, "reweight_cap": 5.0}
    assert set(config["models"]) == {"default", "seed_cnn", "ridge"}
    assert config["curation"]["duplicates"] == "remove"
    assert config["resources"]["gpu"] == 1
    assert MINIMAL["cohorts"]["demo"] == {"source": "simulate", "n": 100, "length": 50}, "input mutated"


def test_source_specific_defaults():
    config = validate_config({"cohorts": {"t": {"source": "table", "table": "x.csv"}}})
    assert config["cohorts"]["t"]["missing_phenotype"] == "error"
    assert config["cohorts"]["t"]["allow_n"] is False


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"cohorts": {"demo": {"source": "simulate", "n": 100, "length": 50, "lenght": 3}}},
         "cohorts.demo: Additional properties are not allowed ('lenght' was unexpected)"),
        ({"splitt": {}}, "(top level): Additional properties are not allowed ('splitt' was unexpected)"),
        ({"cohorts": {"demo": {"source": "simulate", "n": "many", "length": 50}}},
         "cohorts.demo.n: 'many' is not of type 'integer'"),
        ({"cohorts": {"demo": {"source": "simulate", "n": 100, "length": 50, "env": -1}}},
         "cohorts.demo.env: -1 is less than the minimum of 0"),
        ({"split": {"train": 1.5}}, "split.train: 1.5 is greater than the maximum of 1"),
        ({"cohorts": {"demo": {"source": "table"}}}, "cohorts.demo: 'table' is a required property"),
        ({"cohorts": {"demo": {"source": "bam", "path": "x"}}}, "cohorts.demo.source: 'bam' is not one of"),
        ({"models": {"m": {"conv": [{"filters": 8}]}}}, "models.m.conv.0: 'kernel_size' is a required property"),
        ({"models": {"m": {"dense": [{"units": 8, "dropout": 1.0}]}}}, "models.m.dense.0.dropout"),
        ({"curation": {"duplicates": "delete"}}, "curation.duplicates: 'delete' is not one of"),
    ],
)
def test_bad_config_gives_one_line(patch, expected):
    config = copy.deepcopy(MINIMAL)
    config.update(patch)
    with pytest.raises(InputError) as err:
        validate_config(config)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("config: ")


def test_shipped_configs_are_valid():
    for path in ["config/config.yaml", "tests/configs/tiny.yaml"]:
        config = load_config(REPO / path)
        assert config["cohorts"]


def test_load_config_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cohorts: [1, 2\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(InputError, match="expected a mapping"):
        load_config(listed)


def test_missing_cohort_file_is_named(tmp_path):
    from seq2pheno.config import check_paths

    config = validate_config({"cohorts": {"mine": {"source": "table", "table": "absent.csv"}}})
    with pytest.raises(InputError, match=r"^config: cohorts.mine.table: absent.csv does not exist$"):
        check_paths(config, tmp_path)
    (tmp_path / "absent.csv").write_text("sequence,phenotype\nACGT,1\n")
    check_paths(config, tmp_path)
