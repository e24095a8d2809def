"""Reading a VCF/BCF + reference FASTA into genotypes: :func:`read_genotypes` for a whole file,
:func:`read_genotype_part` for one chunk and :func:`assemble_genotypes` to join the chunks.

Records, header, contigs, REF/ALT and samples are read with :class:`pysam.VariantFile`; the
reference with :class:`seq2pheno.vcf.reference.Reference`. Genotypes are decoded in bulk rather
than sample by sample: for a text VCF (.vcf, .vcf.gz) htslib parses the fixed columns of each
record (``drop_samples=True``) while the same line is read in lockstep from the file (pysam
BGZF/tabix readers) and the GT sub-field of every sample is decoded by a vectorised numpy decoder
(:mod:`seq2pheno.vcf.decode`); for BCF, htslib formats each record back to VCF text
(``str(record)``, what ``bcftools view`` prints) for the same decoder. Entries the bulk decoder
cannot read (alleles >= 10, GT not first in FORMAT, mixed ploidy) go through a small per-entry
path. Nothing else in a VCF is parsed by hand.

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
columns with ``True`` in the missing mask, to be filled by
:func:`seq2pheno.vcf.impute.impute_missing` with allele frequencies computed on the training
rows only, once the split is known.

:func:`read_genotypes` is itself one part, read and assembled: :func:`read_genotype_part` reads
one chunk of :func:`seq2pheno.vcf.chunks.plan_chunks` into a
:class:`seq2pheno.vcf.data.GenotypePart`, and :func:`assemble_genotypes` joins the parts into
the :class:`seq2pheno.vcf.data.GenotypeData` that :func:`read_genotypes` gives for the whole file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .alphabet import _BASE_INDEX, _IUPAC_TABLE
from .data import GenotypeData, GenotypePart, _concat_calls
from .decode import _decode_gt, _decode_gt_fixed
from .files import _text_header, check_vcf_file
from .reference import Reference
from .regions import parse_regions, read_id_list


ENCODINGS = ("variants", "sequence")
MISSING_MODES = ("error", "mean", "reference")


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
