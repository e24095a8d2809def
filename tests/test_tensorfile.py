"""Tensor files: written block by block, read by positioned reads, equal to numpy's own .npy."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seq2pheno.tensorfile import TensorFile, iter_blocks, open_tensor, tensor_writer


def _random(n, length=7, seed=0):
    return np.random.default_rng(seed).random((n, length, 4), dtype=np.float32)


def test_writer_output_equals_np_save_byte_for_byte_in_data(tmp_path):
    x = _random(53)
    with tensor_writer(tmp_path / "t.npy") as w:
        for s in range(0, 53, 10):
            w.append(x[s:s + 10])
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), x)
    np.save(tmp_path / "ref.npy", x)
    ours, ref = (tmp_path / "t.npy").read_bytes(), (tmp_path / "ref.npy").read_bytes()
    assert ours[128:] == ref[128:]          # both headers are 128 bytes for this shape


def test_writer_leaves_nothing_after_an_error(tmp_path):
    with pytest.raises(RuntimeError):
        with tensor_writer(tmp_path / "t.npy", (7, 4)) as w:
            w.append(_random(3))
            raise RuntimeError("bad base")
    assert os.listdir(tmp_path) == []


def test_writer_rejects_rows_of_another_shape(tmp_path):
    with pytest.raises(ValueError, match="rows of shape"):
        with tensor_writer(tmp_path / "t.npy") as w:
            w.append(_random(2, 7))
            w.append(_random(2, 8))
    assert not (tmp_path / "t.npy").exists()


def test_empty_tensor_with_a_row_shape(tmp_path):
    with tensor_writer(tmp_path / "t.npy", (5, 4)):
        pass
    assert np.load(tmp_path / "t.npy").shape == (0, 5, 4)
    assert open_tensor(tmp_path / "t.npy")[:].shape == (0, 5, 4)


def test_reads_equal_numpy_indexing(tmp_path):
    x = _random(40)
    np.save(tmp_path / "t.npy", x)          # numpy's own header (any length) is read too
    t = open_tensor(tmp_path / "t.npy")
    assert t.shape == x.shape and len(t) == 40 and t.dtype == np.float32 and t.ndim == 3
    idx = np.array([5, 3, 3, 39, 0, 6, 7, 8, -1])
    for key in (3, -2, slice(4, 17), slice(None), slice(30, 100), slice(10, 5), slice(1, 20, 3),
                idx, idx[:0], list(idx), np.arange(40) % 3 == 0, (slice(2, 9), 4), (idx, slice(1, 3), 2)):
        np.testing.assert_array_equal(t[key], x[key])
    np.testing.assert_array_equal(np.asarray(t), x)
    with pytest.raises(IndexError):
        t[40]
    with pytest.raises(IndexError):
        t[np.array([1, 40])]
    starts = [s for s, _ in iter_blocks(t, 16)]
    assert starts == [0, 16, 32]
    np.testing.assert_array_equal(np.concatenate([b for _, b in iter_blocks(t, 16)]), x)


def test_truncated_file_is_reported(tmp_path):
    np.save(tmp_path / "t.npy", _random(10))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-50])
    with pytest.raises(ValueError, match="truncated"):
        TensorFile(tmp_path / "t.npy")


def test_pickled_reader_reopens(tmp_path):
    import pickle

    x = _random(5)
    np.save(tmp_path / "t.npy", x)
    t = pickle.loads(pickle.dumps(open_tensor(tmp_path / "t.npy")))
    np.testing.assert_array_equal(t[1:3], x[1:3])


def test_reading_every_row_does_not_grow_the_resident_set(tmp_path):
    """A full pass over a 160 MB tensor keeps the reader's peak RSS far below the file size
    (a memory map would hold every page it touched)."""
    n, length = 10_000, 1000                  # 10,000 x 1,000 x 4 float32 = 160 MB
    path = tmp_path / "big.npy"
    with tensor_writer(path, (length, 4)) as w:
        block = np.zeros((500, length, 4), np.float32)
        block[:, :, 0] = 1
        for _ in range(n // 500):
            w.append(block)
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {os.getcwd()!r})
        from seq2pheno.tensorfile import open_tensor
        def status(key):  # kB; VmHWM (the peak) starts afresh at exec, unlike ru_maxrss
            with open("/proc/self/status") as fh:
                return next(int(ln.split()[1]) for ln in fh if ln.startswith(key + ":"))
        mode = sys.argv[1]
        t = open_tensor({str(path)!r}) if mode == "pread" else np.load({str(path)!r}, mmap_mode="r")
        before = status("VmRSS")
        total = 0.0
        rng = np.random.default_rng(0)
        for batch in np.array_split(rng.permutation(len(t)), 80):
            total += float(np.asarray(t[np.sort(batch)]).sum())
        assert total == {n * length}, total
        print(status("VmHWM") - before)
    """)
    grown = {mode: int(subprocess.run([sys.executable, "-c", code, mode], check=True,
                                      capture_output=True, text=True).stdout) / 1024
             for mode in ("pread", "mmap")}
    assert grown["pread"] < 20, grown        # MB: a few batches of 2 MB at most
    assert grown["mmap"] > 100, grown        # the memory map's pages do count


