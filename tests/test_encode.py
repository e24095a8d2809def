"""Tests for seq2pheno.encode: one-hot round trip, N handling, bad input, chunked atomic write."""

import numpy as np
import pytest

from seq2pheno.encode import append_onehot, decode, equal_length_codes, one_hot, to_codes, write_onehot
from seq2pheno.errors import InputError
from seq2pheno.tensorfile import tensor_writer


def test_one_hot_values_shape_dtype():
    x = one_hot(["ACGT", "TTAA"])
    assert x.shape == (2, 4, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], np.eye(4, dtype=np.float32))
    np.testing.assert_array_equal(x[1].argmax(1), [3, 3, 0, 0])
    assert np.all(x.sum(-1) == 1.0)


def test_round_trip_random():
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGT"), 37)) for _ in range(50)]
    assert decode(one_hot(seqs)) == seqs


def test_lowercase_read_as_uppercase():
    np.testing.assert_array_equal(one_hot(["acgTn"], allow_n=True), one_hot(["ACGTN"], allow_n=True))
    assert decode(one_hot(["acgt"])) == ["ACGT"]


def test_n_allowed_is_quarter_and_round_trips():
    x = one_hot(["ANNT"], allow_n=True)
    np.testing.assert_array_equal(x[0, 1], [0.25] * 4)
    assert decode(x) == ["ANNT"]


def test_n_refused_by_default():
    with pytest.raises(InputError, match=r"seqs\.tsv:3: .*found 'N' at position 2"):
        one_hot(["ACGT", "ACNT"], source="seqs.tsv", lines=[2, 3])


def test_bad_character_names_line_and_position():
    with pytest.raises(InputError) as err:
        one_hot(["ACGT", "ACGT", "ACXT"], source="cohort.csv")
    msg = str(err.value)
    assert msg.startswith("cohort.csv:3: ") and "'X' at position 2" in msg and "expected A, C, G, T" in msg
    assert err.value.line == 3
    with pytest.raises(InputError, match=r"f\.csv:9: .*'-'"):
        one_hot(["AC-T"], allow_n=True, source="f.csv", lines=[9])
    with pytest.raises(InputError, match=r"f\.csv:2: .*'é'"):
        one_hot(["ACGT", "ACéT"], source="f.csv")


def test_unequal_lengths_name_line_and_expected_length():
    with pytest.raises(InputError) as err:
        one_hot(["ACGT", "ACGT", "ACG"], source="s.csv", lines=[2, 3, 5])
    assert err.value.line == 5
    assert "length 3" in str(err.value) and "expected 4" in str(err.value)


def test_empty_input():
    with pytest.raises(InputError, match="no sequences"):
        one_hot([], source="x")
    with pytest.raises(InputError, match="empty sequence"):
        one_hot([""], source="x")


def test_codes():
    np.testing.assert_array_equal(to_codes(["ACGTN"], allow_n=True), [[0, 1, 2, 3, 4]])


def test_decode_single_sequence_and_bad_shape():
    assert decode(one_hot(["GATTACA"])[0]) == ["GATTACA"]
    with pytest.raises(ValueError):
        decode(np.zeros((2, 3, 5)))


def test_chunked_write_equals_one_hot(tmp_path):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTn"), 11)) for _ in range(23)]
    path = tmp_path / "onehot.npy"
    assert write_onehot(path, seqs, allow_n=True, chunk_size=5) == (23, 11)
    x = np.load(path, mmap_mode="r")
    assert x.dtype == np.float32 and x.shape == (23, 11, 4)
    np.testing.assert_array_equal(x, one_hot(seqs, allow_n=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onehot.npy"]


def test_failed_write_leaves_nothing(tmp_path):
    seqs = ["ACGT"] * 12 + ["ACGX"]
    path = tmp_path / "sub" / "onehot.npy"
    with pytest.raises(InputError, match=r"in\.csv:14: .*'X'"):
        write_onehot(path, seqs, chunk_size=4, source="in.csv", lines=range(2, 15))
    assert not path.exists()
    assert list(path.parent.iterdir()) == []
    with pytest.raises(InputError, match="expected 4"):
        write_onehot(path, ["ACGT", "ACG"])
    assert list(path.parent.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path):
    path = tmp_path / "onehot.npy"
    write_onehot(path, ["AAAA"])
    with pytest.raises(InputError):
        write_onehot(path, ["ACGT", "ACGZ"], chunk_size=1)
    np.testing.assert_array_equal(np.load(path), one_hot(["AAAA"]))


def test_first_bad_character_in_order_ascii_or_not():
    # the first invalid character is reported, whether or not a later one is non-ASCII
    with pytest.raises(InputError, match=r"f\.csv:2: .*found 'X' at position 1"):
        one_hot(["ACGT", "AXGé"], source="f.csv")
    with pytest.raises(InputError, match=r"f\.csv:2: .*found 'é' at position 1"):
        one_hot(["ACGT", "AéGX"], source="f.csv")
    codes, bad = equal_length_codes(["ACGT", "ACGT", "ACnT"], 4)
    assert bad == (2, 2) and codes.shape == (3, 4)
    assert equal_length_codes(["ACGT", "ACnT"], 4, allow_n=True)[1] is None


@pytest.mark.parametrize("length", [1, 7, 300_000])
def test_append_onehot_in_blocks_equals_one_hot(tmp_path, length):
    rng = np.random.default_rng(length)
    seqs = ["".join(rng.choice(list("ACGTN"), length)) for _ in range(9)]
    codes = to_codes(seqs, allow_n=True)
    buffer = None
    with tensor_writer(tmp_path / "x.npy", (length, 4)) as w:
        for start in (0, 4, 5):
            buffer = append_onehot(w, codes[start:{0: 4, 4: 5, 5: 9}[start]], buffer)
    assert len(buffer) >= 1 and buffer.shape[1:] == (length, 4)
    assert buffer.nbytes <= max(1 << 20, 16 * length)   # one small block, not the tensor
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), one_hot(seqs, allow_n=True))
