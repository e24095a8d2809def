"""Genotype cohorts from a marker matrix (0/1/2) or PLINK .bed/.bim/.fam -> :class:`GenotypeData`.

The two readers here give the same :class:`seq2pheno.vcf.GenotypeData` a VCF of the same
genotypes gives (``variants`` encoding, one row per sample), so the import writes the same
samples.tsv, onehot.npy, features.tsv, missing.npy and dosage.npy (see docs/genotypes.md).

Marker matrix (:func:`read_markers`)
    a TSV or CSV (the separator is sniffed from the header: tab, else comma, else white space;
    plain or gzipped), one row per sample: the id in the first column, then one column per
    marker, headed by the marker id. With ``coding='dosage'`` a value is the number of copies of
    the marker's ALT allele, 0, 1 or 2; with ``coding='centered'`` it is that number minus one
    (-1, 0, 1); with ``coding='binary'`` 0 and 1 are the two homozygotes (0 and 2 ALT copies:
    inbred lines, DArT markers). ``coding='auto'`` (the default) chooses among the three from
    the values (:func:`decide_coding`) and says so. Missing calls are ``NA``, an empty cell,
    ``.``, ``NaN`` or ``-9``. Any other value (a fraction, text, a number out of range) is an
    error.
Marker map (optional)
    a TSV or CSV with a header: the marker id first, then columns ``chrom`` (or ``chr``,
    ``chromosome``), ``pos`` (or ``position``, ``pos_bp``, ``bp``) and, optionally, ``ref``
    and ``alt``: the allele not counted and the allele counted. Other columns are ignored. Every
    matrix column must have exactly one row, and every row a matrix column. Without alleles
    (or for a row whose ref and alt are empty) the placeholder alleles REF ``A`` / ALT ``C`` are
    used, and without a map every marker sits on chromosome ``0`` (unplaced) at position =
    its column number (1, 2, ...). Whether they enter kinship is the kinship step's reading of
    chromosome names (:func:`seq2pheno.kinship.autosomal_mask`).
PLINK 1 binary (:func:`read_plink`)
    ``prefix.bed`` (read with ``bed-reader``), ``prefix.bim`` and ``prefix.fam``. The sample id
    is the .fam IID (column 2; the FID is ignored). The dosage counts allele 1 of the .bim
    (column 5, A1), the allele ``plink2 --vcf ... --make-bed`` writes for the VCF's ALT; allele 2
    (column 6, A2) is the REF. So the tensor of a .bed made from a VCF equals the VCF's.

Markers whose alleles are not two different single bases are skipped and counted as a VCF's
records are (``no_alt`` for a missing allele ``0`` or ``.``, ``indel``, ``mnp``, ``symbolic``).
Missing calls follow ``missing`` as for a VCF: ``error`` stops naming the sample and marker,
``reference`` makes them homozygous REF, ``mean`` keeps them missing (imputed after the split).
Every bad input is one :class:`~seq2pheno.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, require_file
from .vcf import _BASE_INDEX, GenotypeData, _classify_alt

CODINGS = ("auto", "dosage", "centered", "binary")
MISSING_TOKENS = ("", "NA", "na", "NaN", "nan", ".", "-9")
#: REF and ALT of a marker whose alleles are not known (channels A and C).
PLACEHOLDER_REF, PLACEHOLDER_ALT = "A", "C"
PLINK_EXTENSIONS = (".bed", ".bim", ".fam")
_CHROM_NAMES = ("chrom", "chr", "chromosome", "#chrom")
_POS_NAMES = ("pos", "position", "pos_bp", "bp", "bp_position")
_SKIP_KEYS = ("indel", "symbolic", "mnp", "no_alt", "ref_mismatch", "non_snv_allele",
              "missing_set_to_reference")


# ----------------------------------------------------------------------------- text tables
def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", newline="")
    return open(path, "rt", newline="")


def _splitter(header: str):
    """The field splitter of a table, sniffed from its header line."""
    if "\t" in header:
        return lambda s: s.split("\t")
    if "," in header:
        return lambda s: s.split(",")
    return lambda s: s.split()


def _unquote(field: str) -> str:
    """A field without the double quotes R's write.csv puts around text."""
    return field[1:-1] if len(field) >= 2 and field[0] == field[-1] == '"' else field


