"""Reading user cohorts (a table of sequences, or a FASTA plus a phenotype table) and writing them.

The readers return a DataFrame with columns ``id`` (str), ``sequence`` (str, uppercase),
``phenotype`` (float; NaN only with ``missing_phenotype="keep"``), ``line`` (int, the 1-based
line of the file the sample came from, header = line 1, used in error messages downstream),
then any further columns of the table as covariates (strings, as read).
Tables may be CSV, TSV or semicolon-separated, plain or gzipped: the delimiter is sniffed from
the header line's content, not from the file name.
Every bad input raises :class:`seq2pheno.errors.InputError` naming the file and line or sample.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import encode
from .atomic import write_tsv
from .errors import InputError

SEQUENCE_COLUMNS = ("sequence", "sequences")
PHENOTYPE_COLUMNS = ("phenotype", "phenotypes")
ID_COLUMNS = ("id",)
MISSING_VALUES = frozenset({"", "na", "nan", "n/a", "null", "none", ".", "-"})
MISSING_MODES = ("error", "drop", "keep")
UNMATCHED_MODES = ("error", "drop")
RESERVED = ("id", "sequence", "phenotype", "line")
_SHOW = 5  # ids shown in messages about several samples


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


def _open_text(path: Path):
    """Text handle (utf-8, BOM stripped, newline='' for csv) on a plain or gzipped file."""
    if _is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def sniff_delimiter(header: str) -> str | None:
    """The delimiter of a header line: the most frequent of tab, comma, semicolon (None if none occurs)."""
    counts = {d: header.count(d) for d in ("\t", ",", ";")}
    best = max(counts, key=counts.get)  # ties: tab, then comma, then semicolon
    return best if counts[best] > 0 else None


def _read_rows(path: Path, what: str):
    """Read a delimited table: (header fields, list of (line, fields), header line); blank lines skipped."""
    try:
        with _open_text(path) as fh:
            first = ""
            skipped = 0
            for first in fh:
                if first.strip():
                    break
                skipped += 1
            if not first.strip():
                raise InputError(path, f"{what} has no header line; expected a header naming its columns")
            delim = sniff_delimiter(first)
            if delim is None:
                fields = [first.strip()]
                reader_lines = ((skipped + 1 + i, [ln.rstrip("\r\n")]) for i, ln in enumerate(fh, 1))
                rows = [(ln, f) for ln, f in reader_lines if f[0].strip()]
                return fields, rows, skipped + 1
            rest = fh.read()
    except UnicodeDecodeError as err:
        raise InputError(path, f"{what} is not UTF-8 text ({err.reason} at byte {err.start}); "
                         "expected a CSV or TSV table") from None
    except (OSError, EOFError) as err:
        raise InputError(path, f"cannot read {what}: {err}") from None
    header_line = skipped + 1
    header = next(csv.reader([first], delimiter=delim))
    reader = csv.reader(io.StringIO(rest, newline=""), delimiter=delim)
    rows = []
    try:
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            rows.append((header_line + reader.line_num, fields))
    except csv.Error as err:
        raise InputError(path, f"malformed {what}: {err}", line=header_line + reader.line_num) from None
    return header, rows, header_line


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


def _phenotypes(values: list[str], lines: list[int], path: Path, column: str,
                mode: str, log) -> tuple[np.ndarray, np.ndarray]:
    """Parse phenotype strings: (float64 values, keep mask). NaN marks missing values kept."""
    if mode not in MISSING_MODES:
        raise ValueError(f"missing_phenotype must be one of {MISSING_MODES}, not {mode!r}")
    out = np.full(len(values), np.nan)
    keep = np.ones(len(values), dtype=bool)
    n_missing = n_bad = 0
    for i, text in enumerate(values):
        v = _parse_phenotype(text)
        if isinstance(v, float):
            out[i] = v
            continue
        if v is None:
            n_missing += 1
            if mode == "error":
                raise InputError(path, f"missing phenotype in column {column!r}; expected a number "
                                 "(or set missing_phenotype to drop or keep)", line=lines[i])
            if mode == "drop":
                keep[i] = False
        else:
            n_bad += 1
            if mode != "drop":
                raise InputError(path, f"phenotype {v!r} in column {column!r} is not a number; "
                                 "expected a finite number"
                                 + (" (or set missing_phenotype to drop)" if mode == "error" else
                                    " or an empty/NA value for an unphenotyped sample"),
                                 line=lines[i])
            keep[i] = False
    if log is not None and (n_missing or n_bad):
        if mode == "drop":
            log.info("%s: dropped %d row(s) without a usable phenotype (%d missing, %d not a number)",
                     path, n_missing + n_bad, n_missing, n_bad)
        else:
            log.info("%s: %d row(s) without a phenotype kept as unphenotyped", path, n_missing)
    return out, keep


def _check_unique(ids: list[str], lines: list[int], path: Path, what: str = "id") -> None:
    seen: dict[str, int] = {}
    for sid, ln in zip(ids, lines):
        if sid in seen:
            raise InputError(path, f"duplicate {what} {sid!r} on lines {seen[sid]} and {ln}; "
                             "expected unique ids", line=ln)
        seen[sid] = ln


def _covariate_name(name: str, taken: set[str]) -> str:
    name = name.strip() or "covariate"
    base, k = name, 1
    while name.lower() in taken:
        name = f"{base}.{k}"
        k += 1
    taken.add(name.lower())
    return name


def _read_delimited(path, *, required: dict[str, tuple[str, ...]], optional: dict[str, tuple[str, ...]],
                    what: str):
    """Generic reader: (path, columns {key: list of str}, covariates {name: list}, lines)."""
    p = _check_path(path, what)
    header, rows, hl = _read_rows(p, what)
    idx = {k: _find_column(header, names, p, k, header_line=hl) for k, names in required.items()}
    idx.update({k: _find_column(header, names, p, k, required=False, header_line=hl)
                for k, names in optional.items()})
    if not rows:
        raise InputError(p, f"{what} has a header but no data rows; expected one sample per line")
    width = len(header)
    for ln, fields in rows:
        if len(fields) != width:
            raise InputError(p, f"{len(fields)} field(s); expected {width} as in the header", line=ln)
    lines = [ln for ln, _ in rows]
    cols = {k: ([f[i] for _, f in rows] if i is not None else None) for k, i in idx.items()}
    used = {i for i in idx.values() if i is not None}
    taken = set(RESERVED)
    covariates = {}
    for j, name in enumerate(header):
        if j not in used:
            covariates[_covariate_name(name, taken)] = [f[j] for _, f in rows]
    return p, header, idx, cols, covariates, lines


def _frame(ids, sequences, phenotypes, lines, covariates, keep) -> pd.DataFrame:
    df = pd.DataFrame({
        "id": pd.Series(ids, dtype=str),
        "sequence": pd.Series(sequences, dtype=str),
        "phenotype": pd.Series(phenotypes, dtype=np.float64),
        "line": pd.Series(lines, dtype=np.int64),
    })
    for name, values in covariates.items():
        df[name] = pd.Series(values, dtype=str)
    return df[keep].reset_index(drop=True)


# ----------------------------------------------------------------------------- readers

def read_table(path, *, missing_phenotype: str = "error", log=None) -> pd.DataFrame:
    """Read a CSV/TSV of sequences and phenotypes into ``id, sequence, phenotype, line, ...``.

    The header needs a sequence column (``sequence``/``sequences``) and a phenotype column
    (``phenotype``/``phenotypes``), case-insensitive; ``id`` is optional (default: the 1-based
    data row number as a string). Other columns are kept as covariates (strings).
    ``missing_phenotype``: "error" (missing or non-numeric → InputError), "drop" (drop those
    rows, count logged with ``log.info``), "keep" (missing → NaN, an unphenotyped sample; a
    non-numeric value is still an error). Sequences are stripped and uppercased here but
    validated by :func:`validate_sequences` / :func:`write_cohort`.
    """
    p, header, idx, cols, covariates, lines = _read_delimited(
        path, required={"sequence": SEQUENCE_COLUMNS, "phenotype": PHENOTYPE_COLUMNS},
        optional={"id": ID_COLUMNS}, what="table")
    ids = ([s.strip() for s in cols["id"]] if cols["id"] is not None
           else [str(i) for i in range(1, len(lines) + 1)])
    for sid, ln in zip(ids, lines):
        if not sid:
            raise InputError(p, "empty id; expected a sample id", line=ln)
    _check_unique(ids, lines, p)
    seqs = [s.strip().upper() for s in cols["sequence"]]
    for s, ln in zip(seqs, lines):
        if not s:
            raise InputError(p, "empty sequence; expected a sequence of A, C, G, T", line=ln)
    values, keep = _phenotypes(cols["phenotype"], lines, p, header[idx["phenotype"]].strip(),
                               missing_phenotype, log)
    if not keep.any():
        raise InputError(p, "no sample with a usable phenotype is left; expected at least one")
    return _frame(ids, seqs, values, lines, covariates, keep)


def _fasta_header_lines(path: Path) -> list[int]:
    """1-based line numbers of the '>' header lines of a plain or gzipped FASTA."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        return [i for i, ln in enumerate(fh, 1) if ln[:1] == b">"]


