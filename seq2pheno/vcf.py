"""Genotype cohorts: VCF/BCF + reference FASTA -> allele-composition tensors.

Records, header, contigs, REF/ALT and samples are read with :class:`pysam.VariantFile`; the
reference with :class:`pysam.FastaFile` (or :class:`pysam.FastxFile` when the FASTA has no
index). Genotypes are decoded in bulk rather than sample by sample: for a text VCF (.vcf,
.vcf.gz) htslib parses the fixed columns of each record (``drop_samples=True``) while the same
line is read in lockstep from the file (pysam BGZF/tabix readers) and the GT sub-field of every
sample is decoded by a vectorised numpy decoder; for BCF, htslib formats each record back to
VCF text (``str(record)``, what ``bcftools view`` prints) for the same decoder. Entries the bulk
decoder cannot read (alleles >= 10, GT not first in FORMAT, mixed ploidy) go through a small
per-entry path. Nothing else in a VCF is parsed by hand.

Encodings (tensor channels A, C, G, T; float32):

``variants``
    one column per kept SNV record. A sample's column is its allele composition: each of its
    two alleles adds 0.5 to the channel of its base (a homozygote is a plain one-hot, a
    heterozygous A/G is 0.5 A + 0.5 G); a haploid call adds 1.0 to its allele's base.
    Multi-allelic records are handled allele by allele *inside one column*: every ALT that is a
    single base (A, C, G, T) keeps its own base, so REF A, ALT C,G with GT 1/2 gives 0.5 C +
    0.5 G. An ALT that is not a single base (an indel, ``*``, ``<*>``, ``<NON_REF>``) is dropped
    from the record, counted in ``skipped['non_snv_allele']``, and a call of that allele is a
    missing call. ``features.alt`` lists the kept ALT bases comma-separated.
``sequence``
    the sample's own sequence over each region: every position from the FASTA (``N`` = 0.25 in
    each channel, other IUPAC codes split evenly over their bases), the SNV compositions applied
    at the variant positions. Regions are required. Two kept records at one position are an
    error (merge them with ``bcftools norm -m+``).

With ``haplotypes=True`` (phased VCF) each sample gives two rows, ``2*i`` and ``2*i + 1`` (its
first and second haplotype, each a plain one-hot); an unphased heterozygous call is an error.

Missing calls (``./.``, ``.``, and half-calls such as ``./1``, which count as missing as with
plink2 ``--vcf-half-call missing``) follow ``missing``: ``error`` stops with the record and
sample named; ``reference`` turns them into homozygous REF; ``mean`` leaves them as all-zero
columns with ``True`` in the missing mask, to be filled by :func:`impute_missing` with allele
frequencies computed on the training rows only, once the split is known.

Chunked reading (a large VCF read by several jobs): :func:`plan_chunks` cuts an indexed file
into stretches of the genome, in the order one reading meets them; :func:`read_genotype_part`
reads one chunk into a :class:`GenotypePart` (saved as .npz); :func:`assemble_genotypes` joins
the parts into the :class:`GenotypeData` that :func:`read_genotypes` gives for the whole file
(which is itself one part, assembled). Filters run afterwards, on the whole cohort.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import InputError, require_file
from .tensorfile import tensor_writer

CHANNELS = "ACGT"
_BASE_INDEX = {b: i for i, b in enumerate(CHANNELS)}
# IUPAC -> composition over A, C, G, T
_IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T", "U": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
    "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}
_IUPAC_TABLE = np.zeros((256, 4), np.float32)
for _code, _bases in _IUPAC.items():
    for _b in _bases:
        for _c in (_code, _code.lower()):
            _IUPAC_TABLE[ord(_c), _BASE_INDEX[_b]] = 1.0 / len(_bases)
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

ENCODINGS = ("variants", "sequence")
MISSING_MODES = ("error", "mean", "reference")


# ----------------------------------------------------------------------------- data container
@dataclasses.dataclass
class GenotypeData:
    """Genotypes of one cohort, stored compactly; tensors are built on demand.

    Attributes
    ----------
    samples : list[str]
        N sample ids in VCF order (after ``samples=`` selection).
    features : pandas.DataFrame
        L rows, one per tensor column: ``position`` (0-based column), ``chrom``, ``pos``
        (1-based), ``ref``, ``alt`` (kept ALT bases, comma-separated; empty in ``sequence``
        encoding where no kept record sits).
    sites : pandas.DataFrame
        M rows, one per kept SNV record: ``chrom``, ``pos``, ``ref``, ``alt``, ``column``
        (tensor column it writes), ``n_alleles`` (REF + kept ALTs), ``multiallelic`` (the record
        had more than one ALT), ``line`` (VCF line or -1).
    calls : numpy.ndarray
        int8, (M, N, 2): allele index of each haplotype (0 = REF, k = k-th ALT); -1 = missing;
        second entry -2 = haploid call.
    site_bases : numpy.ndarray
        int8, (M, K): channel (0..3 = A, C, G, T) of allele k at each site; -1 for padding.
    reference : numpy.ndarray
        float32, (L, 4): reference composition of every column (REF base for ``variants``).
    skipped : dict[str, int]
        records skipped by reason (``indel``, ``symbolic``, ``mnp``, ``no_alt``,
        ``ref_mismatch``), plus ``non_snv_allele`` (ALT alleles dropped from kept records) and
        ``missing_set_to_reference`` (calls changed when ``missing='reference'``).
    encoding, haplotypes : the options used.
    """

    samples: list
    features: pd.DataFrame
    sites: pd.DataFrame
    calls: np.ndarray
    site_bases: np.ndarray
    reference: np.ndarray
    skipped: dict
    encoding: str = "variants"
    haplotypes: bool = False

    @property
    def n_rows(self) -> int:
        """Tensor rows: N, or 2N with haplotypes."""
        return len(self.samples) * (2 if self.haplotypes else 1)

    @property
    def shape(self) -> tuple:
        """Tensor shape (rows, L, 4)."""
        return (self.n_rows, len(self.features), 4)

    def row_sample_index(self) -> np.ndarray:
        """int (rows,): index into ``samples`` of each tensor row."""
        n = len(self.samples)
        return np.repeat(np.arange(n), 2) if self.haplotypes else np.arange(n)

    # -- compositions -------------------------------------------------------------------------
    def _site_compositions(self, sample_idx: np.ndarray):
        """Per-site compositions for samples ``sample_idx``: (rows, M, 4) float32 and mask (rows, M)."""
        c = self.calls[:, sample_idx, :]  # (M, n, 2)
        a0 = c[:, :, 0].T
        a1 = c[:, :, 1].T  # (n, M)
        M = c.shape[0]
        kmax = self.site_bases.shape[1]
        if self.haplotypes:
            m_idx = np.arange(M)[None, :]
            b0 = self.site_bases[m_idx, np.clip(a0, 0, kmax - 1)]
            b1 = self.site_bases[m_idx, np.clip(a1, 0, kmax - 1)]
            haploid = a1 == -2
            missing0 = a0 < 0
            b1 = np.where(haploid, b0, b1)
            missing1 = np.where(haploid, missing0, a1 < 0)
            n = len(sample_idx)
            comp = np.zeros((2 * n, M, 4), np.float32)
            mask = np.empty((2 * n, M), bool)
            for h, (b, miss) in enumerate(((b0, missing0), (b1, missing1))):
                for ch in range(4):
                    comp[h::2, :, ch] = (b == ch) & ~miss
                mask[h::2] = miss
            return comp, mask
        missing = (a0 < 0) | (a1 == -1)
        table = self._genotype_table()
        # genotype code: (a0 + 1) * (K + 2) + (a1 + 2), offset by the site's block of the table
        code = (a0.astype(np.int32) + 1) * (kmax + 2) + (a1 + 2)
        code += (np.arange(M, dtype=np.int32) * table.shape[1])[None, :]
        comp = np.take(table.reshape(-1, 4), code, axis=0)
        return comp, missing

    def _genotype_table(self) -> np.ndarray:
        """float32 (M, (K+1)(K+2), 4): composition of every diploid/haploid/missing genotype code."""
        if getattr(self, "_table", None) is not None and self._table.shape[0] == len(self.site_bases):
            return self._table
        M, kmax = self.site_bases.shape
        n0, n1 = kmax + 1, kmax + 2
        onehot = np.zeros((M, kmax, 4), np.float32)
        for k in range(kmax):
            valid = self.site_bases[:, k] >= 0
            onehot[np.flatnonzero(valid), k, self.site_bases[valid, k]] = 1.0
        table = np.zeros((M, n0 * n1, 4), np.float32)
        for a0 in range(kmax):
            table[:, (a0 + 1) * n1 + 0] = onehot[:, a0]  # haploid (a1 = -2)
            for a1 in range(kmax):
                table[:, (a0 + 1) * n1 + a1 + 2] = 0.5 * (onehot[:, a0] + onehot[:, a1])
        self._table = table
        return table

    def tensor(self, rows: Sequence[int] | slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Build tensor rows. Returns (float32 (n, L, 4), bool missing mask (n, L)).

        ``rows`` indexes tensor rows (sample rows, or haplotype rows with ``haplotypes``).
        Missing genotypes are all-zero columns with ``True`` in the mask.
        """
        all_rows = np.arange(self.n_rows)
        rows = all_rows if rows is None else all_rows[rows]
        if self.haplotypes:
            samp, inv = np.unique(rows // 2, return_inverse=True)
            comp, mask = self._site_compositions(samp)
            sel = 2 * inv + (rows % 2)
            comp, mask = comp[sel], mask[sel]
        else:
            comp, mask = self._site_compositions(rows)
        if self.encoding == "variants":
            return comp, mask
        L = len(self.features)
        out = np.broadcast_to(self.reference, (len(rows), L, 4)).copy()
        full_mask = np.zeros((len(rows), L), bool)
        cols = self.sites["column"].to_numpy()
        out[:, cols, :] = comp
        full_mask[:, cols] = mask
        return out, full_mask

    def dosage(self) -> tuple[np.ndarray, np.ndarray]:
        """ALT allele counts of biallelic SNV records (one ALT in the VCF), as plink2 reads them.

        Returns (int8 (N, M_b) with 0/1/2 and -1 for missing, int index (M_b,) of those sites in
        ``sites``). A haploid call counts as homozygous (0 or 2), as plink2 imports haploid
        calls on autosomes.
        """
        bial = np.flatnonzero((self.sites["n_alleles"].to_numpy() == 2)
                              & ~self.sites["multiallelic"].to_numpy(bool))
        c = self.calls[bial]  # (Mb, N, 2)
        a0 = c[:, :, 0]
        a1 = np.where(c[:, :, 1] == -2, a0, c[:, :, 1])
        d = (a0 + a1).astype(np.int8)
        d[(a0 < 0) | (a1 < 0)] = -1
        return np.ascontiguousarray(d.T), bial

    def subset(self, samples: np.ndarray | None = None, sites: np.ndarray | None = None) -> "GenotypeData":
        """Keep samples (bool mask over N) and sites (bool mask over M).

        In ``variants`` encoding dropped sites drop their columns; in ``sequence`` encoding the
        columns stay and show the reference base there.
        """
        s_idx = np.arange(len(self.samples)) if samples is None else np.flatnonzero(samples)
        m_idx = np.arange(len(self.sites)) if sites is None else np.flatnonzero(sites)
        sites_df = self.sites.iloc[m_idx].reset_index(drop=True)
        features, reference = self.features, self.reference
        if self.encoding == "variants":
            features = self.features.iloc[m_idx].reset_index(drop=True)
            features["position"] = np.arange(len(features))
            reference = self.reference[m_idx]
            sites_df["column"] = np.arange(len(sites_df))
        return dataclasses.replace(
            self, samples=[self.samples[i] for i in s_idx], features=features, sites=sites_df,
            calls=self.calls[m_idx][:, s_idx], site_bases=self.site_bases[m_idx],
            reference=reference, skipped=dict(self.skipped))

    def missing_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """(per-sample missing fraction (N,), per-site missing fraction (M,)) over genotypes."""
        miss = (self.calls[:, :, 0] < 0) | (self.calls[:, :, 1] == -1)  # (M, N)
        M, N = miss.shape
        return (miss.sum(axis=0) / max(M, 1), miss.sum(axis=1) / max(N, 1))


_PART_COLUMNS = ("chrom", "pos", "ref", "alt", "n_alleles", "multiallelic", "line", "region")


@dataclasses.dataclass
class GenotypePart:
    """The SNV records of one chunk of a VCF, read and decoded, not yet assembled.

    What one job of a chunked import writes (:func:`read_genotype_part`); the gathering job joins
    the chunks with :func:`assemble_genotypes`.

    Attributes
    ----------
    samples : list[str]
        N sample ids (after ``samples=`` selection); the same in every chunk.
    site_rows : list[tuple]
        one per kept record, in reading order: (chrom, pos (1-based), ref, alt (kept ALT bases),
        n_alleles, multiallelic, line (VCF line or -1), region (index into the cohort's regions,
        or None)).
    site_bases : list[list[int]]
        channel (0..3) of REF and of each kept ALT, per record.
    calls : numpy.ndarray
        int8 (M, N, 2), as ``GenotypeData.calls``.
    skipped : dict[str, int]
        records skipped by reason in this chunk, as ``GenotypeData.skipped``.
    """

    samples: list
    site_rows: list
    site_bases: list
    calls: np.ndarray
    skipped: dict

    def save(self, path, **meta) -> None:
        """Write to ``path`` (.npz, no pickled objects); ``meta`` (JSON-able) is stored beside."""
        import json

        M = len(self.site_rows)
        cols = list(zip(*self.site_rows)) if M else [()] * len(_PART_COLUMNS)
        kmax = max((len(b) for b in self.site_bases), default=0)
        bases = np.full((M, kmax), -1, np.int8)
        for i, b in enumerate(self.site_bases):
            bases[i, :len(b)] = b
        np.savez(
            path, samples=np.array(self.samples, dtype=str), chrom=np.array(cols[0], dtype=str),
            pos=np.array(cols[1], np.int64), ref=np.array(cols[2], dtype=str),
            alt=np.array(cols[3], dtype=str), n_alleles=np.array(cols[4], np.int64),
            multiallelic=np.array(cols[5], bool), line=np.array(cols[6], np.int64),
            region=np.array([-1 if r is None else r for r in cols[7]], np.int64),
            site_bases=bases, calls=self.calls, skipped_names=np.array(list(self.skipped), dtype=str),
            skipped_counts=np.array(list(self.skipped.values()), np.int64),
            meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path) -> tuple["GenotypePart", dict]:
        """(part, meta) from a file written by :meth:`save`. Raises InputError when unreadable."""
        import json

        try:
            with np.load(path, allow_pickle=False) as z:
                region = [None if r < 0 else r for r in z["region"].tolist()]
                rows = list(zip(*(z[c].tolist() for c in _PART_COLUMNS[:-1]), region))
                bases = [[b for b in row if b >= 0] for row in z["site_bases"].tolist()]
                part = cls(samples=z["samples"].tolist(), site_rows=rows, site_bases=bases,
                           calls=z["calls"], skipped=dict(zip(z["skipped_names"].tolist(),
                                                              z["skipped_counts"].tolist())))
                meta = json.loads(str(z["meta"]))
        except (OSError, ValueError, KeyError) as err:
            raise InputError(path, f"cannot be read as a chunk of a VCF import ({err}); rerun it") from None
        return part, meta


def _concat_calls(chunks: list, n: int) -> np.ndarray:
    if not chunks:
        return np.zeros((0, n, 2), np.int8)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0)


