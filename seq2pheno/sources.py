"""Reading user cohorts (a table of sequences, or a FASTA plus a phenotype table) and writing them.

Two ways in. :func:`import_table` / :func:`import_fasta` stream a cohort straight to its files
(``samples.tsv``, the one-hot ``onehot.npy``, ``features.tsv``): the input is read in chunks of
rows (or records), each chunk is validated and encoded and appended to the tensor
(:func:`seq2pheno.tensorfile.tensor_writer`), and only compact per-sample metadata (id,
phenotype, line, covariates) stays in memory, so memory does not grow with the sequences.
Every sequence source (table, FASTA, simulation) writes ``onehot.npy`` in the compact format
(uint8 base codes N x L, see :mod:`seq2pheno.tensorfile`), which
:func:`seq2pheno.tensorfile.open_tensor` reads as float32 one-hot rows N x L x 4.
:func:`read_table` / :func:`read_fasta` read the same inputs through the same code into a
DataFrame with columns ``id`` (str), ``sequence`` (str, uppercase), ``phenotype`` (float; NaN
only with ``missing_phenotype="keep"``), ``line`` (int, the 1-based line of the file the
sample came from, header = line 1, used in error messages downstream), then any further
columns of the table as covariates (strings, as read); :func:`write_cohort` writes such a
DataFrame.

Tables may be CSV, TSV or semicolon-separated, plain or gzipped: the delimiter is sniffed from
the header line's content, not from the file name. Lines without a double quote are split on
the delimiter directly (the same fields the ``csv`` module gives them, several times faster);
a line with a quote goes through the ``csv`` module, with the following lines of a quoted
field that spans lines.

Every bad input raises :class:`seq2pheno.errors.InputError` naming the file and line or
sample. When an input has several problems, the error raised is the one the former
whole-file readers met first, checking in this order (the first problem of a kind in file
order): for a table, reading (encoding, compression, quoting), header columns, no rows, field
counts, empty ids, duplicate ids, empty sequences, phenotypes, no usable phenotype, unequal
lengths, invalid bases; for a FASTA, reading, no records, duplicate record ids, empty
records, then the phenotype table's problems (as for a table), ids on one side only, no
usable phenotype, unequal lengths, invalid bases. So the streaming readers keep every error
but reading errors until the end of the input (and stop encoding at the first one); an input
with one problem gets the error naming it, wherever it is.
"""

from __future__ import annotations

import array
import bisect
import codecs
import contextlib
import csv
import gzip
import io
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import encode
from .atomic import atomic_path, write_tsv
from .errors import InputError
from .tensorfile import CODE_DTYPE, tensor_writer

SEQUENCE_COLUMNS = ("sequence", "sequences")
PHENOTYPE_COLUMNS = ("phenotype", "phenotypes")
ID_COLUMNS = ("id",)
MISSING_VALUES = frozenset({"", "na", "nan", "n/a", "null", "none", ".", "-"})
MISSING_MODES = ("error", "drop", "keep")
UNMATCHED_MODES = ("error", "drop")
RESERVED = ("id", "sequence", "phenotype", "line")
CHUNK_ROWS = 4096          # rows (records) read, checked and encoded at a time
_CHUNK_CHARS = 32 << 20    # ... or fewer, once a chunk holds this many characters
_SHOW = 5  # ids shown in messages about several samples

# the order in which problems are reported (see the module docstring)
(_FASTA_EMPTY, _FIELDS, _EMPTY_ID, _DUPLICATE, _EMPTY_SEQ, _PHENOTYPE, _LENGTH, _BASE) = range(1, 9)
_NONE = 99


# ----------------------------------------------------------------------------- helpers

