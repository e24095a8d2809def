"""Chunked reading (a large VCF read by several jobs) and the files it needs.

:func:`plan_chunks` cuts an indexed file into stretches of the genome, in the order one reading
meets them (each read by :func:`seq2pheno.vcf.reader.read_genotype_part`); :func:`parse_chunk`
reads a chunk name (``i-of-k``); :func:`has_index`, :func:`bgzip_vcf` and :func:`index_vcf`
tell whether a VCF has an index and make the bgzipped copy and the CSI index a chunked import
reads through.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from .files import check_vcf_file


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