# ----------------------------------------------------------------------------- file checks
def _sniff(path: Path) -> str:
    """Return 'bgzf-vcf', 'bgzf-bcf', 'gzip', 'bcf', 'vcf' or 'unknown' from the bytes."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] == b"\x1f\x8b":
        is_bgzf = len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC"
        try:
            with gzip.open(path, "rb") as gz:
                inner = gz.read(16)
        except (OSError, EOFError):
            inner = b""
        if not is_bgzf:
            return "gzip"
        if inner.startswith(b"BCF"):
            return "bgzf-bcf"
        if inner.startswith(b"##fileformat=VCF") or inner.startswith(b"#"):
            return "bgzf-vcf"
        return "unknown"
    if head.startswith(b"BCF"):
        return "bcf"
    if head.startswith(b"##fileformat=VCF"):
        return "vcf"
    return "unknown"


def check_vcf_file(path: str | os.PathLike) -> str:
    """Check that ``path`` is what its extension says; returns its kind.

    ``.vcf``: plain-text VCF; ``.vcf.gz`` / ``.vcf.bgz``: bgzip-compressed VCF with its BGZF EOF
    block (a missing EOF block means a truncated file); ``.bcf``: BCF. Raises InputError.
    """
    path = Path(path)
    require_file(path, "VCF/BCF file")
    name = path.name.lower()
    kind = _sniff(path)
    if name.endswith(".bcf"):
        if kind not in ("bgzf-bcf", "bcf"):
            raise InputError(path, f"named .bcf but is not BCF (looks like {kind}); "
                                   "expected a file written by bcftools view -Ob")
    elif name.endswith((".vcf.gz", ".vcf.bgz")):
        if kind == "gzip":
            raise InputError(path, "is gzip-compressed but not bgzip (BGZF); recompress with "
                                   "'zcat FILE | bgzip > FILE.vcf.gz' and index with tabix")
        if kind != "bgzf-vcf":
            raise InputError(path, f"named {path.suffix} but is not a bgzipped VCF (looks like "
                                   f"{kind}); expected bgzip-compressed VCF text")
    elif name.endswith(".vcf"):
        if kind != "vcf":
            raise InputError(path, f"named .vcf but is not plain VCF text starting with "
                                   f"'##fileformat=VCF' (looks like {kind})")
    else:
        raise InputError(path, "unknown genotype file extension; expected .vcf, .vcf.gz or .bcf")
    if kind.startswith("bgzf"):
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - 28))
            if fh.read(28) != _BGZF_EOF:
                raise InputError(path, "truncated: the BGZF end-of-file block is missing "
                                       "(the file was cut short while copying or writing)")
    return kind


def _text_header(path: Path, kind: str) -> list[str]:
    """Header lines of a text VCF (plain or bgzipped), without reading the body."""
    opener = gzip.open if kind == "bgzf-vcf" else open
    lines = []
    with opener(path, "rt", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            lines.append(line.rstrip("\n"))
    return lines


# ----------------------------------------------------------------------------- FASTA
class Reference:
    """Reference FASTA access: indexed via pysam.FastaFile, else loaded whole via FastxFile."""

    def __init__(self, path: str | os.PathLike):
        import pysam

        self.path = Path(path)
        require_file(self.path, "reference FASTA")
        fai = Path(str(self.path) + ".fai")
        self._fa = None
        self._seqs = None
        try:
            if fai.exists():
                self._fa = pysam.FastaFile(str(self.path))
                self.lengths = dict(zip(self._fa.references, self._fa.lengths))
            else:
                self._seqs = {}
                with pysam.FastxFile(str(self.path)) as fx:
                    for rec in fx:
                        if rec.name in self._seqs:
                            raise InputError(self.path, f"contig {rec.name!r} appears twice")
                        self._seqs[rec.name] = rec.sequence.upper()
                self.lengths = {k: len(v) for k, v in self._seqs.items()}
        except InputError:
            raise
        except (OSError, ValueError) as err:
            raise InputError(self.path, f"cannot read as FASTA ({err})") from None
        if not self.lengths:
            raise InputError(self.path, "no sequences found; expected a FASTA reference")
        self._cache: dict = {}

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Uppercase sequence of chrom[start:end] (0-based, half-open)."""
        if self._seqs is not None:
            return self._seqs[chrom][start:end]
        return self._fa.fetch(chrom, start, end).upper()

    def contig(self, chrom: str) -> str:
        """Whole contig, uppercase, cached (one at a time)."""
        if chrom not in self._cache:
            self._cache.clear()
            self._cache[chrom] = self.fetch(chrom, 0, self.lengths[chrom])
        return self._cache[chrom]


