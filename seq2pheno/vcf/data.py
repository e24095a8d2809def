"""The genotype containers: :class:`GenotypeData` (a whole cohort) and :class:`GenotypePart` (one
chunk of a VCF, read and decoded, not yet assembled).

:class:`GenotypeData` stores calls compactly (allele indices per site and sample) and builds
the tensors on demand, in either encoding (see :mod:`seq2pheno.vcf.reader`): allele
compositions per column, the missing mask, plink2-style dosages, subsets and missing rates.
:class:`GenotypePart` is what one job of a chunked import writes (.npz, no pickled objects).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError


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
