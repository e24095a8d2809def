"""Atomic writes: the file appears only when complete; a failure leaves the old one intact."""

import json

import numpy as np
import pandas as pd
import pytest

from seq2pheno.atomic import atomic_path, write_json, write_tsv


def test_success_renames_and_keeps_suffix(tmp_path):
    path = tmp_path / "deep" / "x.npy"
    with atomic_path(path) as tmp:
        assert tmp.endswith(".npy") and not path.exists()
        np.save(tmp, np.arange(3))
    assert np.load(path).tolist() == [0, 1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["x.npy"]


def test_failure_leaves_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "t.tsv"
    write_tsv(pd.DataFrame({"id": ["a"], "v": [1.0]}), path)
    before = path.read_text()
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.tsv"]


def test_json_with_numpy_values(tmp_path):
    write_json({"n": np.int64(3), "r2": np.float32(0.5), "v": np.arange(2)}, tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {"n": 3, "r2": 0.5, "v": [0, 1]}
    write_tsv(pd.DataFrame({"id": ["a", "b"], "p": [1.5, np.nan]}), tmp_path / "s.tsv")
    assert (tmp_path / "s.tsv").read_text() == "id\tp\na\t1.5\nb\t\n"