# ----------------------------------------------------------------------------- regions/samples
def parse_regions(regions, reference: Reference | None = None) -> list[tuple[str, int, int]]:
    """Regions as [(chrom, start0, end)] (0-based half-open).

    ``regions``: a BED path (0-based starts), a ``chrom:start-end`` string (1-based inclusive),
    or a list of such strings. With ``reference``, each region is checked to lie inside its
    contig (InputError otherwise).
    """
    if regions is None:
        return None
    out, src = [], "regions"
    if isinstance(regions, (str, os.PathLike)) and os.path.exists(str(regions)):
        src = str(regions)
        with open(regions) as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                f = line.rstrip("\n").split("\t")
                try:
                    out.append((f[0], int(f[1]), int(f[2]), i))
                except (IndexError, ValueError):
                    raise InputError(src, "expected BED columns chrom, start, end", line=i) from None
    else:
        if isinstance(regions, str):
            regions = [regions]
        for r in regions:
            m = re.fullmatch(r"\s*(\S+?):([\d,]+)-([\d,]+)\s*", str(r))
            if not m:
                raise InputError("regions", f"region {r!r} is not 'chrom:start-end' (1-based, inclusive)")
            out.append((m.group(1), int(m.group(2).replace(",", "")) - 1,
                        int(m.group(3).replace(",", "")), None))
    res = []
    for chrom, s, e, line in out:
        label = f"{chrom}:{s + 1}-{e}"
        if s < 0 or e <= s:
            raise InputError(src, f"region {label} is empty or has start < 1", line=line)
        if reference is not None:
            if chrom not in reference.lengths:
                raise InputError(src, f"region {label}: contig {chrom!r} is not in the reference "
                                      f"FASTA {reference.path}", line=line)
            if e > reference.lengths[chrom]:
                raise InputError(src, f"region {label} lies outside contig {chrom!r} "
                                      f"(length {reference.lengths[chrom]})", line=line)
        res.append((chrom, s, e))
    return res


def read_id_list(path: str | os.PathLike) -> list[str]:
    """Sample ids, one per line (first whitespace-separated field; '#' lines skipped)."""
    require_file(path, "sample list")
    ids = []
    with open(path) as fh:
        for line in fh:
            if line.strip() and not line.startswith("#"):
                ids.append(line.split()[0])
    return ids


# ----------------------------------------------------------------------------- GT decoding
def _parse_gt_token(tok: str):
    """(a0, a1, phased) for one GT string; a1 = -2 for haploid. Raises ValueError."""
    parts = re.split(r"([/|])", tok)
    alleles = parts[0::2]
    if len(alleles) > 2:
        raise ValueError(f"ploidy {len(alleles)} is not supported (haploid or diploid only)")
    vals = [-1 if a == "." else int(a) for a in alleles]
    if len(vals) == 1:
        return vals[0], -2, True
    return vals[0], vals[1], parts[1] == "|"


def _decode_gt_fixed(parts: list[bytes], n: int):
    """Fast path: every sample field is exactly 3 characters ('0/1', '1|1', './.').

    ``parts`` are the sample columns of each line (text after the 9th tab, newline included).
    Returns (int8 (K, n, 2), bool (K, n)) or None when the chunk does not fit this layout.
    """
    width = 4 * n
    if any(len(p) != width for p in parts):
        return None
    v = np.frombuffer(b"".join(parts), np.uint8).reshape(len(parts), n, 4)
    c0, c1, c2, c3 = v[:, :, 0], v[:, :, 1], v[:, :, 2], v[:, :, 3]
    if not (((c3 == 9) | (c3 == 10)).all() and ((c1 == 47) | (c1 == 124)).all()):
        return None
    ok0 = ((c0 >= 48) & (c0 <= 57)) | (c0 == 46)
    ok2 = ((c2 >= 48) & (c2 <= 57)) | (c2 == 46)
    if not (ok0.all() and ok2.all()):
        return None
    out = np.empty((len(parts), n, 2), np.int8)
    out[:, :, 0] = c0.view(np.int8) - 48
    out[:, :, 1] = c2.view(np.int8) - 48
    out[out == 46 - 48] = -1
    phased = ~((c1 == 47) & (c0 != c2) & (c0 != 46) & (c2 != 46))
    return out, phased


