"""The workflow steps as functions of files: curation and split outputs."""

import json
import logging

import numpy as np
import pandas as pd
import pytest

from seq2pheno import steps
from seq2pheno.encode import one_hot as onehot
from seq2pheno.errors import InputError

LOG = logging.getLogger("test")
CURATION = {"duplicates": "remove", "near_duplicate_fraction": 0.0}
SPLIT = {"train": 0.7, "valid": 0.15, "test": 0.15, "bins": 10, "seed": 42, "reweight": False,
         "reweight_bins": 20, "reweight_cap": 5.0}


def test_curate_writes_outputs(tmp_path):
    x = onehot(["ACGTACGT", "ACGTACGT", "ACGTACGA", "TTTTGGGG", "CCCCAAAA"])
    np.save(tmp_path / "onehot.npy", x)
    pd.DataFrame({"id": ["s1", "s2", "s3", "s4", "s5"], "phenotype": [1.0, 2.0, 3.0, None, 5.0]}) \
        .to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    out = {k: tmp_path / "curate" / f"{k}.{'json' if k == 'summary' else 'tsv'}"
           for k in ("duplicates", "removed", "kept", "summary")}
    summary = steps.curate(tmp_path / "samples.tsv", tmp_path / "onehot.npy",
                           {"duplicates": "remove", "near_duplicate_fraction": 0.125}, out=out, log=LOG)
    kept = pd.read_csv(out["kept"], sep="\t")
    removed = pd.read_csv(out["removed"], sep="\t")
    assert kept["id"].tolist() == ["s1", "s4", "s5"]
    assert kept["phenotype"].iloc[0] == pytest.approx(2.0)
    assert removed["reason"].tolist() == ["exact duplicate", "near duplicate"]
    assert json.loads(out["summary"].read_text()) == summary
    assert summary["removed_by_reason"] == {"exact duplicate": 1, "near duplicate": 1}
    dups = pd.read_csv(out["duplicates"], sep="\t")
    assert dups["id"].tolist() == ["s1", "s2", "s3"] and dups["mismatches"].tolist() == [0, 0, 1]
    np.save(tmp_path / "short.npy", x[:3])
    with pytest.raises(InputError, match="shape"):
        steps.curate(tmp_path / "samples.tsv", tmp_path / "short.npy", CURATION, out=out, log=LOG)


def test_split_writes_outputs(tmp_path):
    y = np.random.default_rng(3).normal(size=200)
    y[:5] = np.nan
    kept = pd.DataFrame({"id": [f"s{i}" for i in range(200)], "phenotype": y, "group": np.arange(200) // 2})
    kept.to_csv(tmp_path / "kept.tsv", sep="\t", index=False, na_rep="")
    out = {"split": tmp_path / "split" / "split.tsv", "distribution": tmp_path / "split" / "distribution.json"}
    steps.split(tmp_path / "kept.tsv", dict(SPLIT, seed=1, reweight=True), out=out, log=LOG)
    tab = pd.read_csv(out["split"], sep="\t")
    assert tab["id"].tolist() == kept["id"].tolist()
    phenotyped = tab[tab["split"] != "unphenotyped"]
    assert (phenotyped.groupby("group")["split"].nunique() == 1).all()
    assert (tab.loc[tab["split"] != "train", "weight"] == 1.0).all()
    assert (tab["split"] == "unphenotyped").sum() == 5
    dist = json.loads(out["distribution"].read_text())
    assert len(dist["pairs"]) == 3
    with pytest.raises(InputError, match="must be 1"):
        steps.split(tmp_path / "kept.tsv", dict(SPLIT, train=0.9), out=out, log=LOG)
