"""seq2pheno.dataset: the design, and samples <-> tensor rows (one row per sample, or two haplotypes)."""

import numpy as np
import pandas as pd
import pytest

from seq2pheno.dataset import average_rows, expand_rows, load_design, rows_per_sample
from seq2pheno.errors import InputError


def test_expand_rows_keeps_order_and_puts_each_samples_rows_together():
    assert expand_rows([3, 0, 2], 1).tolist() == [3, 0, 2]
    assert expand_rows([3, 0, 2], 2).tolist() == [6, 7, 0, 1, 4, 5]
    assert expand_rows(np.array([], dtype=int), 2).tolist() == []
    assert expand_rows([1], 2).dtype == np.int64


def test_average_rows_is_the_inverse_of_expanding_per_sample_values():
    per_sample = np.array([1.0, -2.0, 5.0])
    assert np.array_equal(average_rows(np.repeat(per_sample, 2), 2), per_sample)
    assert average_rows([1.0, 3.0, 10.0, 20.0], 2).tolist() == [2.0, 15.0]
    assert average_rows([1.0, 3.0], 1).tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="multiple of 2"):
        average_rows([1.0, 2.0, 3.0], 2)


def test_rows_per_sample_from_the_tensor_shape():
    assert rows_per_sample(5, 5) == 1
    assert rows_per_sample(10, 5) == 2
    with pytest.raises(InputError, match="7 rows for 5 samples"):
        rows_per_sample(7, 5, "x/onehot.npy")


def _tables(tmp_path):
    pd.DataFrame({"id": ["a", "b", "c", "d"], "phenotype": [1.0, 2.0, None, 4.0]}).to_csv(
        tmp_path / "samples.tsv", sep="\t", index=False)
    pd.DataFrame({"id": ["a", "b", "c", "d"], "phenotype": [1.0, 2.0, None, 4.0],
                  "group": [0, 1, 2, 3]}).to_csv(tmp_path / "kept.tsv", sep="\t", index=False)
    pd.DataFrame({"id": ["d", "a", "c", "b"], "split": ["train", "train", "unphenotyped", "test"],
                  "group": [3, 0, 2, 1], "weight": [2.0, 1.0, 1.0, 1.0]}).to_csv(
        tmp_path / "split.tsv", sep="\t", index=False)
    return [tmp_path / f for f in ("samples.tsv", "kept.tsv", "split.tsv")]


def test_design_maps_samples_to_their_tensor_rows(tmp_path):
    paths = _tables(tmp_path)
    one = load_design(*paths, n_tensor_rows=4)
    assert one.rows_per_sample == 1 and one.rows.tolist() == [3, 0, 2, 1]
    assert one.tensor_rows().tolist() == [3, 0, 2, 1]
    assert load_design(*paths).rows_per_sample == 1
    two = load_design(*paths, n_tensor_rows=8)
    assert two.rows_per_sample == 2 and two.rows.tolist() == [3, 0, 2, 1]
    tr = two.subset("train")
    assert two.tensor_rows(tr).tolist() == [6, 7, 0, 1]
    assert two.per_row(two.phenotype, tr).tolist() == [4.0, 4.0, 1.0, 1.0]
    assert two.per_row(two.weight, tr).tolist() == [2.0, 2.0, 1.0, 1.0]
    assert two.per_row(two.ids).tolist() == ["d", "d", "a", "a", "c", "c", "b", "b"]
    # per-row predictions of every sample -> one value per sample, in the design's order
    x = np.arange(8, dtype=float) * 10          # a "prediction" per tensor row
    assert two.per_sample(x[two.tensor_rows()]).tolist() == [65.0, 5.0, 45.0, 25.0]
    with pytest.raises(InputError, match="5 rows for 4 samples"):
        load_design(*paths, n_tensor_rows=5)
