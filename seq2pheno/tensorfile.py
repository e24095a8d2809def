"""The cohort's tensor on disk: a ``.npy`` (N x L x 4 float32) written and read in row blocks.

Cohorts larger than memory stream through this module. :func:`tensor_writer` appends row
blocks to a temporary ``.npy`` whose header is rewritten with the final N when the writer
closes, then renames it onto its path (nothing half-written is left at the path).
:class:`TensorFile` reads rows by slice or by index with positioned reads (``os.preadv``)
instead of a memory map: the rows read sit in the kernel's page cache, shared and evictable,
and never accumulate in the process's resident set (a memory-mapped file counts every page
it has touched in the resident set until it is unmapped, so one epoch over a memory-mapped
3 GB tensor shows a 3 GB peak RSS). Files are ordinary ``.npy``: ``np.load`` reads them.

Sequence cohorts are stored compactly, one byte per base: a ``.npy`` of uint8 codes, shape
N x L, whose code -> composition table is fixed here (:data:`CODE_SYMBOLS`,
:data:`CODE_COMPOSITION`: 0-3 = A, C, G, T, 4 = N (0.25 each), 5-14 = the IUPAC ambiguity
codes R Y S W K M B D H V, split evenly, so a heterozygote R is exactly 0.5 A + 0.5 G), so the
file needs no sidecar: a 2-D uint8 ``.npy`` *is* the compact format. :func:`open_tensor`
recognises it (ndim 2, dtype uint8) and returns a :class:`CodedTensor`, which reads the codes
and expands them to float32 one-hot rows per read: shape N x L x 4, dtype float32, indexed
exactly as a :class:`TensorFile` of the float32 tensor would be (16 times less disk and page
cache). ``np.load`` of such a file gives the codes, not the one-hot rows.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

import numpy as np

from .atomic import atomic_path

#: base code -> symbol of the compact sequence tensors (uint8 N x L); see :data:`CODE_COMPOSITION`
CODE_SYMBOLS = "ACGTNRYSWKMBDHV"
_CODE_BASES = ("A", "C", "G", "T", "ACGT", "AG", "CT", "CG", "AT", "GT", "AC", "CGT", "AGT", "ACT", "ACG")
#: base code -> float32 (A, C, G, T) composition: one-hot for 0-3, the bases split evenly above
CODE_COMPOSITION = np.zeros((len(_CODE_BASES), 4), dtype=np.float32)
for _code, _bases in enumerate(_CODE_BASES):
    for _b in _bases:
        CODE_COMPOSITION[_code, "ACGT".index(_b)] = 1.0 / len(_bases)
CODE_COMPOSITION.flags.writeable = False
#: the dtype of a compact (coded) sequence tensor; 2-D files of it are read as :class:`CodedTensor`
CODE_DTYPE = np.dtype(np.uint8)

_MAGIC = b"\x93NUMPY\x01\x00"
#: header length of the files written here (magic + length + dict text): room for any N
_HEADER_BYTES = 128


def _header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """A version 1.0 ``.npy`` header of exactly ``_HEADER_BYTES`` bytes."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                 "shape": tuple(int(s) for s in shape)})
    room = _HEADER_BYTES - len(_MAGIC) - 2
    if len(text) + 1 > room:
        raise ValueError(f"shape {shape} does not fit a {_HEADER_BYTES}-byte .npy header")
    text = text.ljust(room - 1) + "\n"
    return _MAGIC + struct.pack("<H", room) + text.encode("latin1")


