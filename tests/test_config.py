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
    assert "models" not in config      # each cohort's models come from its kind (cohort_models)
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
         "cohorts.demo: unknown key 'lenght' (did you mean 'length'?)"),
        ({"splitt": {}}, "(top level): unknown key 'splitt' (did you mean 'split'?)"),
        ({"cohorts": {"demo": {"source": "simulate", "n": "many", "length": 50}}},
         "cohorts.demo.n: 'many' is not of type 'integer'"),
        ({"cohorts": {"demo": {"source": "simulate", "n": 100, "length": 50, "env": -1}}},
         "cohorts.demo.env: -1 is less than the minimum of 0"),
        ({"split": {"train": 1.5}}, "split.train: 1.5 is greater than the maximum of 1"),
        ({"cohorts": {"demo": {"source": "table"}}}, "cohorts.demo: 'table' is a required property"),
        ({"cohorts": {"demo": {"source": "bam", "path": "x"}}}, "cohorts.demo.source: 'bam' is not one of"),
        ({"models": {"m": {"conv": [{"filters": 0}]}}}, "models.m.conv.0.filters: 0 is less than the minimum of 1"),
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


SIM = {"source": "simulate", "n": 100, "length": 50}


@pytest.mark.parametrize(
    "config, expected",
    [
        # a cohort: the typo'd key is named, not "'source' is a required property"
        ({"cohorts": {"x": {"sorce": "table", "table": "a.csv"}}},
         "config: cohorts.x: unknown key 'sorce' (did you mean 'source'?)"),
        # ... its source known: that source's keys
        ({"cohorts": {"x": {"source": "table", "tabel": "a.csv"}}},
         "config: cohorts.x: unknown key 'tabel' (did you mean 'table'?)"),
        ({"cohorts": {"x": {"source": "fasta", "fasta": "a.fa", "phenotype": "p.tsv"}}},
         "config: cohorts.x: unknown key 'phenotype' (did you mean 'phenotypes'?)"),
        ({"cohorts": {"x": {"source": "vcf", "vcf": "a.vcf", "fasta": "a.fa", "phenotypes": "p",
                            "min_mfa": 0.05}}},
         "config: cohorts.x: unknown key 'min_mfa' (did you mean 'min_maf'?)"),
        ({"cohorts": {"x": {**SIM, "sed": 3}}},
         "config: cohorts.x: unknown key 'sed' (did you mean 'seed'?)"),
        # ... a key of another source is unknown to this one
        ({"cohorts": {"x": {**SIM, "table": "a.csv"}}}, "config: cohorts.x: unknown key 'table'"),
        ({"cohorts": {"x": SIM}, "curation": {"duplicate": "remove"}},
         "config: curation: unknown key 'duplicate' (did you mean 'duplicates'?)"),
        ({"cohorts": {"x": SIM}, "split": {"trian": 0.5}},
         "config: split: unknown key 'trian' (did you mean 'train'?)"),
        ({"cohorts": {"x": SIM}, "models": {"m": {"epoch": 3}}},
         "config: models.m: unknown key 'epoch' (did you mean 'epochs'?)"),
        ({"cohorts": {"x": SIM}, "models": {"m": {"conv": [{"filters": 8, "kernel_size": 3},
                                                           {"filters": 8, "kernal_size": 3}]}}},
         "config: models.m.conv.1: unknown key 'kernal_size' (did you mean 'kernel_size'?)"),
        ({"cohorts": {"x": SIM}, "interpret": {"n_sequence": 20}},
         "config: interpret: unknown key 'n_sequence' (did you mean 'n_sequences'?)"),
        ({"cohorts": {"x": SIM}, "resources": {"gpus": 1}},
         "config: resources: unknown key 'gpus' (did you mean 'gpu'?)"),
        ({"cohorts": {"x": SIM}, "resources": {"gpu_falback": "cpu"}},
         "config: resources: unknown key 'gpu_falback' (did you mean 'gpu_fallback'?)"),
        ({"cohort": {"x": SIM}},
         "config: (top level): unknown key 'cohort' (did you mean 'cohorts'?)"),
        ({"cohorts": {"x": SIM}, "zzz": 1},
         "config: (top level): unknown key 'zzz' (known keys: cohorts, "),
    ],
)
def test_unknown_key_names_itself_and_the_nearest_known_key(config, expected):
    with pytest.raises(InputError) as err:
        validate_config(config)
    message = str(err.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_unknown_key_comes_before_other_complaints():
    # a wrong type beside the typo: the typo is named first
    config = {"cohorts": {"x": {"source": "simulate", "n": "many", "length": 50, "lenght": 3}}}
    with pytest.raises(InputError, match="unknown key 'lenght'"):
        validate_config(config)
    # a source that does not exist is reported as such, not as unknown keys
    with pytest.raises(InputError, match="cohorts.x.source: 'bam' is not one of"):
        validate_config({"cohorts": {"x": {"source": "bam", "path": "x"}}})


def test_gpu_fallback_default_and_choices():
    assert validate_config(MINIMAL)["resources"]["gpu_fallback"] == "error"
    config = dict(MINIMAL, resources={"gpu": 1, "gpu_fallback": "cpu"})
    assert validate_config(config)["resources"]["gpu_fallback"] == "cpu"
    with pytest.raises(InputError, match="resources.gpu_fallback: 'gpu' is not one of"):
        validate_config(dict(MINIMAL, resources={"gpu_fallback": "gpu"}))


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


def test_models_of_a_cohort_follow_its_kind_unless_config_names_them():
    from seq2pheno.config import cohort_models, model_entry

    config = validate_config({"cohorts": {"s": {"source": "table", "table": "x.csv"},
                                          "g": {"source": "markers", "markers": "m.tsv",
                                                "phenotypes": "p.tsv"}}})
    assert list(cohort_models(config, "s"))[:3] == ["default", "seed_cnn", "ridge"]
    assert {"gblup", "ridge", "default"} <= set(cohort_models(config, "g"))
    assert "kmer_ridge" not in cohort_models(config, "g")
    from seq2pheno.config import model_candidates

    assert model_candidates(config, "g", "default") == ["genotype_cnn", "genotype_screen_cnn"]
    assert model_candidates(config, "s", "default") == ["positional_cnn", "motif_cnn"]
    assert model_candidates(config, "s", "ridge") is None
    assert model_entry(config, "s", "default", "motif_cnn") == {"preset": "motif_cnn"}
    tuned = validate_config({"cohorts": {"s": {"source": "table", "table": "x.csv"}},
                             "models": {"default": {"epochs": 3}, "mine": {"preset": "seed_cnn"},
                                        "pick": {"candidates": ["seed_cnn", "motif_cnn"], "epochs": 2}}})
    assert model_entry(tuned, "s", "default", "positional_cnn") == {"preset": "positional_cnn", "epochs": 3}
    assert model_candidates(tuned, "s", "mine") is None
    assert model_candidates(tuned, "s", "pick") == ["seed_cnn", "motif_cnn"]
    named = validate_config({"cohorts": {"s": {"source": "table", "table": "x.csv",
                                               "models": {"ridge": {}}}},
                             "models": {"default": {}, "seed_cnn": {}}})
    assert list(cohort_models(named, "s")) == ["ridge"]


def test_cohort_settings_override_the_top_level_and_resolve_the_scheme():
    from seq2pheno.config import cohort_settings

    config = validate_config({"cohorts": {"s": {"source": "table", "table": "x.csv"},
                                          "g": {"source": "markers", "markers": "m.tsv", "phenotypes": "p.tsv",
                                                "split": {"seed": 9}, "evaluation": {"folds": 10}}},
                              "split": {"seed": 3}})
    assert cohort_settings(config, "s", "split")["seed"] == 3
    assert cohort_settings(config, "g", "split")["seed"] == 9
    assert cohort_settings(config, "g", "split")["bins"] == 10
    assert cohort_settings(config, "s", "evaluation")["scheme"] == "holdout"
    assert cohort_settings(config, "g", "evaluation") | {} == dict(
        cohort_settings(config, "g", "evaluation"), scheme="kfold", folds=10)


def test_model_schema_is_the_registrys():
    from seq2pheno.config import load_schema
    from seq2pheno.models import KINDS, config_schema

    schema = load_schema()
    assert schema["$defs"]["model"] == config_schema()
    keys = set(schema["$defs"]["model"]["properties"])
    assert keys == {"preset", "type", "candidates", "search", "ensemble"} | {k for mod in KINDS.values() for k in mod.SCHEMA}