def _lines(path: Path, *, whitespace: bool = False):
    """(line number, fields) of the non-blank lines of a table, the header first.

    The separator is sniffed from the first line (tab, else comma, else white space), or is
    any white space with ``whitespace`` (PLINK text files)."""
    try:
        with _open_text(path) as fh:
            split = None
            for n, raw in enumerate(fh, 1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    continue
                if split is None:
                    split = (lambda t: t.split()) if whitespace else _splitter(line)
                yield n, [_unquote(f.strip()) for f in split(line)]
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot be read as a text table ({err})") from None


#: a raw value's range per coding (``auto``: any of them, decided once the matrix is read)
_RANGES = {"dosage": (0, 2), "centered": (-1, 1), "binary": (0, 1), "auto": (-1, 2)}
_MISSING_RAW = -128
#: ``coding: auto`` reads a matrix of only 0 and 1 as ``binary`` (the two homozygotes) when, read
#: as ALT counts, Hardy-Weinberg would expect at least this many homozygous-ALT calls (the sum
#: over markers of n p^2, p = the 1s' ALT frequency) and it holds none
AUTO_BINARY_MIN_HOM_ALT = 20


def _dosage_parser(path: Path, coding: str):
    """A cached token -> raw value function (the coding's range, :data:`_MISSING_RAW` for a
    missing call); raises InputError on bad tokens."""
    if coding not in CODINGS:
        raise InputError("config", f"coding {coding!r}: expected one of {', '.join(CODINGS)}")
    lo, hi = _RANGES[coding]
    table = {t: _MISSING_RAW for t in MISSING_TOKENS}
    table.update({str(v): v for v in range(lo, hi + 1)})
    what = {"dosage": "ALT allele counts", "centered": "centered dosages",
            "binary": "0/1 homozygotes", "auto": "ALT counts 0..2 or centered -1..1"}[coding]
    hint = "; -1/0/1 matrices: coding: centered" if coding == "dosage" else ""

    def parse(tok: str, *, line: int, sample: str, marker: str) -> int:
        if tok in table:
            return table[tok]
        try:
            v = float(tok)
        except ValueError:
            raise InputError(path, f"marker {marker!r}: {tok!r} is not a number (expected "
                                   f"{', '.join(map(str, range(lo, hi + 1)))} or NA)", line=line,
                             sample=sample) from None
        if not np.isfinite(v) or v != int(v) or not lo <= v <= hi:
            raise InputError(path, f"marker {marker!r}: {tok!r} is outside {lo}..{hi} (whole "
                                   f"{what}, coding: {coding}{hint})", line=line, sample=sample)
        table[tok] = int(v)
        return table[tok]

    return table, parse


def decide_coding(raw: np.ndarray, coding: str, path, lines: list[int]) -> tuple[np.ndarray, str, str | None]:
    """(int8 ALT counts 0/1/2 with -1 = missing, the coding used, why ``auto`` chose it) of a
    raw matrix (int8 (N, M), :data:`_MISSING_RAW` = missing); ``lines``: each row's file line.

    ``auto``: a -1 anywhere means ``centered``, a 2 ``dosage`` (both: an error naming a line of
    each); a matrix of only 0 and 1 is ``binary`` (0 and 1 the two homozygotes, as inbred lines
    and DArT markers are often coded) when reading it as ALT counts would call at least
    :data:`AUTO_BINARY_MIN_HOM_ALT` homozygous-ALT genotypes missing under Hardy-Weinberg, else
    ``dosage``."""
    reason = None
    if coding == "auto":
        neg, two = (raw == -1).any(axis=1), (raw == 2).any(axis=1)
        if neg.any() and two.any():
            a, b = lines[int(np.argmax(neg))], lines[int(np.argmax(two))]
            raise InputError(path, f"holds both -1 (line {a}) and 2 (line {b}): neither ALT counts "
                                   "0/1/2 nor centered counts -1/0/1 (missing calls: NA, empty, ., -9); "
                                   "set coding for this cohort", line=a)
        if neg.any():
            coding, reason = "centered", "a -1 occurs and no 2: centered counts -1/0/1"
        elif two.any():
            coding = "dosage"
        else:
            called = (raw >= 0).sum(axis=0)
            ones = (raw == 1).sum(axis=0).astype(np.float64)
            hom_alt = float(np.sum(np.divide(ones ** 2, 4.0 * called, out=np.zeros(len(ones)),
                                             where=called > 0)))
            if hom_alt >= AUTO_BINARY_MIN_HOM_ALT:
                coding = "binary"
                reason = (f"only 0 and 1 occur: read as ALT counts, Hardy-Weinberg would expect "
                          f"{hom_alt:,.0f} homozygous-ALT calls (2) and there are none, so 0 and 1 "
                          "are read as the two homozygotes (inbred lines, DArT); coding: dosage "
                          "reads 1 as heterozygous")
            else:
                coding = "dosage"
    missing = raw == _MISSING_RAW
    out = {"dosage": raw, "centered": raw + 1, "binary": raw * 2}[coding].astype(np.int8)
    out[missing] = -1
    return out, coding, reason


def read_marker_matrix(path, *, coding: str = "auto") -> tuple[list, list, np.ndarray, str, str | None]:
    """(sample ids, marker ids, int8 (N, M) ALT counts with -1 = missing, the coding used, why
    ``auto`` chose it or None) of a marker matrix (see :func:`decide_coding`)."""
    path = Path(path)
    require_file(path, "marker matrix")
    table, parse = _dosage_parser(path, coding)
    rows = _lines(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise InputError(path, "marker matrix has no header") from None
    markers = header[1:]
    if not markers:
        raise InputError(path, "the header has no marker column (expected: id, then one column "
                               "per marker)", line=1)
    seen = {}
    for k, m in enumerate(markers):
        if not m:
            raise InputError(path, f"column {k + 2} of the header has no marker id", line=1)
        if m in seen:
            raise InputError(path, f"marker id {m!r} heads columns {seen[m] + 2} and {k + 2}; "
                                   "marker ids must be unique", line=1)
        seen[m] = k
    width = len(header)
    ids, lines, out = [], {}, []
    for n, fields in rows:
        sid = fields[0]
        if len(fields) != width:
            raise InputError(path, f"{len(fields)} fields, the header has {width}", line=n,
                             sample=sid or None)
        if not sid:
            raise InputError(path, "empty sample id", line=n)
        if sid in lines:
            raise InputError(path, f"sample id listed twice (first on line {lines[sid]}); ids "
                                   "must be unique", line=n, sample=sid)
        lines[sid] = n
        vals = fields[1:]
        try:
            row = np.fromiter(map(table.__getitem__, vals), np.int8, len(vals))
        except KeyError:
            row = np.array([parse(t, line=n, sample=sid, marker=m) for t, m in zip(vals, markers)], np.int8)
        ids.append(sid)
        out.append(row)
    if not ids:
        raise InputError(path, "marker matrix has no sample row")
    dosage, used, reason = decide_coding(np.stack(out), coding, path, [lines[i] for i in ids])
    return ids, list(markers), dosage, used, reason


def _column(names: list, wanted, path, what: str, *, required: bool = True):
    low = [c.lower() for c in names]
    for w in wanted:
        if w in low:
            return low.index(w)
    if required:
        raise InputError(path, f"no {what} column ({' or '.join(wanted[:3])}) in the header "
                               f"(columns: {', '.join(names)})", line=1)
    return None


def read_marker_map(path, markers: list, *, matrix=None) -> pd.DataFrame:
    """The map rows of ``markers`` (matrix column order): chrom, pos, ref, alt, line.

    ref/alt are empty where the map has no alleles. A marker missing from the map, a map row
    naming no matrix column, a duplicate row or a bad position raise InputError.
    """
    path = Path(path)
    require_file(path, "marker map")
    rows = _lines(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise InputError(path, "marker map has no header") from None
    ci = _column(header, _CHROM_NAMES, path, "chromosome")
    pi = _column(header, _POS_NAMES, path, "position")
    ri = _column(header, ("ref",), path, "ref", required=False)
    ai = _column(header, ("alt",), path, "alt", required=False)
    if (ri is None) != (ai is None):
        raise InputError(path, "the map has one of the ref and alt columns: give both or neither", line=1)
    wanted = {m: k for k, m in enumerate(markers)}
    found = {}
    n_m = len(markers)
    chrom = np.empty(n_m, dtype=object)
    pos = np.zeros(n_m, np.int64)
    ref = np.full(n_m, "", dtype=object)
    alt = np.full(n_m, "", dtype=object)
    line = np.full(n_m, -1, np.int64)
    for n, fields in rows:
        if len(fields) != len(header):
            raise InputError(path, f"{len(fields)} fields, the header has {len(header)}", line=n)
        mid = fields[0]
        if mid in found:
            raise InputError(path, f"marker {mid!r} is listed twice (first on line {found[mid]})", line=n)
        if mid not in wanted:
            raise InputError(path, f"marker {mid!r} is not a column of the marker matrix"
                                   f"{' ' + str(matrix) if matrix else ''}", line=n)
        found[mid] = n
        k = wanted[mid]
        try:
            p = int(fields[pi])
        except ValueError:
            p = 0
        if p < 1:
            raise InputError(path, f"marker {mid!r}: position {fields[pi]!r} is not a positive whole "
                                   "number", line=n)
        if not fields[ci]:
            raise InputError(path, f"marker {mid!r}: empty chromosome", line=n)
        chrom[k], pos[k], line[k] = fields[ci], p, n
        if ri is not None:
            ref[k], alt[k] = fields[ri].upper(), fields[ai].upper()
    if len(found) < n_m:
        k = next(k for k, m in enumerate(markers) if m not in found)
        raise InputError(path, f"has no row for marker {markers[k]!r} (column {k + 2} of the "
                               f"marker matrix{' ' + str(matrix) if matrix else ''}); "
                               f"{n_m - len(found)} marker(s) lack a map row")
    return pd.DataFrame({"chrom": chrom.astype(str), "pos": pos, "ref": ref, "alt": alt, "line": line})


# ----------------------------------------------------------------------------- GenotypeData
def _allele_reason(ref: str, alt: str) -> str:
    """'snv', or the VCF skip reason of a marker with these alleles."""
    if ref in ("0", ".", "") or alt in ("0", ".", ""):
        return "no_alt"
    if len(ref) == 1 and ref in _BASE_INDEX:
        return _classify_alt(ref, alt)
    reason = _classify_alt(ref, alt)
    return "indel" if reason == "snv" else reason


def from_dosage(samples: list, dosage: np.ndarray, sites: pd.DataFrame, *, path, missing: str = "mean",
                names=None, where=None, log: logging.Logger | None = None) -> GenotypeData:
    """A :class:`GenotypeData` (variants encoding, unphased) from ALT counts.

    dosage: int8 (N, M), 0/1/2 ALT copies, -1 missing. sites: M rows of chrom, pos, ref, alt
    (one base each, or both empty for the placeholder alleles), line (-1 when none).
    names: marker ids (for messages); where(j): the file and line of marker j for messages.
    ``path``: the genotype file named in errors. ``missing``: error | mean | reference.
    """
    log = log or logging.getLogger("seq2pheno.markers")
    path = Path(path)
    if missing not in ("error", "mean", "reference"):
        raise InputError("config", f"missing {missing!r}: expected error, mean or reference")
    sites = sites.reset_index(drop=True).copy()
    names = list(names) if names is not None else [f"{c}:{p}" for c, p in zip(sites["chrom"], sites["pos"])]
    skipped = {k: 0 for k in _SKIP_KEYS}
    ref = sites["ref"].astype(str).str.upper().to_numpy()
    alt = sites["alt"].astype(str).str.upper().to_numpy()
    unknown = (ref == "") & (alt == "")
    ref[unknown], alt[unknown] = PLACEHOLDER_REF, PLACEHOLDER_ALT
    keep = np.ones(len(sites), bool)
    shown = 0
    for j in range(len(sites)):
        reason = _allele_reason(ref[j], alt[j])
        if reason == "snv" and ref[j] == alt[j]:
            f, ln = where(j) if where else (path, None)
            raise InputError(f, f"marker {names[j]!r}: both alleles are {ref[j]!r}", line=ln)
        if reason != "snv":
            keep[j] = False
            skipped[reason] += 1
            if shown < 5:
                log.info("skipped marker %s (%s/%s): %s", names[j], ref[j], alt[j], reason)
                shown += 1
    dosage = np.asarray(dosage, np.int8)[:, keep]
    sites, ref, alt = sites[keep].reset_index(drop=True), ref[keep], alt[keep]
    names = [n for n, k in zip(names, keep) if k]
    miss = dosage < 0
    if miss.any() and missing == "error":
        i, j = map(int, np.argwhere(miss)[0])
        raise InputError(path, f"marker {names[j]!r}: missing genotype call (missing: error; use "
                               "missing: mean or reference to allow it)", sample=samples[i])
    if missing == "reference":
        skipped["missing_set_to_reference"] = int(miss.sum())
        dosage = np.where(miss, 0, dosage).astype(np.int8)
    M, N = dosage.shape[1], len(samples)
    if M == 0:
        raise InputError(path, f"no SNV marker left to encode (skipped: "
                               f"{ {k: v for k, v in skipped.items() if v} or 'none'})")
    d = np.ascontiguousarray(dosage.T)  # (M, N)
    calls = np.empty((M, N, 2), np.int8)
    calls[:, :, 0] = np.where(d < 0, -1, d >= 2)
    calls[:, :, 1] = np.where(d < 0, -1, d >= 1)
    bases = np.array([[_BASE_INDEX[r], _BASE_INDEX[a]] for r, a in zip(ref, alt)], np.int8).reshape(M, 2)
    reference = np.zeros((M, 4), np.float32)
    reference[np.arange(M), bases[:, 0]] = 1.0
    chrom = sites["chrom"].astype(str).to_numpy()
    pos = sites["pos"].to_numpy(np.int64)
    table = pd.DataFrame({"chrom": chrom, "pos": pos, "ref": ref, "alt": alt,
                          "n_alleles": np.full(M, 2, np.int64), "multiallelic": np.zeros(M, bool),
                          "line": sites["line"].to_numpy(np.int64), "column": np.arange(M)})
    features = pd.DataFrame({"position": np.arange(M), "chrom": chrom, "pos": pos, "ref": ref, "alt": alt})
    n_skipped = {k: v for k, v in skipped.items() if v}
    log.info("read %d samples x %d SNV markers from %s; skipped: %s", N, M, path, n_skipped or "none")
    return GenotypeData(samples=list(samples), features=features, sites=table, calls=calls,
                        site_bases=bases, reference=reference, skipped=skipped,
                        encoding="variants", haplotypes=False)


def read_markers(matrix, map_path=None, *, coding: str = "auto", missing: str = "mean",
                 log: logging.Logger | None = None, details: dict | None = None) -> GenotypeData:
    """Read a marker matrix (and its map) into a :class:`GenotypeData` (see the module docstring).
    ``details``, when given, receives ``coding`` (the coding used) and ``coding_reason`` (why
    ``auto`` chose it, or None)."""
    log = log or logging.getLogger("seq2pheno.markers")
    ids, markers, dosage, used, reason = read_marker_matrix(matrix, coding=coding)
    if reason:
        log.warning("%s: coding %s (%s)", matrix, used, reason)
    if details is not None:
        details.update(coding=used, coding_reason=reason)
    if map_path:
        sites = read_marker_map(map_path, markers, matrix=matrix)

        def where(j):
            return map_path, int(sites["line"].iloc[j])
    else:
        log.warning("no marker map: the %d markers are placed on chromosome 0 (unplaced) at their "
                    "column numbers, with placeholder alleles %s/%s", len(markers), PLACEHOLDER_REF, PLACEHOLDER_ALT)
        sites = pd.DataFrame({"chrom": "0", "pos": np.arange(1, len(markers) + 1), "ref": "",
                              "alt": "", "line": -1})
        where = None
    return from_dosage(ids, dosage, sites, path=matrix, missing=missing, names=markers, where=where, log=log)


# ----------------------------------------------------------------------------- PLINK
def plink_files(prefix) -> dict:
    """{'bed', 'bim', 'fam'} paths of a PLINK prefix (a path without extension; a trailing
    .bed/.bim/.fam is taken off)."""
    prefix = str(prefix)
    for ext in PLINK_EXTENSIONS:
        if prefix.endswith(ext):
            prefix = prefix[: -len(ext)]
    return {ext[1:]: Path(prefix + ext) for ext in PLINK_EXTENSIONS}


def _read_whitespace(path: Path, ncol: int, what: str) -> list[tuple[int, list]]:
    require_file(path, what)
    out = []
    for n, fields in _lines(path, whitespace=True):
        if len(fields) != ncol:
            raise InputError(path, f"{len(fields)} fields, a {what} line has {ncol}", line=n)
        out.append((n, fields))
    if not out:
        raise InputError(path, f"{what} has no line")
    return out


def read_plink(prefix, *, missing: str = "mean", log: logging.Logger | None = None) -> GenotypeData:
    """Read ``prefix.bed/.bim/.fam`` into a :class:`GenotypeData` (A1 counted as the ALT)."""
    from bed_reader import open_bed

    log = log or logging.getLogger("seq2pheno.markers")
    files = plink_files(prefix)
    require_file(files["bed"], "PLINK .bed")
    fam = _read_whitespace(files["fam"], 6, ".fam")
    bim = _read_whitespace(files["bim"], 6, ".bim")
    ids, first = [], {}
    for n, f in fam:
        if f[1] in first:
            raise InputError(files["fam"], f"IID listed twice (first on line {first[f[1]]}); sample "
                                           "ids must be unique", line=n, sample=f[1])
        first[f[1]] = n
        ids.append(f[1])
    seen, rows = {}, []
    for n, f in bim:
        if f[1] in seen and f[1] != ".":
            raise InputError(files["bim"], f"variant id {f[1]!r} listed twice (first on line "
                                           f"{seen[f[1]]})", line=n)
        seen[f[1]] = n
        try:
            p = int(f[3])
        except ValueError:
            raise InputError(files["bim"], f"position {f[3]!r} is not a whole number", line=n) from None
        # column 5 = A1 (counted: ALT), column 6 = A2 (REF), as plink2 --make-bed writes a VCF
        rows.append((f[0], p, f[5].upper(), f[4].upper(), n))
    sites = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "line"])
    n_s, n_m = len(ids), len(rows)
    size = os.path.getsize(files["bed"])
    want = 3 + n_m * ((n_s + 3) // 4)
    with open(files["bed"], "rb") as fh:
        magic = fh.read(3)
    if magic[:2] != b"\x6c\x1b":
        raise InputError(files["bed"], "is not a PLINK 1 .bed file (no magic bytes 6c 1b)")
    if magic[2:] != b"\x01":
        raise InputError(files["bed"], "is sample-major; rewrite it variant-major (plink2 --make-bed)")
    if size != want:
        raise InputError(files["bed"], f"holds {size} bytes, but {n_m} variants (.bim) x {n_s} samples "
                                       f"(.fam) need {want}: the .bim or .fam does not belong to this .bed")
    try:
        bed = open_bed(files["bed"], iid_count=n_s, sid_count=n_m, count_A1=True, num_threads=1)
        val = bed.read(dtype="int8", order="C")
    except (ValueError, OSError, RuntimeError) as err:
        raise InputError(files["bed"], f"cannot be read ({err})") from None
    val[val < 0] = -1

    def where(j):
        return files["bim"], int(sites["line"].iloc[j])

    names = [f"{f[1]} ({f[0]}:{f[3]})" if f[1] == "." else f[1] for _, f in bim]
    sites["pos"] = sites["pos"].clip(lower=0)
    return from_dosage(ids, val, sites, path=files["bed"], missing=missing, names=names, where=where, log=log)