def read_fasta(fasta, phenotypes, *, unmatched: str = "error", missing_phenotype: str = "error",
               log=None) -> pd.DataFrame:
    """Read a FASTA (plain or gzipped) and join a phenotype table (``id``, ``phenotype``) on the record id.

    Returns ``id, sequence, phenotype, line, ...covariates`` in FASTA order; ``line`` is the
    1-based line of the record's ``>`` header in the FASTA (found by one extra pass over the
    file; the record's 1-based index if the headers cannot be counted, e.g. for a FASTQ), so
    pass the FASTA as ``source`` to :func:`write_cohort`. Covariates come from the table. The record id is the header's first
    word. Ids present on one side only: ``unmatched="error"`` raises InputError (file, counts,
    first ids), ``"drop"`` logs the counts and drops them. ``missing_phenotype`` works as in
    :func:`read_table`; rows dropped for a missing phenotype do not count as unmatched.
    Duplicate ids in either file raise InputError.
    """
    import pysam

    if unmatched not in UNMATCHED_MODES:
        raise ValueError(f"unmatched must be one of {UNMATCHED_MODES}, not {unmatched!r}")
    fa = _check_path(fasta, "FASTA")
    names, seqs = [], []
    try:
        with pysam.FastxFile(str(fa)) as fh:
            for rec in fh:
                names.append(rec.name)
                seqs.append(rec.sequence or "")
    except (OSError, ValueError) as err:
        raise InputError(fa, f"cannot read FASTA: {err}; expected '>id' header lines followed "
                         "by sequence lines") from None
    if not names:
        raise InputError(fa, "no FASTA records; expected '>id' header lines followed by sequence lines")
    lines = _fasta_header_lines(fa)
    if len(lines) != len(names):  # e.g. FASTQ: fall back on the record index
        lines = list(range(1, len(names) + 1))
    _check_unique(names, lines, fa, what="record id")
    for name, s, ln in zip(names, seqs, lines):
        if not s.strip():
            raise InputError(fa, f"record {name!r} has an empty sequence; expected A, C, G, T", line=ln)
    seqs = [s.strip().upper() for s in seqs]

    p, header, idx, cols, covariates, tlines = _read_delimited(
        phenotypes, required={"id": ID_COLUMNS, "phenotype": PHENOTYPE_COLUMNS}, optional={},
        what="phenotype table")
    tids = [s.strip() for s in cols["id"]]
    for sid, ln in zip(tids, tlines):
        if not sid:
            raise InputError(p, "empty id; expected a sample id", line=ln)
    _check_unique(tids, tlines, p)
    values, keep = _phenotypes(cols["phenotype"], tlines, p, header[idx["phenotype"]].strip(),
                               missing_phenotype, log)
    row_of = {sid: i for i, sid in enumerate(tids)}
    dropped = {tids[i] for i in np.flatnonzero(~keep)}
    fasta_only = [sid for sid in names if sid not in row_of]
    name_set = set(names)
    table_only = [sid for sid in tids if sid not in name_set]
    if fasta_only or table_only:
        def first(xs):
            return ", ".join(repr(x) for x in xs[:_SHOW]) + (", ..." if len(xs) > _SHOW else "")
        parts = []
        if fasta_only:
            parts.append(f"{len(fasta_only)} FASTA record(s) have no row in {p} (first: {first(fasta_only)})")
        if table_only:
            parts.append(f"{len(table_only)} row(s) of {p} have no FASTA record (first: {first(table_only)})")
        if unmatched == "error":
            raise InputError(fa if fasta_only else p, "; ".join(parts)
                             + "; expected the same ids in both files (or set unmatched to drop)")
        if log is not None:
            log.info("dropped unmatched ids: %s", "; ".join(parts))
    rows = [(i, row_of[sid]) for i, sid in enumerate(names) if sid in row_of and sid not in dropped]
    if not rows:
        raise InputError(fa, f"no FASTA record has a usable phenotype in {p}; expected matching ids")
    fi = [i for i, _ in rows]
    ti = [j for _, j in rows]
    return _frame([names[i] for i in fi], [seqs[i] for i in fi], values[ti],
                  [lines[i] for i in fi], {k: [v[j] for j in ti] for k, v in covariates.items()},
                  np.ones(len(rows), dtype=bool))


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
    columns other than id, sequence, phenotype, line); ``onehot_path``: float32 N x L x 4 .npy,
    rows in the order of samples.tsv; ``features_path``: TSV ``position`` 0..L-1. Sequences are
    validated while encoding (errors name ``source``, the file the sequences came from, and
    ``df.line``); every file is written to a
    temporary name and renamed when complete. Returns {"n", "length", "n_phenotyped",
    "n_unphenotyped"}.
    """
    if len(df) == 0:
        raise InputError(source, "no samples; expected at least one sequence")
    missing = [c for c in ("id", "sequence", "phenotype") if c not in df]
    if missing:
        raise ValueError(f"cohort table lacks column(s) {missing}")
    lines = df["line"].tolist() if "line" in df else None
    n, length = encode.write_onehot(onehot_path, df["sequence"].tolist(), allow_n=allow_n,
                                    source=source, lines=lines)
    extra = [c for c in df.columns if c not in ("id", "sequence", "phenotype", "line")]
    samples = df[["id", "phenotype", *extra]]
    write_table_atomic(samples, samples_path)
    write_table_atomic(pd.DataFrame({"position": np.arange(length, dtype=np.int64)}), features_path)
    n_unphenotyped = int(df["phenotype"].isna().sum())
    return {"n": int(n), "length": int(length), "n_phenotyped": int(n) - n_unphenotyped,
            "n_unphenotyped": n_unphenotyped}
