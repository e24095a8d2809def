"""One-hot encoding of DNA sequences: float32 tensors of shape N x L x 4, channels A, C, G, T.

Encoding is a lookup table indexed by the sequences' byte codes (``bytes.translate`` of the
ASCII bytes, then ``np.take`` of the float32 rows). No library call is used on purpose: a
table lookup on the raw bytes is what the one-hot helpers of the sequence libraries do
internally, it needs no extra dependency, and it runs at over 1 GB of sequence per second on
one core (the float32 gather uses ``mode="clip"``, which writes into a reused output block
without numpy's buffering). The same table validates the input, so a bad character is
reported with its file, line and position in one pass.

Lowercase (soft-masked) bases are read as uppercase. ``N`` is 0.25 in each channel when
``allow_n`` is true and an error otherwise; any other character is an error.

Tensors larger than memory are written block by block: :func:`append_onehot` encodes a block
of codes into a :class:`seq2pheno.tensorfile.TensorWriter` through a small reused buffer, and
:func:`write_onehot` writes a list of sequences that way. A writer of uint8 (a compact
sequence tensor, see :mod:`seq2pheno.tensorfile`) gets the codes themselves, one byte a base;
``write_onehot(..., compact=True)`` writes such a file, and
:func:`seq2pheno.tensorfile.open_tensor` reads it back as the same float32 one-hot rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .errors import InputError
from .tensorfile import CODE_COMPOSITION, CODE_DTYPE, tensor_writer

ALPHABET = "ACGT"
_N_CODE = 4
_BAD = 255

# byte value -> code: A C G T -> 0 1 2 3 (either case), N/n -> 4, everything else -> 255
_CODE = np.full(256, _BAD, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _i
    _CODE[ord(_b.lower())] = _i
_CODE[ord("N")] = _CODE[ord("n")] = _N_CODE
_CODE_TABLE = _CODE.tobytes()

# code -> one-hot row; row 4 is N (0.25 each): the first rows of the compact tensors' code table
_ONEHOT = np.array(CODE_COMPOSITION[:5])

_EXPECTED = "expected A, C, G, T (or N when allow_n)"
#: bytes of float32 output encoded per step by :func:`append_onehot` (fits the L2 cache)
_BLOCK_BYTES = 1 << 20


def _as_lists(sequences, lines):
    """Positional lists (a pandas Series would index by label)."""
    if not isinstance(sequences, list):
        sequences = list(sequences)
    if lines is not None and not isinstance(lines, list):
        lines = [int(x) for x in lines]
    if lines is not None and len(lines) != len(sequences):
        raise ValueError(f"{len(lines)} line numbers for {len(sequences)} sequences")
    return sequences, lines


def _line_of(i: int, lines: Sequence[int] | None) -> int:
    return int(lines[i]) if lines is not None else i + 1


def check_lengths(sequences: Sequence[str], *, source: str | os.PathLike | None = None,
                  lines: Sequence[int] | None = None) -> int:
    """Return the common length L of ``sequences``; InputError names the first line that differs.

    The expected length is that of the first sequence. Empty input or an empty first sequence
    is an error.
    """
    sequences, lines = _as_lists(sequences, lines)
    n = len(sequences)
    if n == 0:
        raise InputError(source, "no sequences; expected at least one")
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=n)
    length = int(lengths[0])
    if length == 0:
        raise InputError(source, "empty sequence; expected a sequence of A, C, G, T",
                         line=_line_of(0, lines))
    bad = np.flatnonzero(lengths != length)
    if bad.size:
        i = int(bad[0])
        raise InputError(source, length_message(int(lengths[i]), length, _line_of(0, lines), int(bad.size)),
                         line=_line_of(i, lines))
    return length


def length_message(found: int, length: int, first_line: int, n_differ: int) -> str:
    """What is wrong with a sequence of ``found`` bases where ``length`` (that of the first) is expected."""
    return (f"sequence has length {found}; expected {length} (the length of the first sequence, "
            f"line {first_line}); {n_differ} sequence(s) differ (pad_to: the longest length, in "
            "the cohort's entry, pads shorter sequences with N)")


def too_long_message(found: int, pad_to: int, n_longer: int) -> str:
    """What is wrong with a sequence of ``found`` bases longer than the cohort's ``pad_to``."""
    return (f"sequence has length {found}, longer than pad_to {pad_to}; {n_longer} sequence(s) "
            "are longer (raise pad_to to the longest length)")