# ----------------------------------------------------------------------------- compact sequence tensors

def _codes(n, length=9, seed=1, high=len("ACGTNRYSWKMBDHV")):
    return np.random.default_rng(seed).integers(0, high, (n, length), dtype=np.uint8)


def test_code_table_is_fixed_and_matches_the_iupac_compositions():
    from seq2pheno.tensorfile import CODE_COMPOSITION, CODE_SYMBOLS
    from seq2pheno.vcf import _IUPAC_TABLE

    assert CODE_SYMBOLS[:5] == "ACGTN" and len(CODE_SYMBOLS) == len(CODE_COMPOSITION) == 15
    np.testing.assert_array_equal(CODE_COMPOSITION[:4], np.eye(4, dtype=np.float32))
    assert CODE_COMPOSITION[4].tolist() == [0.25] * 4
    assert CODE_COMPOSITION[CODE_SYMBOLS.index("R")].tolist() == [0.5, 0, 0.5, 0]   # A/G heterozygote
    np.testing.assert_allclose(CODE_COMPOSITION.sum(axis=1), 1, rtol=1e-6)
    for code, symbol in enumerate(CODE_SYMBOLS):     # the same float32 values as VCF import
        assert CODE_COMPOSITION[code].tobytes() == _IUPAC_TABLE[ord(symbol)].tobytes(), symbol
    assert not CODE_COMPOSITION.flags.writeable


def test_coded_tensor_reads_equal_the_float32_tensor(tmp_path):
    from seq2pheno.tensorfile import CODE_COMPOSITION, CodedTensor, is_coded

    codes = _codes(40)
    codes[0, :5] = [0, 1, 2, 3, 4]                   # A C G T N
    x = CODE_COMPOSITION[codes]                      # the float32 tensor these codes stand for
    with tensor_writer(tmp_path / "c.npy", (9,), np.uint8) as w:
        for s in range(0, 40, 7):
            w.append(codes[s:s + 7])
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), codes)   # np.load: the codes
    np.save(tmp_path / "f.npy", x)
    t, f = open_tensor(tmp_path / "c.npy"), open_tensor(tmp_path / "f.npy")
    assert isinstance(t, CodedTensor) and is_coded(t.codes) and not is_coded(t)
    assert t.shape == (40, 9, 4) and len(t) == 40 and t.dtype == np.float32 and t.ndim == 3
    assert t.row_shape == (9, 4) and t.path == tmp_path / "c.npy" and "CodedTensor" in repr(t)
    idx = np.array([5, 3, 3, 39, 0, 6, 7, 8, -1])
    for key in (3, -2, slice(4, 17), slice(None), slice(30, 100), slice(10, 5), slice(1, 20, 3),
                idx, idx[:0], list(idx), np.arange(40) % 3 == 0, (slice(2, 9), 4), (idx, slice(1, 3), 2),
                (slice(None), slice(2, 7)), (3, slice(1, 4)), (3, 2, 1), (idx, 4), (idx, -1, slice(1, 3)),
                (slice(0, 5), Ellipsis, 0), (idx, np.array([0, 8])), (slice(0, 3), slice(None), None)):
        got, want = t[key], f[key]                   # as the float32 file reads (first index: rows)
        assert got.dtype == np.float32 and got.shape == want.shape, key
        np.testing.assert_array_equal(got, want)
        if not (isinstance(key, tuple) and isinstance(key[-1], np.ndarray)):
            np.testing.assert_array_equal(got, x[key])
    np.testing.assert_array_equal(np.asarray(t), x)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    starts = [s for s, _ in iter_blocks(t, 16)]
    assert starts == [0, 16, 32]
    np.testing.assert_array_equal(np.concatenate([b for _, b in iter_blocks(t, 16)]), x)
    with pytest.raises(IndexError):
        t[40]
    with pytest.raises(IndexError):
        t[np.array([1, 40])]
    with t:
        pass
    np.testing.assert_array_equal(t[2:4], x[2:4])   # reopens after close


