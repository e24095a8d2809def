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