class _ArrayLike:
    """What both tensor readers share: ``len``, ``np.asarray`` (every row) and ``with``;
    subclasses give ``shape``, ``__getitem__`` and ``close``."""

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TensorWriter:
    """Appends row blocks (each ``(n, *row_shape)``) to an open ``.npy`` file; see :func:`tensor_writer`."""

    def __init__(self, fh, row_shape: tuple[int, ...] | None, dtype):
        self._fh = fh
        self.row_shape = None if row_shape is None else tuple(int(s) for s in row_shape)
        self.dtype = np.dtype(dtype)
        self.n = 0

    def append(self, rows) -> None:
        """Write ``rows`` (n, *row_shape) after the rows written so far (cast to the file's dtype)."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if self.row_shape is None:
            self.row_shape = tuple(rows.shape[1:])
        if tuple(rows.shape[1:]) != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} appended to a tensor of rows {self.row_shape}")
        self._fh.write(memoryview(rows.reshape(-1).view(np.uint8)))
        self.n += len(rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n, *(self.row_shape or ()))


@contextlib.contextmanager
def tensor_writer(path, row_shape: tuple[int, ...] | None = None, dtype=np.float32, *,
                  atomic: bool = True):
    """``with tensor_writer(path, (L, 4)) as w: w.append(block)`` writes a ``.npy`` block by block.

    ``row_shape`` may be left ``None`` (taken from the first block). The file appears at ``path``
    only when the block exits without an error (``atomic=False``: written at ``path`` itself,
    for a caller that renames several files together); memory use is one block, whatever N is.
    """
    with (atomic_path(path) if atomic else contextlib.nullcontext(path)) as tmp, \
            open(tmp, "wb") as fh:
        fh.write(b"\0" * _HEADER_BYTES)
        writer = TensorWriter(fh, row_shape, dtype)
        yield writer
        if writer.row_shape is None:
            raise ValueError(f"no rows written to {path} and no row shape given")
        fh.seek(0)
        fh.write(_header(writer.shape, writer.dtype))


class TensorFile(_ArrayLike):
    """Read-only rows of a ``.npy`` tensor by positioned reads: ``t[i]``, ``t[a:b]``, ``t[idx]``.

    ``shape``, ``dtype``, ``ndim`` and ``len`` as for an array; indexing returns in-memory
    arrays (the first index selects rows; an index array may be unsorted or repeat rows, and
    runs of consecutive rows are read together). ``np.asarray(t)`` reads the whole tensor.
    """

    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            self.offset = fh.tell()
        if fortran and len(shape) > 1:
            raise ValueError(f"{self.path}: Fortran-ordered arrays are not supported")
        if dtype.hasobject:
            raise ValueError(f"{self.path}: object arrays are not supported")
        self.shape = tuple(shape)
        self.dtype = dtype
        self.ndim = len(shape)
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        if os.path.getsize(self.path) < expected:
            raise ValueError(f"{self.path}: truncated tensor file ({os.path.getsize(self.path)} bytes; "
                             f"expected {expected})")
        self._fd: int | None = os.open(self.path, os.O_RDONLY)

    # -- array protocol
    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"row {key} out of range for {len(self)} rows")
            out = self._read(i, i + 1)[0]
        elif isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            out = (self._read(start, max(start, stop)) if step == 1
                   else self._take(np.arange(start, stop, step)))
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise IndexError(f"boolean index of shape {idx.shape} for {len(self)} rows")
                idx = np.flatnonzero(idx)
            out = self._take(idx.astype(np.int64, copy=False))
        if not rest:
            return out
        return out[rest] if isinstance(key, (int, np.integer)) else out[(slice(None), *rest)]

    # -- reading
    def _read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (contiguous) as a new array."""
        out = np.empty((stop - start, *self.row_shape), dtype=self.dtype)
        self.read_into(out, self.offset + start * self.row_bytes)
        return out

    def read_into(self, out: np.ndarray, pos: int) -> None:
        """Fill ``out`` (C-contiguous) with the file's bytes from byte ``pos`` (header included
        in the count: row r, column c of a 2-D tensor is at ``offset + (r * M + c) * itemsize``)."""
        buf = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        while done < len(buf):
            got = os.preadv(self._descriptor(), [buf[done:]], pos + done)
            if got == 0:
                raise OSError(f"{self.path}: unexpected end of file at byte {pos + done}")
            done += got

    def _take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (any order, repeats allowed) in the order given."""
        n = len(self)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        idx = np.where(idx < 0, idx + n, idx)
        out = np.empty((len(idx), *self.row_shape), dtype=self.dtype)
        if len(idx) == 0:
            return out
        order = np.argsort(idx, kind="stable")
        rows = idx[order]
        uniq, first = np.unique(rows, return_index=True)
        # runs of consecutive row numbers are read with one call each
        breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
        got = np.empty((len(uniq), *self.row_shape), dtype=self.dtype)
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(uniq)]):
            got[a:b] = self._read(int(uniq[a]), int(uniq[b - 1]) + 1)
        out[order] = got[np.searchsorted(uniq, rows)]
        return out

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    # a descriptor does not survive pickling (e.g. into a data-loading worker): reopen there
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"] = None
        return state

    def __repr__(self) -> str:
        return f"TensorFile({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"


def expand_codes(codes, out: np.ndarray | None = None) -> np.ndarray:
    """float32 compositions (``codes.shape + (4,)``) of base codes (see :data:`CODE_COMPOSITION`).

    ValueError for a code outside the table (a corrupt or foreign file)."""
    codes = np.asarray(codes)
    if codes.size and int(codes.max()) >= len(CODE_COMPOSITION):
        raise ValueError(f"base code {int(codes.max())} is not in the code table "
                         f"(0-{len(CODE_COMPOSITION) - 1}: {CODE_SYMBOLS})")
    # mode="clip": a plain gather (the codes are checked above), several times faster than "raise"
    return np.take(CODE_COMPOSITION, codes, axis=0, out=out, mode="clip")


def _is_simple(index) -> bool:
    return isinstance(index, (slice, int, np.integer)) and not isinstance(index, bool)


class CodedTensor(_ArrayLike):
    """A compact sequence tensor (uint8 codes N x L on disk) read as float32 one-hot rows N x L x 4.

    Indexing, ``shape``, ``dtype`` (float32), ``ndim`` (3), ``len`` and ``np.asarray`` behave as
    for a :class:`TensorFile` of the float32 tensor: ``t[idx]`` reads the codes of the rows by
    positioned reads and expands them (:func:`expand_codes`); a column slice (``t[a:b, c:d]``)
    is applied to the codes first. ``codes`` is the :class:`TensorFile` of the codes themselves.
    """

    def __init__(self, codes: "TensorFile | str | os.PathLike"):
        self.codes = codes if isinstance(codes, TensorFile) else TensorFile(codes)
        if self.codes.ndim != 2 or self.codes.dtype != CODE_DTYPE:
            raise ValueError(f"{self.codes.path}: a coded tensor is uint8 N x L, not "
                             f"{self.codes.dtype} {self.codes.shape}")
        self.path = self.codes.path
        self.shape = (*self.codes.shape, 4)
        self.dtype = np.dtype(np.float32)
        self.ndim = 3
        self.row_shape = self.shape[1:]

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        codes = self.codes[key]
        if rest and len(rest) <= 2 and all(map(_is_simple, rest)):
            out = expand_codes(codes[..., rest[0]])      # columns picked on the codes
            return out if len(rest) == 1 else out[..., rest[1]]
        out = expand_codes(codes)
        if not rest:
            return out
        return out[rest] if isinstance(key, (int, np.integer)) else out[(slice(None), *rest)]

    def close(self) -> None:
        self.codes.close()

    def __repr__(self) -> str:
        return f"CodedTensor({str(self.path)!r}, shape={self.shape}, codes={self.codes.dtype})"


def is_coded(tensor) -> bool:
    """Whether ``tensor`` (an array or a reader) holds base codes (uint8 N x L), not compositions."""
    return getattr(tensor, "ndim", None) == 2 and np.dtype(getattr(tensor, "dtype", None)) == CODE_DTYPE


def open_tensor(path) -> "TensorFile | CodedTensor":
    """Open a ``.npy`` tensor for reading in row blocks.

    A compact sequence tensor (uint8 N x L base codes) is returned as a :class:`CodedTensor`
    (float32 one-hot rows N x L x 4 on reading); any other ``.npy`` as a :class:`TensorFile`.
    """
    t = TensorFile(path)
    return CodedTensor(t) if is_coded(t) else t


def iter_blocks(tensor, block_rows: int):
    """Yield ``(start, rows)`` over ``tensor`` (array, memmap or :class:`TensorFile`) in blocks."""
    for start in range(0, len(tensor), block_rows):
        yield start, np.asarray(tensor[start:start + block_rows])