def test_sequences_encoded_either_way_read_the_same(tmp_path):
    """encode's float32 file and the compact file are read as the same rows, N included."""
    from seq2pheno.encode import one_hot, write_onehot

    rng = np.random.default_rng(2)
    seqs = ["".join(rng.choice(list("ACGTNacgtn"), 21)) for _ in range(33)]
    assert write_onehot(tmp_path / "f.npy", seqs, allow_n=True, chunk_size=4) == (33, 21)
    assert write_onehot(tmp_path / "c.npy", seqs, allow_n=True, chunk_size=4, compact=True) == (33, 21)
    f, c = open_tensor(tmp_path / "f.npy"), open_tensor(tmp_path / "c.npy")
    assert type(f) is TensorFile and f.shape == c.shape == (33, 21, 4) and f.dtype == c.dtype
    assert c[:].tobytes() == f[:].tobytes() == one_hot(seqs, allow_n=True).tobytes()
    assert os.path.getsize(tmp_path / "c.npy") - 128 == (os.path.getsize(tmp_path / "f.npy") - 128) // 16
    idx = rng.integers(0, 33, 50)
    np.testing.assert_array_equal(c[idx], f[idx])


def test_other_tensors_are_not_read_as_codes(tmp_path):
    """Only 2-D uint8 files are compact: 3-D uint8, bool masks, int8 dosages stay as they are."""
    for name, arr in {"u3": _codes(4).reshape(4, 3, 3), "mask": _codes(4) > 3,
                      "dosage": _codes(4).astype(np.int8), "f2": _codes(4).astype(np.float32)}.items():
        np.save(tmp_path / f"{name}.npy", arr)
        t = open_tensor(tmp_path / f"{name}.npy")
        assert type(t) is TensorFile and t.dtype == arr.dtype and t.shape == arr.shape, name
        np.testing.assert_array_equal(t[:], arr)


def test_a_code_outside_the_table_is_an_error(tmp_path):
    from seq2pheno.tensorfile import expand_codes

    codes = _codes(6)
    codes[4, 2] = 15
    np.save(tmp_path / "c.npy", codes)
    t = open_tensor(tmp_path / "c.npy")
    np.testing.assert_array_equal(t[:4], expand_codes(codes[:4]))
    with pytest.raises(ValueError, match="base code 15 is not in the code table"):
        t[3:6]
    assert expand_codes(np.zeros((0, 5), np.uint8)).shape == (0, 5, 4)


def test_pickled_coded_reader_reopens(tmp_path):
    import pickle

    codes = _codes(5, high=5)
    np.save(tmp_path / "c.npy", codes)
    t = open_tensor(tmp_path / "c.npy")
    t[0]
    t2 = pickle.loads(pickle.dumps(t))
    assert t2.codes._fd is None or t2.codes._fd != t.codes._fd
    np.testing.assert_array_equal(t2[1:3], open_tensor(tmp_path / "c.npy")[1:3])


def test_curation_of_a_compact_tensor_gives_the_float32_groups(tmp_path):
    """Curation reads a compact tensor's codes directly: same groups and distances as float32."""
    from seq2pheno.curate import duplicate_groups, group_distances
    from seq2pheno.tensorfile import CODE_COMPOSITION

    rng = np.random.default_rng(5)
    base = rng.integers(0, 4, (12, 40), dtype=np.uint8)
    codes = base[rng.integers(0, 12, 300)]
    flip = rng.random(codes.shape) < 0.02
    codes[flip] = rng.integers(0, 15, int(flip.sum()), dtype=np.uint8)   # N and ambiguity codes too
    np.save(tmp_path / "c.npy", codes)
    np.save(tmp_path / "f.npy", CODE_COMPOSITION[codes])
    c, f = open_tensor(tmp_path / "c.npy"), open_tensor(tmp_path / "f.npy")
    for frac in (0.0, 0.03, 0.1):
        g = duplicate_groups(f, frac)
        np.testing.assert_array_equal(duplicate_groups(c, frac), g)
        np.testing.assert_array_equal(group_distances(c, g), group_distances(f, g))