def _decode_gt(lines: list[bytes], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode GT of K VCF record lines (bytes) with ``n`` samples each, GT first in FORMAT.

    Returns (int8 (K, n, 2) alleles as in ``GenotypeData.calls``, bool (K, n) phased-or-not-het).
    """
    K = len(lines)
    buf = b"".join(lines)
    arr = np.frombuffer(buf + b"\0\0\0\0", np.uint8)
    tabs = np.flatnonzero(arr == 9)
    nl = np.flatnonzero(arr == 10)
    per = 8 + n
    if len(tabs) != K * per or len(nl) != K:
        raise ValueError("unexpected number of columns")
    tabs = tabs.reshape(K, per)
    starts = tabs[:, 8:] + 1
    ends = np.concatenate([tabs[:, 9:], nl[:, None]], axis=1)
    c0, c1, c2, c3 = (arr[starts + i] for i in range(4))

    def term(c):
        return (c == 58) | (c == 9) | (c == 10)

    def allele(c):
        return (c >= 48) & (c <= 57) | (c == 46)

    hap = term(c1) & allele(c0)
    sep = (c1 == 47) | (c1 == 124)
    dip = sep & term(c3) & allele(c0) & allele(c2)
    a0 = np.where(c0 == 46, -1, c0.astype(np.int16) - 48)
    a1 = np.where(hap, -2, np.where(c2 == 46, -1, c2.astype(np.int16) - 48))
    phased = ~(dip & (c1 == 47) & (a0 != a1) & (a0 >= 0) & (a1 >= 0))
    out = np.stack([a0, a1], axis=-1).astype(np.int8)
    irregular = np.argwhere(~(hap | dip))
    for k, j in irregular:
        tok = buf[starts[k, j]:ends[k, j]].decode().split(":")[0]
        x0, x1, ph = _parse_gt_token(tok)
        if max(x0, x1) > 127:
            raise ValueError(f"allele index {max(x0, x1)} too large")
        out[k, j] = (x0, x1)
        phased[k, j] = ph or x1 < 0 or x0 < 0 or x0 == x1
    return out, phased


# ----------------------------------------------------------------------------- main reader
def _classify_alt(ref: str, alt: str) -> str:
    if len(alt) == 1 and alt in _BASE_INDEX:
        return "snv"
    if alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt or alt == ".":
        return "symbolic"
    if len(alt) != len(ref):
        return "indel"
    return "mnp"


def read_genotypes(vcf, fasta, *, regions=None, samples=None, encoding: str = "variants",
                   ref_mismatch: str = "error", non_snv: str = "skip", missing: str = "mean",
                   haplotypes: bool = False, log: logging.Logger | None = None,
                   chunk_records: int = 1000) -> GenotypeData:
    """Read a VCF/BCF against its reference FASTA into a :class:`GenotypeData`.

    Parameters
    ----------
    vcf : path to .vcf, .vcf.gz (bgzip) or .bcf. Regions use the index (.tbi/.csi) when
        present, otherwise the file is scanned.
    fasta : path to the reference FASTA (indexed or not; bgzip needs .fai and .gzi).
    regions : None (whole file; ``variants`` only), a BED path, a ``chrom:start-end`` string
        (1-based inclusive) or a list of them. Must lie inside their contigs.
    samples : None, a list of ids, or a path to a file of ids (one per line); kept in VCF order.
    encoding : ``variants`` | ``sequence`` (see the module docstring).
    ref_mismatch : ``error`` | ``skip``. REF is compared with the FASTA (case-insensitive) over
        its whole length for every record, as ``bcftools norm --check-ref e``; ``skip`` drops the
        record and counts it in ``skipped['ref_mismatch']``.
    non_snv : ``skip`` | ``error``: records (and ALT alleles) that are not single-base
        substitutions (indels, MNPs, symbolic alleles, records without ALT).
    missing : ``error`` | ``mean`` | ``reference`` (see the module docstring).
    haplotypes : two rows per sample (requires phased heterozygous calls).
    log : logger for counts and the first few skipped records.

    Raises InputError for any bad input (one line naming file, record/line or sample).

    The same as :func:`read_genotype_part` over the whole file followed by
    :func:`assemble_genotypes`; a chunked import reads the parts of :func:`plan_chunks` instead
    and assembles them into the same data.
    """
    part, reference, region_list = _read_part(
        vcf, fasta, regions=regions, samples=samples, encoding=encoding, ref_mismatch=ref_mismatch,
        non_snv=non_snv, missing=missing, haplotypes=haplotypes, log=log, chunk_records=chunk_records)
    return _assemble([part], reference, region_list, vcf=Path(vcf), regions=regions, encoding=encoding,
                     haplotypes=haplotypes, log=log)


def read_genotype_part(vcf, fasta, *, intervals=None, index=None, regions=None, samples=None,
                       encoding: str = "variants", ref_mismatch: str = "error", non_snv: str = "skip",
                       missing: str = "mean", haplotypes: bool = False,
                       log: logging.Logger | None = None, chunk_records: int = 1000) -> "GenotypePart":
    """Read and decode the records of one chunk of a VCF/BCF (or of all of it), unassembled.

    ``intervals``: the chunk, one list of :func:`plan_chunks`: ``(chrom, start0, end or None,
    region)`` stretches read through the index, in order; a record belongs to the stretch its
    start lies in. ``region`` is the index of the cohort region the stretch belongs to, or -1: the
    record is then taken once for each region that holds it (none given: once). None reads the
    whole file as :func:`read_genotypes` does. ``index``: the index file (.tbi/.csi) to use when
    it is not beside the VCF. ``fasta`` may be a :class:`Reference`. Other parameters and errors
    as in :func:`read_genotypes`; a chunk with no SNV record is no error (the whole import is).
    """
    return _read_part(vcf, fasta, intervals=intervals, index=index, regions=regions, samples=samples,
                      encoding=encoding, ref_mismatch=ref_mismatch, non_snv=non_snv, missing=missing,
                      haplotypes=haplotypes, log=log, chunk_records=chunk_records)[0]


def _read_part(vcf, fasta, *, intervals=None, index=None, regions=None, samples=None,
               encoding: str = "variants", ref_mismatch: str = "error", non_snv: str = "skip",
               missing: str = "mean", haplotypes: bool = False, log: logging.Logger | None = None,
               chunk_records: int = 1000):
    """(GenotypePart, Reference, region list) of :func:`read_genotype_part`."""
    log = log or logging.getLogger("seq2pheno.vcf")
    if encoding not in ENCODINGS:
        raise InputError("config", f"encoding {encoding!r}: expected one of {', '.join(ENCODINGS)}")
    if missing not in MISSING_MODES:
        raise InputError("config", f"missing {missing!r}: expected one of {', '.join(MISSING_MODES)}")
    if ref_mismatch not in ("error", "skip") or non_snv not in ("error", "skip"):
        raise InputError("config", "ref_mismatch and non_snv must be 'error' or 'skip'")
    import pysam

    vcf = Path(vcf)
    kind = check_vcf_file(vcf)
    reference = fasta if isinstance(fasta, Reference) else Reference(fasta)
    region_list = parse_regions(regions, reference)
    if encoding == "sequence" and not region_list:
        raise InputError(vcf, "encoding 'sequence' needs regions (chrom:start-end or a BED file)")

    text = kind in ("vcf", "bgzf-vcf")
    n_header = None
    if text:
        hdr_lines = _text_header(vcf, kind)
        n_header = len(hdr_lines)
        if not hdr_lines or not hdr_lines[-1].startswith("#CHROM"):
            raise InputError(vcf, "no '#CHROM' header line; expected a VCF header", line=n_header + 1)
        cols = hdr_lines[-1].split("\t")
        seen = set()
        for s in cols[9:]:
            if s in seen:
                raise InputError(vcf, "sample id appears twice in the #CHROM header line; "
                                      "sample ids must be unique", line=n_header, sample=s)
            seen.add(s)
    try:
        # text VCF: htslib parses the fixed columns only (drop_samples) and the sample columns
        # are decoded in bulk from the same lines of the file, read in lockstep (fast path);
        # BCF: htslib parses everything and formats each record back to VCF text.
        vf = pysam.VariantFile(str(vcf), drop_samples=text,
                               index_filename=None if index is None else str(index))
        header_samples = cols[9:] if text else list(vf.header.samples)
    except (OSError, ValueError) as err:
        raise InputError(vcf, f"cannot be read as VCF/BCF ({err})") from None
    all_samples = header_samples
    if len(set(all_samples)) != len(all_samples):
        dup = next(s for s in all_samples if all_samples.count(s) > 1)
        raise InputError(vcf, "sample id appears twice in the header", sample=dup)
    if not all_samples:
        raise InputError(vcf, "has no samples; expected genotype columns")
    if "GT" not in vf.header.formats:
        raise InputError(vcf, "has no FORMAT/GT field in its header; genotypes (GT) are required")
    col_sel = None
    if samples is not None:
        wanted = read_id_list(samples) if isinstance(samples, (str, os.PathLike)) else list(samples)
        absent = [s for s in wanted if s not in set(all_samples)]
        if absent:
            src = samples if isinstance(samples, (str, os.PathLike)) else "samples"
            raise InputError(src, f"{len(absent)} requested sample(s) not in {vcf}, e.g. {absent[0]!r}")
        wset = set(wanted)
        keep = [s for s in all_samples if s in wset]
        if text:
            col_sel = np.array([i for i, s in enumerate(all_samples) if s in wset], dtype=np.int64)
        else:
            vf.subset_samples(keep)
        sample_ids = keep
    else:
        sample_ids = all_samples
    n = len(sample_ids)
    n_decode = len(all_samples) if text else n

    def raw_lines():
        """Data lines of a text VCF as bytes, in file order."""
        fh = open(vcf, "rb") if kind == "vcf" else pysam.BGZFile(str(vcf), "rb")
        with fh:
            for raw in fh:
                if not raw.startswith(b"#"):
                    yield raw

    def lockstep(records, lines):
        for rec, raw in zip(records, lines):
            if not raw.startswith(f"{rec.chrom}\t{rec.pos}\t".encode()):
                raise InputError(vcf, f"record {rec.chrom}:{rec.pos}: cannot align its text line; "
                                      "is the file sorted and well-formed?")
            yield rec, raw

    def fetch(tbx, chrom, s, e):
        """(record, raw text line or None) overlapping chrom:s-e, through the index."""
        recs = vf.fetch(chrom, s, e)
        if not text:
            return ((r, None) for r in recs)
        return lockstep(recs, (ln.encode() + b"\n" for ln in tbx.fetch(chrom, s, e)))

    by_chrom: dict = {}  # contig -> [(region index, start, end)]
    for i_region, (r_chrom, r_start, r_end) in enumerate(region_list or ()):
        by_chrom.setdefault(r_chrom, []).append((i_region, r_start, r_end))

    # iterate records: whole file, or per region (index if present)
    def record_iter():
        """Yield (record, VCF line or None, region index or None, raw text line or None)."""
        if intervals is not None:
            yield from chunk_iter()
            return
        if region_list is None:
            it = lockstep(vf, raw_lines()) if text else ((r, None) for r in vf)
            for i, (rec, raw) in enumerate(it):
                yield rec, (n_header + 1 + i) if text else None, None, raw
            return
        indexed = vf.index is not None
        if indexed:
            index_contigs = set(vf.index)
            tbx = pysam.TabixFile(str(vcf)) if text else None
            for r_i, (chrom, s, e) in enumerate(region_list):
                if chrom not in index_contigs:
                    continue
                for rec, raw in fetch(tbx, chrom, s, e):
                    if s <= rec.start < e:
                        yield rec, None, r_i, raw
            return
        it = lockstep(vf, raw_lines()) if text else ((r, None) for r in vf)
        for i, (rec, raw) in enumerate(it):
            for r_i, s, e in by_chrom.get(rec.chrom, ()):
                if s <= rec.start < e:
                    yield rec, (n_header + 1 + i) if text else None, r_i, raw

    def chunk_iter():
        """The records of ``intervals`` (a chunk of :func:`plan_chunks`), through the index."""
        if vf.index is None:
            raise InputError(vcf, "has no index (.tbi or .csi); reading it in chunks needs one "
                                  "(tabix -p vcf, or bcftools index)")
        index_contigs = set(vf.index)
        tbx = pysam.TabixFile(str(vcf), index=None if index is None else str(index)) if text else None
        for chrom, s, e, region in intervals:
            if chrom not in index_contigs:
                continue
            for rec, raw in fetch(tbx, chrom, s, e):
                if rec.start < s or (e is not None and rec.start >= e):
                    continue  # starts in a neighbouring stretch
                if region >= 0:
                    yield rec, None, region, raw
                elif region_list is None:
                    yield rec, None, None, raw
                else:
                    for r_i, rs, re_ in by_chrom.get(rec.chrom, ()):
                        if rs <= rec.start < re_:
                            yield rec, None, r_i, raw

    skipped = {"indel": 0, "symbolic": 0, "mnp": 0, "no_alt": 0, "ref_mismatch": 0,
               "non_snv_allele": 0, "missing_set_to_reference": 0}
    site_rows = []  # (chrom, pos, ref, alt, n_alleles, line, region)
    site_bases = []
    call_chunks = []
    pending = []  # (lines for decode, per-record allele maps)
    pending_maps = []
    seen_keys = set()
    warned = 0

    def where(rec, line):
        loc = f"record {rec.chrom}:{rec.pos}"
        return loc if line is None else f"{loc} (VCF line {line})"

    def flush():
        if not pending:
            return
        res = _decode_gt_fixed(pending, n_decode)
        if res is None:
            prefix = b"." + b"\t." * 8 + b"\t"
            try:
                res = _decode_gt([prefix + p for p in pending], n_decode)
            except ValueError as err:
                k = 0
                for k, p in enumerate(pending):  # locate the offending record
                    try:
                        _decode_gt([prefix + p], n_decode)
                    except ValueError:
                        break
                raise InputError(vcf, f"{pending_maps[k][1]}: unreadable GT column(s) ({err}); "
                                      f"expected {n_decode} sample columns with GT first") from None
        calls, phased = res
        if col_sel is not None:
            calls, phased = np.ascontiguousarray(calls[:, col_sel]), phased[:, col_sel]
        # allele indices beyond the record's ALT count
        n_orig = np.array([m[2] for m in pending_maps])
        over = calls.max(axis=(1, 2)) >= n_orig
        if over.any():
            k = int(np.flatnonzero(over)[0])
            j = int(np.flatnonzero((calls[k] >= n_orig[k]).any(axis=1))[0])
            raise InputError(vcf, f"{pending_maps[k][1]}: GT allele {int(calls[k, j].max())} has no "
                                  "matching ALT allele", sample=sample_ids[j])
        for k, (amap, _, _) in enumerate(pending_maps):
            if amap is not None:  # dropped non-SNV alleles -> missing; kept ones renumbered
                c = calls[k]
                calls[k] = np.where(c >= 0, amap[np.clip(c, 0, None)], c)
        miss = (calls[:, :, 0] < 0) | (calls[:, :, 1] == -1)
        if miss.any():
            if missing == "error":
                k, j = (int(x) for x in np.argwhere(miss)[0])
                raise InputError(vcf, f"{pending_maps[k][1]}: missing genotype call (missing: error; "
                                      "use missing: mean or reference to allow it)", sample=sample_ids[j])
            if missing == "reference":
                skipped["missing_set_to_reference"] += int(miss.sum())
                hap = calls[:, :, 1] == -2
                calls[miss, 0] = 0
                calls[:, :, 1][miss & ~hap] = 0
        if haplotypes and not phased.all():
            k, j = (int(x) for x in np.argwhere(~phased)[0])
            raise InputError(vcf, f"{pending_maps[k][1]}: unphased heterozygous call; haplotypes: true "
                                  "needs a phased VCF (GT with '|')", sample=sample_ids[j])
        call_chunks.append(calls)
        pending.clear()
        pending_maps.clear()

    try:
        for rec, line, r_i, raw in record_iter():
            chrom = rec.chrom
            if chrom not in reference.lengths:
                raise InputError(vcf, f"{where(rec, line)}: contig {chrom!r} is not in the reference "
                                      f"FASTA {reference.path}")
            ref = rec.ref.upper()
            clen = reference.lengths[chrom]
            fa = reference.fetch(chrom, rec.start, min(rec.start + len(ref), clen)) \
                if region_list is not None else reference.contig(chrom)[rec.start:rec.start + len(ref)]
            if fa != ref:
                if ref_mismatch == "error":
                    raise InputError(vcf, f"{where(rec, line)}: REF {rec.ref!r} does not match the "
                                          f"reference FASTA {reference.path} ({fa or 'past the contig end'!r}); "
                                          "was the VCF called against another reference?")
                skipped["ref_mismatch"] += 1
                if warned < 10:
                    log.warning("REF mismatch skipped at %s: VCF %s, FASTA %s", where(rec, line), rec.ref, fa)
                    warned += 1
                continue
            alts = rec.alts or ()
            kinds = [_classify_alt(ref, a.upper()) for a in alts]
            reason = None
            if len(ref) != 1:
                reason = "indel" if any(len(a) != len(ref) for a in alts) else "mnp"
            elif not alts:
                reason = "no_alt"
            elif "snv" not in kinds:
                reason = "symbolic" if "symbolic" in kinds else ("indel" if "indel" in kinds else "mnp")
            if reason is not None:
                if non_snv == "error":
                    raise InputError(vcf, f"{where(rec, line)}: not a single-nucleotide variant "
                                          f"({reason}: REF {rec.ref}, ALT {','.join(alts) or '.'}); "
                                          "non_snv: error")
                skipped[reason] += 1
                continue
            n_drop = sum(k != "snv" for k in kinds)
            if n_drop:
                if non_snv == "error":
                    raise InputError(vcf, f"{where(rec, line)}: ALT {','.join(alts)} includes "
                                          "non-SNV alleles; non_snv: error")
                skipped["non_snv_allele"] += n_drop
            # allele map: original index -> kept index (-1 = dropped); only built when needed
            bases = [_BASE_INDEX[ref]]
            kept_alts = []
            amap = np.full(len(alts) + 1, -1, np.int8) if n_drop else None
            if amap is not None:
                amap[0] = 0
            for i, (a, k) in enumerate(zip(alts, kinds), 1):
                if k == "snv":
                    if amap is not None:
                        amap[i] = len(bases)
                    bases.append(_BASE_INDEX[a.upper()])
                    kept_alts.append(a.upper())
            key = (chrom, rec.pos, r_i) if encoding == "variants" else (chrom, rec.pos)
            if key in seen_keys and encoding == "sequence":
                raise InputError(vcf, f"{where(rec, line)}: a second record at this position; "
                                      "merge records with 'bcftools norm -m+' for sequence encoding")
            seen_keys.add(key)
            site_rows.append((chrom, rec.pos, ref, ",".join(kept_alts), len(bases), len(alts) > 1,
                              -1 if line is None else line, r_i))
            site_bases.append(bases)
            if raw is None:
                raw = str(rec).encode()
            fields = raw.split(b"\t", 9)
            fmt = fields[8].decode() if len(fields) > 8 else ""
            if not (fmt == "GT" or fmt.startswith("GT:")):
                if "GT" not in fmt.split(":"):
                    raise InputError(vcf, f"{where(rec, line)}: no GT in FORMAT ({fmt or 'none'}); "
                                          "genotypes are required")
                # GT not first (against the VCF spec, but seen): take the GT sub-field of each sample
                gt_at = fmt.split(":").index("GT")
                toks = []
                for f in fields[9].rstrip(b"\r\n").split(b"\t"):
                    sub = f.split(b":")
                    toks.append(sub[gt_at] if len(sub) > gt_at else b".")
                fields = fields[:8] + [b"GT", b"\t".join(toks) + b"\n"]
            part = fields[9] if len(fields) > 9 else b"\n"
            if part.endswith(b"\r\n"):
                part = part[:-2] + b"\n"
            elif not part.endswith(b"\n"):
                part += b"\n"
            pending.append(part)
            pending_maps.append((amap if n_drop else None, where(rec, line), len(alts) + 1))
            if len(pending) >= chunk_records:
                flush()
        flush()
    except InputError:
        raise
    except (OSError, ValueError) as err:
        last = f" after record {site_rows[-1][0]}:{site_rows[-1][1]}" if site_rows else ""
        raise InputError(vcf, f"truncated or corrupt{last} ({err})") from None

    calls = _concat_calls(call_chunks, n)
    part = GenotypePart(samples=list(sample_ids), site_rows=site_rows, site_bases=site_bases,
                        calls=calls, skipped=skipped)
    return part, reference, region_list


def assemble_genotypes(parts: Sequence["GenotypePart"], fasta, *, vcf, regions=None,
                       encoding: str = "variants", haplotypes: bool = False,
                       log: logging.Logger | None = None) -> GenotypeData:
    """Join the parts of a chunked read, in chunk order, into the :class:`GenotypeData` that
    :func:`read_genotypes` gives for the whole file.

    Records are concatenated along the variant axis in the order of ``parts``; what needs every
    record is done here, once: a record met twice through overlapping regions is kept once
    (``variants``), two records at one position are an error (``sequence``), tensor columns
    and features are numbered, skipped-record counts are summed, and no SNV record at all is an
    error. ``fasta``: path or :class:`Reference`; ``vcf``: the cohort's VCF (for messages);
    ``regions``, ``encoding``, ``haplotypes``: as given to every part.
    """
    log = log or logging.getLogger("seq2pheno.vcf")
    if not parts:
        raise InputError(vcf, "no chunk to assemble")
    if encoding not in ENCODINGS:
        raise InputError("config", f"encoding {encoding!r}: expected one of {', '.join(ENCODINGS)}")
    for k, part in enumerate(parts[1:], 2):
        if part.samples != parts[0].samples:
            raise InputError(vcf, f"chunk {k} holds other samples than chunk 1; rerun the chunks")
    reference = fasta if isinstance(fasta, Reference) else Reference(fasta)
    region_list = parse_regions(regions, reference)
    if encoding == "sequence" and not region_list:
        raise InputError(vcf, "encoding 'sequence' needs regions (chrom:start-end or a BED file)")
    return _assemble(parts, reference, region_list, vcf=Path(vcf), regions=regions, encoding=encoding,
                     haplotypes=haplotypes, log=log)


def _assemble(parts, reference: Reference, region_list, *, vcf: Path, regions, encoding: str,
              haplotypes: bool, log) -> GenotypeData:
    log = log or logging.getLogger("seq2pheno.vcf")
    sample_ids = parts[0].samples
    n = len(sample_ids)
    site_rows = [row for part in parts for row in part.site_rows]
    site_bases = [b for part in parts for b in part.site_bases]
    call_chunks = [part.calls for part in parts if len(part.calls)]
    skipped = {k: sum(int(part.skipped.get(k, 0)) for part in parts) for k in parts[0].skipped}
    if encoding == "sequence" and len(parts) > 1:
        # one read raises at the second record; across chunks it is seen only here
        seen = set()
        for chrom, pos, *_ in site_rows:
            if (chrom, pos) in seen:
                raise InputError(vcf, f"record {chrom}:{pos}: a second record at this position; "
                                      "merge records with 'bcftools norm -m+' for sequence encoding")
            seen.add((chrom, pos))
    M = len(site_rows)
    sites = pd.DataFrame(site_rows, columns=["chrom", "pos", "ref", "alt", "n_alleles", "multiallelic",
                                            "line", "region"])
    if region_list is not None and encoding == "variants" and M:
        # overlapping regions may yield one record twice: keep its first occurrence
        dup = sites.duplicated(subset=["chrom", "pos", "ref", "alt"])
        if dup.any():
            keep_idx = np.flatnonzero(~dup.to_numpy())
            sites = sites.iloc[keep_idx].reset_index(drop=True)
            site_bases = [site_bases[i] for i in keep_idx]
            call_chunks = [np.concatenate(call_chunks, axis=0)[keep_idx]]
            M = len(sites)
    kmax = max([len(b) for b in site_bases], default=2)
    sb = np.full((M, kmax), -1, np.int8)
    for i, b in enumerate(site_bases):
        sb[i, :len(b)] = b
    calls = _concat_calls(call_chunks, n)
    if encoding == "variants":
        sites["column"] = np.arange(M)
        ref_onehot = np.zeros((M, 4), np.float32)
        if M:
            ref_onehot[np.arange(M), sb[:, 0]] = 1.0
        features = pd.DataFrame({"position": np.arange(M), "chrom": sites["chrom"],
                                 "pos": sites["pos"], "ref": sites["ref"], "alt": sites["alt"]})
        reference_comp = ref_onehot
    else:
        seqs, chroms, poss, offsets = [], [], [], []
        off = 0
        for chrom, s, e in region_list:
            seqs.append(reference.fetch(chrom, s, e))
            chroms.append(np.full(e - s, chrom, dtype=object))
            poss.append(np.arange(s + 1, e + 1))
            offsets.append(off)
            off += e - s
        seq = "".join(seqs)
        reference_comp = _IUPAC_TABLE[np.frombuffer(seq.encode("ascii"), np.uint8)]
        unknown = reference_comp.sum(axis=1) == 0
        reference_comp[unknown] = 0.25
        features = pd.DataFrame({"position": np.arange(off), "chrom": np.concatenate(chroms),
                                 "pos": np.concatenate(poss), "ref": list(seq), "alt": ""})
        cols = np.array([offsets[r] + p - 1 - region_list[r][1]
                         for r, p in zip(sites["region"], sites["pos"])], dtype=np.int64)
        sites["column"] = cols
        if M:
            features.loc[cols, "alt"] = sites["alt"].to_numpy()
    sites["line"] = sites["line"].astype(np.int64)
    sites = sites.drop(columns=["region"])
    n_skipped = {k: v for k, v in skipped.items() if v}
    log.info("read %d samples x %d SNV records from %s (%s encoding, %d columns); skipped: %s",
             n, M, vcf, encoding, len(features), n_skipped or "none")
    if M == 0:
        raise InputError(vcf, f"no SNV records left to encode (skipped: {n_skipped or 'none'}"
                              f"{'; regions ' + str(regions) if regions is not None else ''})")
    return GenotypeData(samples=sample_ids, features=features, sites=sites, calls=calls,
                        site_bases=sb, reference=reference_comp, skipped=skipped,
                        encoding=encoding, haplotypes=haplotypes)


# ----------------------------------------------------------------------------- chunks
def plan_chunks(vcf, k: int, *, lengths: dict, regions=None, region_order: bool = False,
                index=None) -> list[list[tuple]]:
    """Cut an indexed VCF/BCF into ``k`` chunks of about equal genome length, in reading order.

    Reading the chunks one after the other (:func:`read_genotype_part` with
    ``intervals=chunks[i]``) meets exactly the records, in exactly the order, of one reading of
    the whole file by :func:`read_genotypes`:

    - no regions, or regions with ``region_order=False`` (the VCF itself has no index, so
      :func:`read_genotypes` scans it): the file's order. Contigs come in the order they appear
      in the file (the file offset of each contig's first record, found through the index), each
      cut into consecutive position ranges (with regions: the merged regions on it); a record
      belongs to the range its start lies in.
    - regions with ``region_order=True`` (the VCF has an index, through which
      :func:`read_genotypes` reads region by region): the regions in the order given, each cut
      into consecutive ranges; contigs absent from the index are left out, as there.

    ``lengths``: contig -> length in bp (the reference FASTA's) to weigh the contigs; a contig
    without a length weighs 1. ``regions``: parsed regions (:func:`parse_regions`) or None.
    ``index``: index file when not beside the VCF. Returns ``k`` lists of
    ``(chrom, start0, end or None, region)``: end None reads to the contig's end, region is
    the index of the cohort region of the stretch or -1 (see :func:`read_genotype_part`). A chunk
    may be empty (``k`` above the number of base pairs to cut). The file must be sorted by
    position within each contig (an index guarantees it).
    """
    import pysam

    if k < 1:
        raise InputError("config", f"import_chunks {k}: expected 1 or more")
    try:
        vf = pysam.VariantFile(str(vcf), index_filename=None if index is None else str(index))
    except (OSError, ValueError) as err:
        raise InputError(vcf, f"cannot be read as VCF/BCF ({err})") from None
    with vf:
        if vf.index is None:
            raise InputError(vcf, "has no index (.tbi or .csi); reading it in chunks needs one "
                                  "(tabix -p vcf, or bcftools index)")
        index_contigs = list(vf.index)
        if region_order:
            present = set(index_contigs)
            segments = [(c, s, e, r) for r, (c, s, e) in enumerate(regions) if c in present]
        else:
            first = []
            for contig in index_contigs:
                try:
                    rec = next(vf.fetch(contig), None)
                except ValueError as err:
                    raise InputError(vcf, f"contig {contig!r} of the index cannot be read ({err}); "
                                          "is it declared in the header?") from None
                if rec is not None:
                    first.append((vf.tell(), contig))
            order = [c for _, c in sorted(first)]
            if regions is None:
                segments = [(c, 0, None, -1) for c in order]
            else:
                by_chrom: dict = {}
                for c, s, e in regions:
                    by_chrom.setdefault(c, []).append((s, e))
                segments = []
                for c in order:
                    merged: list = []
                    for s, e in sorted(by_chrom.get(c, ())):
                        if merged and s <= merged[-1][1]:
                            merged[-1][1] = max(merged[-1][1], e)
                        else:
                            merged.append([s, e])
                    segments += [(c, s, e, -1) for s, e in merged]

    def weight(seg):
        c, s, e, _ = seg
        return e - s if e is not None else max(int(lengths.get(c, 0)) - s, 1)

    weights = [weight(seg) for seg in segments]
    total = sum(weights)
    cuts = [total * j // k for j in range(k + 1)]
    chunks: list = [[] for _ in range(k)]
    offset, j = 0, 0
    for (c, s, e, r), w in zip(segments, weights):
        a = 0
        while a < w:
            while j < k - 1 and cuts[j + 1] <= offset + a:
                j += 1
            b = w if j == k - 1 else min(w, cuts[j + 1] - offset)
            chunks[j].append((c, s + a, e if b == w else s + b, r))
            a = b
        offset += w
    return chunks


def parse_chunk(chunk: str) -> tuple[int, int]:
    """(i, k) of a chunk name ``"i-of-k"`` (Snakemake's scatteritem); 1 <= i <= k."""
    m = re.fullmatch(r"(\d+)-of-(\d+)", str(chunk))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise InputError("chunk", f"{chunk!r} is not 'i-of-k' with 1 <= i <= k")
    return int(m.group(1)), int(m.group(2))


def has_index(vcf) -> bool:
    """Whether htslib finds an index (.tbi/.csi) beside ``vcf``, as :func:`read_genotypes` asks."""
    import pysam

    old = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(str(vcf)) as vf:
            return vf.index is not None
    except (OSError, ValueError):
        return False
    finally:
        pysam.set_verbosity(old)


def bgzip_vcf(vcf, out) -> None:
    """Write a bgzip-compressed copy of the plain-text VCF ``vcf`` to ``out`` (.vcf.gz)."""
    import pysam

    if check_vcf_file(vcf) != "vcf":
        raise InputError(vcf, "is not a plain-text VCF; only .vcf files need compressing")
    pysam.tabix_compress(str(vcf), str(out), force=True)


def index_vcf(vcf, out) -> None:
    """Write a CSI index of the bgzipped VCF or BCF ``vcf`` to ``out``; ``vcf`` is not touched.

    Raises InputError when the file cannot be indexed: a plain-text VCF (compress it with
    :func:`bgzip_vcf` first), or records not sorted by contig and position.
    """
    import pysam

    kind = check_vcf_file(vcf)
    advice = ("an index needs records sorted by contig and position (bcftools sort), "
              "or set import_chunks: 1 to read the file in one job")
    try:
        if kind == "bgzf-vcf":
            old = pysam.set_verbosity(0)
            try:
                pysam.tabix_index(str(vcf), preset="vcf", index=str(out), csi=True, force=True)
            finally:
                pysam.set_verbosity(old)
        elif kind == "bgzf-bcf":
            from pysam import bcftools

            bcftools.index("--csi", "--force", "-o", str(out), str(vcf))
        else:
            raise InputError(vcf, f"cannot be indexed as it is ({kind}); expected bgzipped VCF "
                                  "(.vcf.gz) or BCF")
    except InputError:
        raise
    except Exception as err:  # pysam raises OSError, SamtoolsError
        detail = " ".join(str(err).split())
        raise InputError(vcf, f"cannot be indexed ({detail}); {advice}") from None
    if not Path(out).exists():
        raise InputError(vcf, f"cannot be indexed (no index written); {advice}")


# ----------------------------------------------------------------------------- imputation
def called_frequencies(tensor, missing_mask, train_rows, *, chunk: int = 512) -> np.ndarray:
    """float32 (L, 4): each column's mean composition over the called entries of training rows.

    tensor: float32 (n, L, 4) (array or :class:`seq2pheno.tensorfile.TensorFile`, read ``chunk``
    rows at a time); missing_mask: bool (n, L); train_rows: indices or bool mask of the rows whose
    non-missing entries define the mean (the training split only). The mean composition is the
    allele frequencies (each in [0, 1], summing to 1); a column with no called training row gets
    0.25 in each channel.
    """
    n, L, _ = tensor.shape
    train = np.zeros(n, bool)
    train[np.asarray(train_rows)] = True
    sums = np.zeros((L, 4), np.float64)
    counts = np.zeros(L, np.int64)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        t = train[s:e]
        if not t.any():
            continue
        called = ~missing_mask[s:e][t]
        sums += (tensor[s:e][t] * called[:, :, None]).sum(axis=0)
        counts += called.sum(axis=0)
    mean = np.full((L, 4), 0.25, np.float32)
    ok = counts > 0
    mean[ok] = (sums[ok] / counts[ok, None]).astype(np.float32)
    return mean


def impute_missing(tensor: np.ndarray, missing_mask: np.ndarray, train_rows, *,
                   chunk: int = 512, out: np.ndarray | None = None) -> np.ndarray:
    """Fill missing (row, column) entries with :func:`called_frequencies` of the training rows.

    tensor: float32 (n, L, 4); missing_mask: bool (n, L). Returns ``out`` (default: a copy; pass
    ``out=tensor`` to fill in place).
    """
    n = tensor.shape[0]
    mean = called_frequencies(tensor, missing_mask, train_rows, chunk=chunk)
    if out is None:
        out = np.array(tensor, dtype=np.float32, copy=True)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        r, c = np.nonzero(missing_mask[s:e])
        if len(r):
            out[s + r, c] = mean[c]
    return out


# ----------------------------------------------------------------------------- filters
def filter_variants_samples(geno: GenotypeData, *, max_missing_variant: float | None = None,
                            max_missing_sample: float | None = None,
                            min_maf: float | None = None) -> dict:
    """plink2-style QC filters, in plink2's order: --mind, then --geno, then --maf.

    max_missing_sample (--mind): drop samples whose missing-call fraction over all sites is
    > the threshold. max_missing_variant (--geno): then drop sites whose missing fraction over
    the remaining samples is > the threshold. min_maf (--maf): then drop sites whose minor
    (non-major) allele frequency over the remaining samples' called alleles is < the threshold
    (haploid calls count one allele). None disables a filter.

    Returns {"samples": bool (N,) kept, "sites": bool (M,) kept, "removed": DataFrame with
    columns kind (sample|variant), id (sample id or chrom:pos:ref:alt), reason (mind|geno|maf),
    detail (the value that failed)}. Raises InputError when no site or no sample is left.
    """
    miss = (geno.calls[:, :, 0] < 0) | (geno.calls[:, :, 1] == -1)  # (M, N)
    M, N = miss.shape
    keep_s = np.ones(N, bool)
    keep_m = np.ones(M, bool)
    removed = []
    site_ids = (geno.sites["chrom"].astype(str) + ":" + geno.sites["pos"].astype(str) + ":"
                + geno.sites["ref"] + ":" + geno.sites["alt"]).to_numpy()
    eps = 1e-9
    if max_missing_sample is not None:
        rate = miss.mean(axis=0) if M else np.zeros(N)
        bad = rate > max_missing_sample + eps
        keep_s &= ~bad
        removed += [("sample", geno.samples[i], "mind", f"missing rate {rate[i]:.4f} > {max_missing_sample}")
                    for i in np.flatnonzero(bad)]
    if max_missing_variant is not None and keep_s.any():
        rate = miss[:, keep_s].mean(axis=1)
        bad = rate > max_missing_variant + eps
        keep_m &= ~bad
        removed += [("variant", site_ids[i], "geno", f"missing rate {rate[i]:.4f} > {max_missing_variant}")
                    for i in np.flatnonzero(bad)]
    if min_maf is not None and keep_s.any():
        c = geno.calls[:, keep_s, :]
        kmax = geno.site_bases.shape[1]
        counts = np.zeros((M, kmax), np.int64)
        for k in range(kmax):
            counts[:, k] = (c == k).sum(axis=(1, 2))
        total = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            maf = np.where(total > 0, 1.0 - counts.max(axis=1) / np.maximum(total, 1), 0.0)
        bad = keep_m & (maf < min_maf - eps)
        keep_m &= ~bad
        removed += [("variant", site_ids[i], "maf", f"minor allele frequency {maf[i]:.4f} < {min_maf}")
                    for i in np.flatnonzero(bad)]
    removed_df = pd.DataFrame(removed, columns=["kind", "id", "reason", "detail"])
    if not keep_s.any():
        raise InputError(None, f"every sample was removed by max_missing_sample={max_missing_sample}")
    if not keep_m.any():
        raise InputError(None, "every variant was filtered out (max_missing_variant="
                               f"{max_missing_variant}, min_maf={min_maf}); relax the filters")
    return {"samples": keep_s, "sites": keep_m, "removed": removed_df}


# ----------------------------------------------------------------------------- phenotypes
def join_phenotypes(sample_ids: Sequence[str], phenotypes_path, *, covariates: Iterable[str] = (),
                    missing_ids: str = "error", log: logging.Logger | None = None) -> tuple[pd.DataFrame, dict]:
    """Join a phenotype table (TSV, or CSV by extension: ``id``, ``phenotype``, covariates) to
    the VCF samples.

    Returns (table with one row per VCF sample in ``sample_ids`` order: ``id``, ``phenotype``
    (NaN = unphenotyped), covariate columns; report dict with ``n_phenotyped``,
    ``unphenotyped`` (ids), ``missing_from_vcf`` (phenotyped ids absent from the VCF)).

    VCF samples without a phenotype (absent from the table or an empty phenotype) are
    unphenotyped, not an error. Phenotyped ids absent from the VCF raise InputError when
    ``missing_ids='error'`` and are dropped and reported when ``'drop'``. Duplicate ids, a
    non-numeric phenotype or covariate, a missing column, or no overlap raise InputError.
    """
    log = log or logging.getLogger("seq2pheno.vcf")
    path = Path(phenotypes_path)
    require_file(path, "phenotype table")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except Exception as err:  # pandas raises several types
        raise InputError(path, f"cannot be read as a {'CSV' if sep == ',' else 'TSV'} table ({err})") from None
    covariates = list(covariates)
    for col in ["id", "phenotype", *covariates]:
        if col not in df.columns:
            raise InputError(path, f"no column {col!r} in the header; expected columns id, phenotype"
                                   f"{', ' + ', '.join(covariates) if covariates else ''}", line=1)
    dup = df["id"].duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(path, "phenotype table lists this id twice; ids must be unique",
                         line=i + 2, sample=df["id"].iloc[i])
    out = pd.DataFrame({"id": df["id"]})
    for col in ["phenotype", *covariates]:
        vals = df[col].str.strip()
        num = pd.to_numeric(vals.replace({"": None, "NA": None, "nan": None, "NaN": None, ".": None}),
                            errors="coerce")
        bad = num.isna() & ~vals.isin(["", "NA", "nan", "NaN", "."])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(path, f"{col} {vals.iloc[i]!r} is not a number", line=i + 2,
                             sample=df["id"].iloc[i])
        out[col] = num.astype(float)
    vcf_set = set(sample_ids)
    if len(vcf_set) != len(sample_ids):
        raise InputError(None, "sample ids in the VCF are not unique")
    in_vcf = out["id"].isin(vcf_set)
    if not in_vcf.any():
        raise InputError(path, f"no id in common with the VCF's {len(sample_ids)} samples "
                               f"(e.g. table {out['id'].iloc[0] if len(out) else '-'!r} vs VCF "
                               f"{sample_ids[0]!r}); check the id column")
    phenotyped = out["phenotype"].notna()
    missing_from_vcf = out.loc[~in_vcf & phenotyped, "id"].tolist()
    if missing_from_vcf and missing_ids == "error":
        raise InputError(path, f"{len(missing_from_vcf)} phenotyped id(s) are not in the VCF, e.g. "
                               f"{missing_from_vcf[0]!r} (missing_ids: drop to continue without them)",
                         sample=missing_from_vcf[0])
    if missing_from_vcf:
        log.warning("%d phenotyped ids not in the VCF were dropped (first: %s)",
                    len(missing_from_vcf), missing_from_vcf[:5])
    table = pd.DataFrame({"id": list(sample_ids)}).merge(out, on="id", how="left")
    unph = table.loc[table["phenotype"].isna(), "id"].tolist()
    if table["phenotype"].notna().sum() == 0:
        raise InputError(path, "no VCF sample has a phenotype")
    report = {"n_samples": len(table), "n_phenotyped": int(table["phenotype"].notna().sum()),
              "unphenotyped": unph, "missing_from_vcf": missing_from_vcf}
    log.info("%d VCF samples: %d phenotyped, %d unphenotyped; %d phenotyped ids not in the VCF",
             len(table), report["n_phenotyped"], len(unph), len(missing_from_vcf))
    return table, report


# ----------------------------------------------------------------------------- writing
def _atomic_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_genotype_cohort(geno: GenotypeData, table: pd.DataFrame, samples_tsv, onehot_npy,
                          features_tsv, *, missing_npy=None, chunk_rows: int = 256,
                          log: logging.Logger | None = None) -> None:
    """Write samples.tsv, onehot.npy (float32 rows x L x 4) and features.tsv atomically.

    ``table`` (from :func:`join_phenotypes`, possibly subset) gives the samples to write, in
    order; each id must be in ``geno.samples``. onehot.npy rows follow it (two rows per sample,
    ``2*i`` and ``2*i + 1``, with haplotypes). The tensor is built ``chunk_rows`` at a time into a
    temporary file and renamed; missing entries are all-zero (see :func:`called_frequencies`).
    ``missing_npy`` (optional) receives the bool missing mask (rows x L).
    """
    log = log or logging.getLogger("seq2pheno.vcf")
    idx_of = {s: i for i, s in enumerate(geno.samples)}
    absent = [s for s in table["id"] if s not in idx_of]
    if absent:
        raise InputError(samples_tsv, f"{len(absent)} sample(s) not in the genotype data", sample=absent[0])
    sidx = np.array([idx_of[s] for s in table["id"]], dtype=np.int64)
    rows = np.stack([2 * sidx, 2 * sidx + 1], axis=1).ravel() if geno.haplotypes else sidx
    L = len(geno.features)
    paths = [Path(samples_tsv), Path(onehot_npy), Path(features_tsv)] + ([Path(missing_npy)] if missing_npy else [])
    tmps = [_atomic_tmp(p) for p in paths]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as files:
            arr = files.enter_context(tensor_writer(tmps[1], (L, 4), np.float32, atomic=False))
            marr = (files.enter_context(tensor_writer(tmps[3], (L,), bool, atomic=False))
                    if missing_npy else None)
            for s in range(0, len(rows), chunk_rows):
                t, m = geno.tensor(rows[s:s + chunk_rows])
                arr.append(t)
                if marr is not None:
                    marr.append(m)
                log.info("wrote tensor rows %d/%d", min(len(rows), s + chunk_rows), len(rows))
        geno.features[["position", "chrom", "pos", "ref", "alt"]].to_csv(tmps[2], sep="\t", index=False)
        out_table = table.copy()
        out_table.to_csv(tmps[0], sep="\t", index=False, na_rep="")
        for tmp, p in list(zip(tmps, paths))[1:] + [(tmps[0], paths[0])]:
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()