def _check_path(path, what: str) -> Path:
    if path is None or str(path) == "":
        raise InputError(path, f"no {what} path given")
    p = Path(path)
    if not p.exists():
        raise InputError(p, f"{what} does not exist")
    if not p.is_file():
        raise InputError(p, f"{what} is not a regular file")
    if p.stat().st_size == 0:
        raise InputError(p, f"{what} is empty")
    return p


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_binary(path: Path):
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _open_text(path: Path):
    """Text handle (utf-8, BOM stripped, newline='' for csv) on a plain or gzipped file."""
    if _is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _utf8_error_offset(path: Path) -> int | None:
    """Byte offset (in the decompressed data) of the first invalid UTF-8 sequence, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        with _open_binary(path) as fh:
            while True:
                block = fh.read(1 << 20)
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as err:
                    return offset - pending + err.start
                if not block:
                    return None
                offset += len(block)
    except (OSError, EOFError):
        return None


def sniff_delimiter(header: str) -> str | None:
    """The delimiter of a header line: the most frequent of tab, comma, semicolon (None if none occurs)."""
    counts = {d: header.count(d) for d in ("\t", ",", ";")}
    best = max(counts, key=counts.get)  # ties: tab, then comma, then semicolon
    return best if counts[best] > 0 else None


class _Deferred:
    """The error to raise at the end: the first one of the earliest-reported kind (rank) found.

    ``message`` may be a function of ``line_of`` (key -> file line), and ``key`` is passed
    through ``line_of``: FASTA errors know a record's index, and its header line is counted
    only when the error is raised.
    """

    def __init__(self):
        self.rank = _NONE
        self._error = None

    def add(self, rank: int, path, message, key) -> None:
        if rank < self.rank:
            self.rank, self._error = rank, (path, message, key)

    def raise_below(self, rank: int = _NONE, line_of=int) -> None:
        """Raise the error kept, if its rank is below ``rank``."""
        if self.rank < rank:
            path, message, key = self._error
            if callable(message):
                message = message(line_of)
            raise InputError(path, message, line=None if key is None else line_of(key))


class _Strings:
    """A column of strings kept compactly: each block of strings joined into one ``str`` with
    its offsets (4 bytes a string), instead of one Python object (about 60 bytes) per string.

    ``extend(list)`` adds a block; ``col[i]``, ``iter(col)``, ``col.take(indices)`` read them
    back. ``hashes`` (int64, one per string, when ``hashed``) serve the duplicate search.
    """

    def __init__(self, hashed: bool = False):
        self._blocks: list[str] = []
        self._offsets: list[array.array] = []
        self._starts = [0]
        self._hashes = array.array("q") if hashed else None

    def extend(self, values: list[str]) -> None:
        if not values:
            return
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)), out=offsets[1:])
        self._blocks.append("".join(values))
        small = offsets[-1] < 2**32   # 4-byte offsets (a chunk holds far fewer characters)
        self._offsets.append(array.array("I" if small else "q",
                                         (offsets.astype(np.uint32) if small else offsets).tobytes()))
        self._starts.append(self._starts[-1] + len(values))
        if self._hashes is not None:
            self._hashes.frombytes(np.fromiter(map(hash, values), dtype=np.int64, count=len(values)).tobytes())

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, i: int) -> str:
        b = bisect.bisect_right(self._starts, i) - 1
        j = i - self._starts[b]
        offsets = self._offsets[b]
        return self._blocks[b][offsets[j]:offsets[j + 1]]

    def __iter__(self):
        for block, o in zip(self._blocks, self._offsets):
            yield from (block[a:b] for a, b in zip(o, o[1:]))

    def take(self, indices) -> list[str]:
        """The strings at ``indices`` (any order), as a list."""
        return [self[i] for i in np.asarray(indices, dtype=np.int64).tolist()]

    @property
    def hashes(self) -> np.ndarray:
        return _as_numpy(self._hashes, np.int64)

    def drop_hashes(self) -> None:
        """Free the hashes (once searched for duplicates); no more strings can be added."""
        self._hashes = None


class _IdIndex:
    """The row of an id in a :class:`_Strings` column of unique ids, found by its hash.

    Holds the sorted hashes and their rows (16 bytes an id, instead of a dict of strings);
    a hash match is confirmed by comparing the strings.
    """

    def __init__(self, ids: _Strings):
        h = ids.hashes
        self._order = np.argsort(h, kind="stable")
        self._sorted = h[self._order]
        self._ids = ids
        del h
        ids.drop_hashes()   # sorted here

    def rows(self, names: list[str]) -> np.ndarray:
        """Row of each of ``names`` (int64), -1 where it is not an id."""
        out = np.full(len(names), -1, dtype=np.int64)
        if not names or not len(self._sorted):
            return out
        h = np.fromiter(map(hash, names), dtype=np.int64, count=len(names))
        lo = np.searchsorted(self._sorted, h, "left")
        hi = np.searchsorted(self._sorted, h, "right")
        order, ids = self._order, self._ids
        for k in np.flatnonzero(hi > lo).tolist():
            name = names[k]
            for p in range(int(lo[k]), int(hi[k])):
                j = int(order[p])
                if ids[j] == name:
                    out[k] = j
                    break
        return out


def _first_duplicate(ids: _Strings) -> tuple[int, int] | None:
    """(i, j) with ``ids[i] == ids[j]``, i < j and j as small as possible; None if all differ.

    The strings' hashes are compared first, so only ids whose hashes collide are read back
    and compared: memory is a few bytes per id.
    """
    h = ids.hashes
    if len(h) < 2:
        return None
    hs = np.sort(h)
    clash = hs[1:][hs[1:] == hs[:-1]]
    del hs
    if clash.size == 0:
        return None
    seen: dict[str, int] = {}
    for i in np.flatnonzero(np.isin(h, clash)).tolist():
        sid = ids[i]
        if sid in seen:
            return seen[sid], i
        seen[sid] = i
    return None


# ----------------------------------------------------------------------------- tables

class _TableReader:
    """A delimited table opened for reading in chunks of rows.

    Opening reads the header (the first non-blank line) and sniffs the delimiter;
    :meth:`chunks` yields lists of ``(line, fields)`` for the data rows (blank lines and rows
    of blank fields skipped but counted). Reading errors (not UTF-8, a broken gzip stream, a
    malformed quoted field) raise InputError when they are met.
    """

    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what
        self._fh = _open_text(path)
        try:
            first = ""
            skipped = 0
            with self._reading():
                for first in self._fh:
                    if first.strip():
                        break
                    skipped += 1
            if not first.strip():
                raise InputError(path, f"{what} has no header line; expected a header naming its columns")
        except BaseException:
            self.close()
            raise
        self.header_line = skipped + 1
        self.delim = sniff_delimiter(first)
        self.header = (next(csv.reader([first], delimiter=self.delim)) if self.delim is not None
                       else [first.strip()])

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _reading(self):
        """Turn a reading error into an InputError naming the file."""
        try:
            yield
        except UnicodeDecodeError as err:
            at = _utf8_error_offset(self.path)
            raise InputError(self.path, f"{self.what} is not UTF-8 text ({err.reason} at byte "
                             f"{err.start if at is None else at}); expected a CSV or TSV table") from None
        except (OSError, EOFError) as err:
            raise InputError(self.path, f"cannot read {self.what}: {err}") from None

    def chunks(self, rows: int = CHUNK_ROWS, chars: int = _CHUNK_CHARS):
        """Yield lists of ``(line, fields)``: ``rows`` rows at most (fewer past ``chars`` characters)."""
        rows = max(1, int(rows))
        chunk: list[tuple[int, list[str]]] = []
        size = 0
        with self._reading():
            for ln, fields, n_chars in self._rows():
                chunk.append((ln, fields))
                size += n_chars
                if len(chunk) >= rows or size >= chars:
                    yield chunk
                    chunk, size = [], 0
        if chunk:
            yield chunk

    def _rows(self):
        """(line, fields, characters) of each data row; a quoted field may span lines."""
        path, what, delim = self.path, self.what, self.delim
        ln = self.header_line
        lines = iter(self._fh)
        if delim is None:
            for text in lines:
                ln += 1
                text = text.rstrip("\r\n")
                if text.strip():
                    yield ln, [text], len(text)
            return
        limit = csv.field_size_limit()
        for text in lines:
            ln += 1
            if '"' in text or "\0" in text or len(text) > limit:
                # the csv module reads this record (and the next lines of a field that spans lines)
                reader = csv.reader(itertools.chain((text,), lines), delimiter=delim)
                try:
                    fields = next(reader, [])
                except csv.Error as err:
                    raise InputError(path, f"malformed {what}: {err}", line=ln + reader.line_num - 1) from None
                ln += reader.line_num - 1
            else:
                fields = text.rstrip("\r\n").split(delim)
            if not fields or all(not f.strip() for f in fields):
                continue
            yield ln, fields, len(text)

    def drain(self) -> None:
        """Read to the end (a reading error there takes precedence over the header's)."""
        for _ in self.chunks():
            pass


def _find_column(header: list[str], names: tuple[str, ...], path: Path, what: str,
                 required: bool = True, header_line: int = 1) -> int | None:
    low = [h.strip().lower() for h in header]
    hits = [i for i, h in enumerate(low) if h in names]
    if len(hits) > 1:
        raise InputError(path, f"several {what} columns ({', '.join(repr(header[i]) for i in hits)}); "
                         "expected exactly one", line=header_line)
    if not hits:
        if not required:
            return None
        found = ", ".join(repr(h.strip()) for h in header)
        raise InputError(path, f"no {what} column; expected one named "
                         f"{' or '.join(repr(n) for n in names)} (case-insensitive), "
                         f"found columns: {found}", line=header_line)
    return hits[0]


def _parse_phenotype(text: str) -> float | None | str:
    """float for a number, None for a missing value, the text itself when not a number."""
    t = text.strip()
    if t.lower() in MISSING_VALUES:
        return None
    try:
        v = float(t)
    except ValueError:
        return t
    return v if math.isfinite(v) else t


def _covariate_name(name: str, taken: set[str]) -> str:
    name = name.strip() or "covariate"
    base, k = name, 1
    while name.lower() in taken:
        name = f"{base}.{k}"
        k += 1
    taken.add(name.lower())
    return name


def _as_numpy(values: array.array, dtype) -> np.ndarray:
    """A numpy view of a growable ``array.array`` (no copy: take it once the array is complete,
    the array cannot grow while the view lives)."""
    return np.frombuffer(values, dtype=dtype) if len(values) else np.empty(0, dtype=dtype)


class _Rows:
    """Compact per-row metadata of a table, every data row in file order.

    ``ids`` (:class:`_Strings`), ``lines`` (int64), ``values`` (float64 phenotypes, NaN =
    missing), ``keep`` (whether the row has a usable phenotype), ``covariates`` ({name:
    :class:`_Strings`}), ``n_missing`` / ``n_bad`` (rows without a phenotype / with a
    non-numeric one): about 40 bytes a row, plus the ids' and covariates' characters.
    """

    def __init__(self, path: Path, covariate_names: list[str]):
        self.path = path
        self.ids = _Strings(hashed=True)
        self._lines = array.array("q")
        self._values = array.array("d")
        self._keep = array.array("b")
        self.covariates = {name: _Strings() for name in covariate_names}
        self.n_missing = self.n_bad = 0

    @property
    def lines(self) -> np.ndarray:
        return _as_numpy(self._lines, np.int64)

    @property
    def values(self) -> np.ndarray:
        return _as_numpy(self._values, np.float64)

    @property
    def keep(self) -> np.ndarray:
        return _as_numpy(self._keep, np.int8).astype(bool)

    def log_phenotypes(self, log, mode: str) -> None:
        """Log the rows without a usable phenotype (dropped or kept unphenotyped)."""
        if log is None or not (self.n_missing or self.n_bad):
            return
        if mode == "drop":
            log.info("%s: dropped %d row(s) without a usable phenotype (%d missing, %d not a number)",
                     self.path, self.n_missing + self.n_bad, self.n_missing, self.n_bad)
        else:
            log.info("%s: %d row(s) without a phenotype kept as unphenotyped", self.path, self.n_missing)


def _scan_table(path, *, what: str, with_sequences: bool, missing_phenotype: str, sink,
                errors: _Deferred, chunk_rows: int) -> _Rows:
    """Read a table in chunks into :class:`_Rows`, passing each chunk's kept sequences to ``sink``.

    Columns: ``phenotype`` and, with ``with_sequences``, ``sequence`` (``id`` optional, default
    the 1-based data row number) or else ``id`` (required). ``sink(sequences, lines)`` gets the
    stripped sequences of the rows with a usable phenotype (non-ASCII ones uppercased, so that
    lengths are counted as before). Raises the reading, header, no-row, field-count,
    empty-id, duplicate-id, empty-sequence and phenotype errors; later kinds stay in
    ``errors``.
    """
    if missing_phenotype not in MISSING_MODES:
        raise ValueError(f"missing_phenotype must be one of {MISSING_MODES}, not {missing_phenotype!r}")
    p = _check_path(path, what)
    with _TableReader(p, what) as reader:
        header, hl = reader.header, reader.header_line
        required = ({"sequence": SEQUENCE_COLUMNS, "phenotype": PHENOTYPE_COLUMNS} if with_sequences
                    else {"id": ID_COLUMNS, "phenotype": PHENOTYPE_COLUMNS})
        optional = {"id": ID_COLUMNS} if with_sequences else {}
        try:
            idx = {k: _find_column(header, names, p, k, header_line=hl) for k, names in required.items()}
            idx.update({k: _find_column(header, names, p, k, required=False, header_line=hl)
                        for k, names in optional.items()})
        except InputError:
            reader.drain()
            raise
        width = len(header)
        i_id, i_seq, i_ph = idx["id"], idx.get("sequence"), idx["phenotype"]
        used = {i for i in idx.values() if i is not None}
        taken = set(RESERVED)
        cov = [(_covariate_name(name, taken), j) for j, name in enumerate(header) if j not in used]
        column = header[i_ph].strip()
        rows = _Rows(p, [name for name, _ in cov])
        cov_columns = [j for _, j in cov]
        mode = missing_phenotype
        lines, values, keep = rows._lines, rows._values, rows._keep
        nan = math.nan
        n_rows = 0
        for chunk in reader.chunks(chunk_rows):
            kept_seqs, kept_lines, ids = [], [], []
            cov_values = [[] for _ in cov_columns]
            for ln, f in chunk:
                n_rows += 1
                if len(f) != width:
                    errors.add(_FIELDS, p, f"{len(f)} field(s); expected {width} as in the header", ln)
                    continue
                if errors.rank <= _FIELDS:
                    continue
                sid = f[i_id].strip() if i_id is not None else str(n_rows)
                if not sid:
                    errors.add(_EMPTY_ID, p, "empty id; expected a sample id", ln)
                ids.append(sid)
                lines.append(ln)
                seq = None
                if i_seq is not None:
                    seq = f[i_seq].strip()
                    if not seq:
                        errors.add(_EMPTY_SEQ, p, "empty sequence; expected a sequence of A, C, G, T", ln)
                    elif not seq.isascii():
                        seq = seq.upper()  # as before: lengths are those of the uppercased text
                v = _parse_phenotype(f[i_ph])
                usable = isinstance(v, float)
                if not usable:
                    if v is None:
                        rows.n_missing += 1
                        if mode == "error":
                            errors.add(_PHENOTYPE, p, f"missing phenotype in column {column!r}; expected "
                                       "a number (or set missing_phenotype to drop or keep)", ln)
                        usable = mode == "keep"
                    else:
                        rows.n_bad += 1
                        if mode != "drop":
                            errors.add(_PHENOTYPE, p, f"phenotype {v!r} in column {column!r} is not a number; "
                                       "expected a finite number"
                                       + (" (or set missing_phenotype to drop)" if mode == "error" else
                                          " or an empty/NA value for an unphenotyped sample"), ln)
                    v = nan
                values.append(v)
                keep.append(usable)
                for values_j, j in zip(cov_values, cov_columns):
                    values_j.append(f[j])
                if usable and seq is not None:
                    kept_seqs.append(seq)
                    kept_lines.append(ln)
            rows.ids.extend(ids)
            for (name, _), values_j in zip(cov, cov_values):
                rows.covariates[name].extend(values_j)
            del ids, cov_values
            if kept_seqs and sink is not None:
                sink(kept_seqs, kept_lines)
        if n_rows == 0:
            raise InputError(p, f"{what} has a header but no data rows; expected one sample per line")
    errors.raise_below(_DUPLICATE)
    dup = _first_duplicate(rows.ids)
    if dup is not None:
        i, j = dup
        raise InputError(p, f"duplicate id {rows.ids[j]!r} on lines {lines[i]} and {lines[j]}; "
                         "expected unique ids", line=lines[j])
    errors.raise_below(_LENGTH)
    return rows


# ----------------------------------------------------------------------------- sequences

class _Encoder:
    """Checks the kept sequences in order and one-hot encodes them into a tensor writer.

    Called with ``(sequences, keys)`` chunk by chunk (``keys``: file lines, or record indices
    turned into lines by the ``line_of`` given when errors are raised). The expected length is
    that of the first sequence; a different length or an invalid base is kept in ``errors``
    (with the count of sequences of another length, as before) and encoding stops at the first
    error of any kind: the tensor is then discarded.
    """

    def __init__(self, writer, errors: _Deferred, source, allow_n: bool, pad_to: int | None = None):
        self.writer, self.errors, self.source, self.allow_n = writer, errors, source, allow_n
        self.pad_to = None if pad_to is None else int(pad_to)
        self.length: int | None = self.pad_to
        self.first_key = None
        self.n_differ = 0
        self._buffer = None

    def __call__(self, sequences: list[str], keys: list[int]) -> None:
        errors = self.errors
        if errors.rank < _LENGTH or not sequences:
            return
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        if self.length is None:
            self.length, self.first_key = int(lengths[0]), keys[0]
        differ = np.flatnonzero(lengths > self.length if self.pad_to else lengths != self.length)
        if differ.size:
            if self.n_differ == 0:
                i = int(differ[0])
                found, length, first = int(lengths[i]), self.length, self.first_key

                def message(line_of, found=found, length=length, first=first):
                    if self.pad_to:
                        return encode.too_long_message(found, length, self.n_differ)
                    return encode.length_message(found, length, line_of(first), self.n_differ)

                errors.add(_LENGTH, self.source, message, keys[i])
            self.n_differ += int(differ.size)
            return
        if errors.rank <= _BASE:
            return
        allow_n = self.allow_n
        if self.pad_to and (lengths < self.length).any():
            if not allow_n:  # an N of the data is still an error: only the padding may be N
                for i, seq in enumerate(sequences):
                    p = seq.upper().find("N")
                    if p >= 0:
                        errors.add(_BASE, self.source, encode.base_message(seq[p].upper(), p), keys[i])
                        return
            sequences = encode.pad_sequences(sequences, self.length)
            allow_n = True
        codes, bad = encode.equal_length_codes(sequences, self.length, allow_n)
        if bad is not None:
            i, p = bad
            s = sequences[i]
            char = s[p].upper() if s.isascii() else s[p]  # reported as read: uppercased
            errors.add(_BASE, self.source, encode.base_message(char, p), keys[i])
            return
        self._buffer = encode.append_onehot(self.writer, codes, self._buffer)


class _Collector:
    """Keeps the kept sequences (uppercased) for the DataFrame readers."""

    def __init__(self):
        self.sequences: list[str] = []

    def __call__(self, sequences: list[str], keys) -> None:
        self.sequences.extend(s.upper() for s in sequences)


def _samples_frame(ids, phenotypes, covariates: dict[str, list[str]]) -> pd.DataFrame:
    """``samples.tsv``'s table: id, phenotype (NaN = unphenotyped), covariates."""
    df = pd.DataFrame({"id": pd.Series(ids, dtype=str),
                       "phenotype": pd.Series(phenotypes, dtype=np.float64)})
    for name, values in covariates.items():
        df[name] = pd.Series(values, dtype=str)
    return df


_SAMPLE_BLOCK = 8192  # rows of samples.tsv formatted at a time


def _write_samples(path, n: int, frame_of) -> None:
    """``samples.tsv`` of ``n`` rows written block by block: ``frame_of(start, stop)`` gives the
    DataFrame of rows start:stop (see :func:`_samples_frame`).

    The bytes are those of one ``write_tsv(DataFrame)``: pandas formats each value on its
    own (and writes in blocks itself).
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        for start in range(0, n, _SAMPLE_BLOCK):
            frame_of(start, min(start + _SAMPLE_BLOCK, n)).to_csv(
                fh, sep="\t", index=False, na_rep="", header=start == 0)


def _write_features(length: int, features_path) -> None:
    write_table_atomic(pd.DataFrame({"position": np.arange(length, dtype=np.int64)}), features_path)


def _summary(n: int, length: int, n_unphenotyped: int) -> dict:
    return {"n": int(n), "length": int(length), "n_phenotyped": int(n) - int(n_unphenotyped),
            "n_unphenotyped": int(n_unphenotyped)}


def _write_streamed(table: _Rows, rows: np.ndarray, length: int, samples_path, features_path) -> dict:
    """samples.tsv (table rows ``rows``) and features.tsv of a streamed cohort; its summary."""
    phenotypes = table.values[rows]

    def frame_of(start, stop):
        r = rows[start:stop]
        return _samples_frame(table.ids.take(r), phenotypes[start:stop],
                              {k: v.take(r) for k, v in table.covariates.items()})

    _write_samples(samples_path, len(rows), frame_of)
    _write_features(length, features_path)
    return _summary(len(rows), length, int(np.isnan(phenotypes).sum()))


# ----------------------------------------------------------------------------- readers

def _table_cohort(path, missing_phenotype, log, sink, errors, chunk_rows):
    """(rows, kept mask) of a sequence table; raises every error up to 'no usable phenotype'."""
    rows = _scan_table(path, what="table", with_sequences=True, missing_phenotype=missing_phenotype,
                       sink=sink, errors=errors, chunk_rows=chunk_rows)
    rows.log_phenotypes(log, missing_phenotype)
    keep = rows.keep
    if not keep.any():
        raise InputError(rows.path, "no sample with a usable phenotype is left; expected at least one")
    return rows, keep


def _kept(rows: _Rows, keep: np.ndarray):
    """ids, phenotypes, lines, covariates of the kept rows (lists, for a DataFrame)."""
    ids = list(itertools.compress(rows.ids, keep))
    covariates = {k: list(itertools.compress(v, keep)) for k, v in rows.covariates.items()}
    return ids, rows.values[keep], rows.lines[keep], covariates


def read_table(path, *, missing_phenotype: str = "error", log=None,
               chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """Read a CSV/TSV of sequences and phenotypes into ``id, sequence, phenotype, line, ...``.

    The header needs a sequence column (``sequence``/``sequences``) and a phenotype column
    (``phenotype``/``phenotypes``), case-insensitive; ``id`` is optional (default: the 1-based
    data row number as a string). Other columns are kept as covariates (strings).
    ``missing_phenotype``: "error" (missing or non-numeric → InputError), "drop" (drop those
    rows, count logged with ``log.info``), "keep" (missing → NaN, an unphenotyped sample; a
    non-numeric value is still an error). Sequences are stripped and uppercased here but
    validated by :func:`validate_sequences` / :func:`write_cohort`. The whole cohort is in
    memory: :func:`import_table` writes a cohort of any size.
    """
    collect = _Collector()
    rows, keep = _table_cohort(path, missing_phenotype, log, collect, _Deferred(), chunk_rows)
    ids, values, lines, covariates = _kept(rows, keep)
    return _frame(ids, collect.sequences, values, lines, covariates)


def import_table(path, *, samples_path, onehot_path, features_path, missing_phenotype: str = "error",
                 allow_n: bool = False, pad_to: int | None = None, log=None,
                 chunk_rows: int = CHUNK_ROWS) -> dict:
    """Read a table as :func:`read_table` does and write the cohort's files, streaming.

    The table is read ``chunk_rows`` rows at a time; each chunk's sequences are validated
    (equal lengths, A, C, G, T and N when ``allow_n``) and written straight into
    ``onehot_path`` (compact: uint8 base codes N x L). Memory holds one chunk and the
    per-sample metadata (id, phenotype, line, covariates), not the sequences. Writes ``samples_path`` (id,
    phenotype, covariates), ``onehot_path`` and ``features_path`` (position 0..L-1) exactly as
    ``write_cohort(read_table(path), ...)`` would, and raises the same InputError for a bad
    input, leaving none of the three files. Returns {"n", "length", "n_phenotyped",
    "n_unphenotyped"}. ``pad_to``: sequences of up to that many bases are padded to it with N
    on both sides (:func:`seq2pheno.encode.pad_sequences`); a longer one is an error. Without
    it every sequence must have the first one's length.
    """
    errors = _Deferred()
    with tensor_writer(onehot_path, dtype=CODE_DTYPE) as writer:
        encoder = _Encoder(writer, errors, path, allow_n, pad_to)
        rows, keep = _table_cohort(path, missing_phenotype, log, encoder, errors, chunk_rows)
        errors.raise_below()
        return _write_streamed(rows, np.flatnonzero(keep), encoder.length, samples_path, features_path)


def _fasta_header_lines(path: Path) -> array.array:
    """1-based line numbers of the '>' header lines of a plain or gzipped FASTA (int64 array)."""
    with _open_binary(path) as fh:
        return array.array("q", (i for i, ln in enumerate(fh, 1) if ln[:1] == b">"))


def _record_lines(path: Path, n_records: int):
    """record index -> 1-based line of its header (the index + 1 if headers cannot be counted)."""
    lines = _fasta_header_lines(path)
    if len(lines) != n_records:  # e.g. FASTQ: fall back on the record index
        return lambda k: int(k) + 1
    return lambda k: lines[int(k)]


def _fasta_cohort(fasta, phenotypes, *, unmatched, missing_phenotype, log, sink, errors, chunk_rows,
                  want_records: bool = False):
    """Stream a FASTA joined to its phenotype table.

    Returns (fasta path, table rows, record index of each kept record (with ``want_records``,
    else None), table row of each kept record, line_of). The phenotype table is read first (it is small), its errors kept until
    the FASTA's have been checked, as the FASTA used to be read first.
    """
    import pysam

    if unmatched not in UNMATCHED_MODES:
        raise ValueError(f"unmatched must be one of {UNMATCHED_MODES}, not {unmatched!r}")
    if missing_phenotype not in MISSING_MODES:
        raise ValueError(f"missing_phenotype must be one of {MISSING_MODES}, not {missing_phenotype!r}")
    fa = _check_path(fasta, "FASTA")
    table, table_error = None, None
    try:
        table = _scan_table(phenotypes, what="phenotype table", with_sequences=False,
                            missing_phenotype=missing_phenotype, sink=None, errors=_Deferred(),
                            chunk_rows=max(chunk_rows, CHUNK_ROWS))
    except InputError as err:
        table_error = err
    index = _IdIndex(table.ids) if table is not None else None
    usable = table.keep if table is not None else None
    matched = np.zeros(len(table.ids) if table is not None else 0, dtype=bool)
    names = _Strings(hashed=True)   # every record id, for the duplicate search
    kept_records, kept_rows = array.array("q"), array.array("q")
    fasta_only: list[str] = []
    n_fasta_only = 0
    chunk_rows = max(1, int(chunk_rows))
    chunk_names: list[str] = []
    chunk_seqs: list[str] = []
    first_k = chars = 0

    def flush(chunk_names: list[str], chunk_seqs: list[str], first_k: int) -> None:
        """Join a chunk of records to the table; pass the sequences with a usable phenotype on."""
        nonlocal n_fasta_only
        names.extend(chunk_names)
        if index is None:
            return
        rows = index.rows(chunk_names)
        for t in np.flatnonzero(rows < 0).tolist():
            n_fasta_only += 1
            if len(fasta_only) <= _SHOW:
                fasta_only.append(chunk_names[t])
        hit = rows >= 0
        matched[rows[hit]] = True
        kept = np.flatnonzero(hit & usable[np.where(hit, rows, 0)])
        if len(kept):
            if want_records:
                kept_records.extend((kept + first_k).tolist())
            kept_rows.extend(rows[kept].tolist())
            sink([chunk_seqs[t] for t in kept.tolist()], (kept + first_k).tolist())

    reading = "expected '>id' header lines followed by sequence lines"
    try:
        fh = pysam.FastxFile(str(fa))
    except (OSError, ValueError) as err:
        raise InputError(fa, f"cannot read FASTA: {err}; {reading}") from None
    with fh:
        records = iter(fh)
        k = -1
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except (OSError, ValueError) as err:
                raise InputError(fa, f"cannot read FASTA: {err}; {reading}") from None
            k += 1
            name = rec.name
            seq = (rec.sequence or "").strip()
            if not seq:
                errors.add(_FASTA_EMPTY, fa, f"record {name!r} has an empty sequence; expected A, C, G, T", k)
            elif not seq.isascii():
                seq = seq.upper()
            chunk_names.append(name)
            chunk_seqs.append(seq)
            chars += len(seq)
            if len(chunk_names) >= chunk_rows or chars >= _CHUNK_CHARS:
                flush(chunk_names, chunk_seqs, first_k)
                chunk_names, chunk_seqs, first_k, chars = [], [], k + 1, 0
    flush(chunk_names, chunk_seqs, first_k)
    del chunk_names, chunk_seqs
    if not len(names):
        raise InputError(fa, f"no FASTA records; {reading}")
    line_of = _lazy_record_lines(fa, len(names))
    dup = _first_duplicate(names)
    if dup is not None:
        i, j = dup
        raise InputError(fa, f"duplicate record id {names[j]!r} on lines {line_of(i)} and {line_of(j)}; "
                         "expected unique ids", line=line_of(j))
    errors.raise_below(_FIELDS, line_of)  # an empty record
    if table_error is not None:
        raise table_error
    table.log_phenotypes(log, missing_phenotype)
    p = table.path
    table_only = np.flatnonzero(~matched)
    if n_fasta_only or len(table_only):
        def first(xs, n):
            return ", ".join(repr(x) for x in xs[:_SHOW]) + (", ..." if n > _SHOW else "")
        parts = []
        if n_fasta_only:
            parts.append(f"{n_fasta_only} FASTA record(s) have no row in {p} "
                         f"(first: {first(fasta_only, n_fasta_only)})")
        if len(table_only):
            parts.append(f"{len(table_only)} row(s) of {p} have no FASTA record "
                         f"(first: {first(table.ids.take(table_only[:_SHOW]), len(table_only))})")
        if unmatched == "error":
            raise InputError(fa if n_fasta_only else p, "; ".join(parts)
                             + "; expected the same ids in both files (or set unmatched to drop)")
        if log is not None:
            log.info("dropped unmatched ids: %s", "; ".join(parts))
    if not kept_rows:
        raise InputError(fa, f"no FASTA record has a usable phenotype in {p}; expected matching ids")
    errors.raise_below(_NONE, line_of)
    return (fa, table, _as_numpy(kept_records, np.int64) if want_records else None,
            _as_numpy(kept_rows, np.int64), line_of)


def _lazy_record_lines(path: Path, n_records: int):
    """line_of(record index) that counts the FASTA's header lines on first use only."""
    cache = []

    def line_of(k):
        if not cache:
            cache.append(_record_lines(path, n_records))
        return cache[0](k)

    return line_of


def _table_kept(table: _Rows, rows: np.ndarray):
    """ids, phenotypes, covariates of the table rows ``rows`` (in that order; lists)."""
    return table.ids.take(rows), table.values[rows], {k: v.take(rows) for k, v in table.covariates.items()}


def read_fasta(fasta, phenotypes, *, unmatched: str = "error", missing_phenotype: str = "error",
               log=None, chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """Read a FASTA (plain or gzipped) and join a phenotype table (``id``, ``phenotype``) on the record id.

    Returns ``id, sequence, phenotype, line, ...covariates`` in FASTA order; ``line`` is the
    1-based line of the record's ``>`` header in the FASTA (found by one extra pass over the
    file; the record's 1-based index if the headers cannot be counted, e.g. for a FASTQ), so
    pass the FASTA as ``source`` to :func:`write_cohort`. Covariates come from the table. The
    record id is the header's first word. Ids present on one side only: ``unmatched="error"``
    raises InputError (file, counts, first ids), ``"drop"`` logs the counts and drops them.
    ``missing_phenotype`` works as in :func:`read_table`; rows dropped for a missing phenotype
    do not count as unmatched. Duplicate ids in either file raise InputError. The whole
    cohort is in memory: :func:`import_fasta` writes a cohort of any size.
    """
    collect = _Collector()
    fa, table, records, rows, line_of = _fasta_cohort(
        fasta, phenotypes, unmatched=unmatched, missing_phenotype=missing_phenotype, log=log,
        sink=collect, errors=_Deferred(), chunk_rows=chunk_rows, want_records=True)
    ids, values, covariates = _table_kept(table, rows)
    return _frame(ids, collect.sequences, values, [line_of(k) for k in records.tolist()], covariates)


def import_fasta(fasta, phenotypes, *, samples_path, onehot_path, features_path,
                 unmatched: str = "error", missing_phenotype: str = "error", allow_n: bool = False,
                 pad_to: int | None = None, log=None, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Read a FASTA and its phenotype table as :func:`read_fasta` does and write the cohort's files, streaming.

    The FASTA is read ``chunk_rows`` records at a time; the records with a usable phenotype
    are validated and written (as base codes) straight into ``onehot_path``. Memory holds the
    phenotype table, the FASTA's record ids and one chunk of sequences. Writes the same files
    as ``write_cohort(read_fasta(...), ..., source=fasta)`` and raises the same InputError for a
    bad input (the FASTA's header lines are counted only to name a line in an error), leaving
    none of the three files. Returns {"n", "length", "n_phenotyped", "n_unphenotyped"}.
    ``pad_to``: as for :func:`import_table`.
    """
    errors = _Deferred()
    with tensor_writer(onehot_path, dtype=CODE_DTYPE) as writer:
        encoder = _Encoder(writer, errors, fasta, allow_n, pad_to)
        _, table, _, rows, _ = _fasta_cohort(
            fasta, phenotypes, unmatched=unmatched, missing_phenotype=missing_phenotype, log=log,
            sink=encoder, errors=errors, chunk_rows=chunk_rows)
        return _write_streamed(table, rows, encoder.length, samples_path, features_path)


def _frame(ids, sequences, phenotypes, lines, covariates) -> pd.DataFrame:
    df = pd.DataFrame({
        "id": pd.Series(ids, dtype=str),
        "sequence": pd.Series(sequences, dtype=str),
        "phenotype": pd.Series(phenotypes, dtype=np.float64),
        "line": pd.Series(lines, dtype=np.int64),
    })
    for name, values in covariates.items():
        df[name] = pd.Series(values, dtype=str)
    return df


def import_simulated(n: int, length: int, *, samples_path, onehot_path, features_path,
                     env: float = 2.0, seed: int = 0, h2: float | None = None) -> tuple[dict, dict]:
    """Simulate a cohort (:mod:`seq2pheno.simulate`) straight into the cohort's files.

    Samples are named ``sim1``... (zero-padded to the width of ``n``); every one is
    phenotyped. The sequences go block by block from :func:`seq2pheno.simulate.simulate_blocks`
    into ``onehot_path``; the files are those of ``write_cohort`` on the output of
    :func:`seq2pheno.simulate.simulate_cohort` with the same arguments. Returns (summary as
    :func:`write_cohort`, the simulation's truth dict).
    """
    from . import simulate

    state = {"buffer": None}
    with tensor_writer(onehot_path, (int(length),), CODE_DTYPE) as writer:
        def encode_block(codes):
            state["buffer"] = encode.append_onehot(writer, codes, state["buffer"])

        phenotypes, truth = simulate.simulate_blocks(n, length, encode_block, env=env, seed=seed, h2=h2)
        width = len(str(len(phenotypes)))

        def frame_of(start, stop):
            return _samples_frame([f"sim{i:0{width}d}" for i in range(start + 1, stop + 1)],
                                  phenotypes[start:stop], {})

        _write_samples(samples_path, len(phenotypes), frame_of)
        _write_features(length, features_path)
        return _summary(len(phenotypes), length, int(np.isnan(phenotypes).sum())), truth


# ----------------------------------------------------------------------------- checks and output

def validate_sequences(df: pd.DataFrame, *, allow_n: bool = False, source=None,
                       chunk_size: int = 50_000) -> int:
    """Check ``df.sequence`` (equal lengths, only A, C, G, T and N when ``allow_n``); return L.

    Errors name ``source`` and the sample's file line (``df.line``, else its 1-based row).
    """
    if len(df) == 0:
        raise InputError(source, "no samples; expected at least one sequence")
    seqs = df["sequence"].tolist()
    lines = df["line"].tolist() if "line" in df else list(range(1, len(df) + 1))
    length = encode.check_lengths(seqs, source=source, lines=lines)
    for start in range(0, len(seqs), chunk_size):
        encode.to_codes(seqs[start:start + chunk_size], allow_n=allow_n, source=source,
                        lines=lines[start:start + chunk_size])
    return length


def write_table_atomic(df: pd.DataFrame, path) -> None:
    """Write ``df`` as a TSV (no index, NaN as empty) via a temporary file renamed onto ``path``."""
    write_tsv(df, path)


def write_cohort(df: pd.DataFrame, *, samples_path, onehot_path, features_path,
                 allow_n: bool = False, source=None) -> dict:
    """Write a cohort read by :func:`read_table` / :func:`read_fasta` (or built in memory).

    ``samples_path``: TSV ``id, phenotype`` (empty = unphenotyped) + covariate columns (all
    columns other than id, sequence, phenotype, line); ``onehot_path``: the compact tensor
    (uint8 base codes N x L, read as float32 N x L x 4 by
    :func:`seq2pheno.tensorfile.open_tensor`), rows in the order of samples.tsv; ``features_path``: TSV ``position`` 0..L-1. Sequences are
    validated while encoding (errors name ``source``, the file the sequences came from, and
    ``df.line``); every file is written to a temporary name and renamed when complete.
    Returns {"n", "length", "n_phenotyped", "n_unphenotyped"}.
    """
    if len(df) == 0:
        raise InputError(source, "no samples; expected at least one sequence")
    missing = [c for c in ("id", "sequence", "phenotype") if c not in df]
    if missing:
        raise ValueError(f"cohort table lacks column(s) {missing}")
    lines = df["line"].tolist() if "line" in df else None
    n, length = encode.write_onehot(onehot_path, df["sequence"].tolist(), allow_n=allow_n,
                                    source=source, lines=lines, compact=True)
    extra = [c for c in df.columns if c not in ("id", "sequence", "phenotype", "line")]
    write_table_atomic(df[["id", "phenotype", *extra]], samples_path)
    _write_features(length, features_path)
    return _summary(n, length, int(df["phenotype"].isna().sum()))