def pad_sequences(sequences: Sequence[str], length: int) -> list[str]:
    """Each sequence centred in ``length`` bases of N (the odd base of padding on the right):
    ``pad_sequences(["ACG"], 6) == ["NACGNN"]``; none may be longer than ``length``."""
    out = []
    for s in sequences:
        extra = length - len(s)
        if extra < 0:
            raise ValueError(f"a sequence of {len(s)} bases is longer than {length}")
        left = extra // 2
        out.append("N" * left + s + "N" * (extra - left))
    return out


def base_message(char: str, position: int) -> str:
    """What is wrong with an invalid character ``char`` at 0-based ``position`` of a sequence."""
    hint = " (N is allowed only when allow_n is set)" if char in "Nn" else ""
    return f"invalid base: found {char!r} at position {position} (0-based); {_EXPECTED}{hint}"


def equal_length_codes(sequences: list[str], length: int,
                       allow_n: bool = False) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Base codes (uint8 N x ``length``) of equal-length sequences and the first invalid character.

    Returns ``(codes, bad)`` where ``bad`` is None or ``(i, p)``: sequence ``i``, 0-based
    position ``p`` of the first character (in order) that is not A, C, G, T (either case) or,
    when ``allow_n``, N. Lengths are not checked here: every sequence must have ``length``
    characters. A non-ASCII character counts as one invalid position. ``codes`` is read-only
    (a view of the translated bytes).
    """
    joined = "".join(sequences)
    # "replace" turns each non-ASCII character into one "?" (invalid): positions are kept; an
    # ASCII str encodes by one copy (bytes, not bytearray: no second copy, no more fresh pages)
    raw = joined.encode("ascii") if joined.isascii() else joined.encode("ascii", "replace")
    del joined
    # bytes.translate: a C loop over the bytes, no index temporaries (np.take would cast the
    # uint8 indices to 8-byte integers first)
    codes = np.frombuffer(raw.translate(_CODE_TABLE), dtype=np.uint8).reshape(len(sequences), length)
    limit = _BAD if allow_n else _N_CODE
    if codes.size and codes.max() >= limit:
        flat = int(np.argmax(codes.ravel() >= limit))
        return codes, divmod(flat, length)
    return codes, None


def to_codes(sequences: Sequence[str], *, allow_n: bool = False,
             source: str | os.PathLike | None = None,
             lines: Sequence[int] | None = None) -> np.ndarray:
    """Validate ``sequences`` and return their base codes, uint8 of shape N x L.

    Codes: A=0, C=1, G=2, T=3, N=4 (only when ``allow_n``). ``lines`` gives the file line of
    each sequence for error messages (default: its 1-based index). Raises InputError for
    empty input, unequal lengths, and any character other than ACGT (either case) or N (the
    first such character in order is reported).
    """
    sequences, lines = _as_lists(sequences, lines)
    length = check_lengths(sequences, source=source, lines=lines)
    codes, bad = equal_length_codes(sequences, length, allow_n)
    if bad is not None:
        i, p = bad
        raise InputError(source, base_message(sequences[i][p], p), line=_line_of(i, lines))
    return codes


def one_hot(sequences: Sequence[str], *, allow_n: bool = False,
            source: str | os.PathLike | None = None,
            lines: Sequence[int] | None = None) -> np.ndarray:
    """One-hot encode equal-length DNA sequences: float32 array N x L x 4 (A, C, G, T).

    Lowercase is read as uppercase; N is 0.25 in each channel when ``allow_n`` (else an
    error). ``source`` (file) and ``lines`` (its 1-based line per sequence) name the culprit
    in the InputError raised for bad characters, unequal lengths or empty input.
    """
    codes = to_codes(sequences, allow_n=allow_n, source=source, lines=lines)
    # np.take is a plain gather (about 10x faster than fancy indexing _ONEHOT[codes])
    return np.take(_ONEHOT, codes, axis=0)


def append_onehot(writer, codes: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
    """Append the one-hot rows of ``codes`` (uint8 n x L, values 0-4) to a tensor ``writer``.

    ``writer`` is a :class:`seq2pheno.tensorfile.TensorWriter` (anything with ``append``).
    Rows are encoded about 1 MB at a time into ``buffer`` (float32 rows x L x 4; allocated
    when None or of another row shape) and appended from there, so memory stays at one small
    block whatever n is. Returns the buffer, to pass to the next call. A writer of uint8 (a
    compact tensor, rows of L codes) gets ``codes`` as they are (``buffer`` is returned unused).
    """
    if getattr(writer, "dtype", None) == CODE_DTYPE:
        writer.append(codes)
        return buffer
    n, length = codes.shape
    if buffer is None or buffer.shape[1:] != (length, 4):
        rows = max(1, _BLOCK_BYTES // (16 * max(length, 1)))
        buffer = np.empty((rows, length, 4), dtype=np.float32)
    step = len(buffer)
    for start in range(0, n, step):
        block = codes[start:start + step]
        out = buffer[:len(block)]
        # mode="clip" writes straight into ``out`` (mode="raise" buffers); codes are <= 4
        np.take(_ONEHOT, block, axis=0, out=out, mode="clip")
        writer.append(out)
    return buffer


def decode(onehot: np.ndarray) -> list[str]:
    """Turn an N x L x 4 one-hot array back into N strings (argmax; N where no channel > 0.25).

    An L x 4 array is read as one sequence (a list of one string).

    Rows whose largest channel is at most 0.25 (an encoded N, or all zeros) decode to 'N',
    so ``decode(one_hot(s, allow_n=True)) == [x.upper() for x in s]``.
    """
    arr = np.asarray(onehot)
    if arr.ndim == 2:  # one sequence, L x 4
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 4:
        raise ValueError(f"expected an array of shape N x L x 4, got {arr.shape}")
    n, length, _ = arr.shape
    idx = np.argmax(arr, axis=-1).astype(np.uint8)
    idx[arr.max(axis=-1) <= 0.25 + 1e-6] = _N_CODE
    buf = np.frombuffer(b"ACGTN", dtype=np.uint8)[idx].tobytes()
    return [buf[i * length:(i + 1) * length].decode("ascii") for i in range(n)]


def write_onehot(path: str | os.PathLike, sequences: Sequence[str], *, allow_n: bool = False,
                 chunk_size: int = 10_000, source: str | os.PathLike | None = None,
                 lines: Sequence[int] | None = None, compact: bool = False) -> tuple[int, int]:
    """Write the one-hot tensor of ``sequences`` to ``path`` as a float32 N x L x 4 ``.npy``.

    ``compact``: write the base codes instead (uint8 N x L, one byte a base), which
    :func:`seq2pheno.tensorfile.open_tensor` reads as the same float32 N x L x 4 rows.

    Lengths are checked first, then ``chunk_size`` sequences at a time are validated and
    appended to a temporary file in the same folder (:func:`seq2pheno.tensorfile.tensor_writer`),
    renamed onto ``path`` only when complete: after an error (bad base, unequal length)
    nothing is left at ``path`` or beside it, and a previous file at ``path`` is kept. Memory
    beyond ``sequences`` is one chunk. Returns (N, L).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    sequences, lines = _as_lists(sequences, lines)
    length = check_lengths(sequences, source=source, lines=lines)
    n = len(sequences)
    with tensor_writer(path, (length,) if compact else (length, 4),
                       CODE_DTYPE if compact else np.float32) as writer:
        buffer = None
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            chunk_lines = (lines[start:stop] if lines is not None
                           else list(range(start + 1, stop + 1)))
            codes = to_codes(sequences[start:stop], allow_n=allow_n, source=source, lines=chunk_lines)
            buffer = append_onehot(writer, codes, buffer)
    return n, length
