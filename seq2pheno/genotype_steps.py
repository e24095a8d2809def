"""The workflow's steps for genotype (VCF/BCF) cohorts, as functions of file paths.

Each function here is what one rule of rules/genotype.smk runs; scripts/ only open the log and
call it. Outputs are written to a temporary name and renamed, so a failed step leaves nothing
that looks complete. See docs/genotypes.md for what each step decides and why.

- :func:`import_vcf`: VCF/BCF + FASTA + phenotype table -> samples.tsv, onehot.npy, features.tsv,
  missing.npy, dosage.npy (kinship input), filtered.tsv (plink2-style QC removals),
  import_summary.json.
- :func:`import_markers` (0/1/2 marker matrix + map) and :func:`import_plink` (.bed/.bim/.fam):
  the same outputs from the other genotype sources (:mod:`seq2pheno.markers`).
- :func:`import_vcf_chunk` (one job per chunk of the genome) and :func:`gather_vcf_chunks`: the
  same outputs, byte for byte, from a VCF read in ``import_chunks`` parallel jobs;
  :func:`bgzip_vcf` and :func:`index_vcf` prepare a VCF that has no index.
- :func:`curate_genotypes`: KING-robust kinship (VanRaden G/2 for inbred or haploid cohorts)
  -> kinship.tsv, related.tsv, duplicates.tsv, removed.tsv, kept.tsv, summary.json (relatives
  kept with clones grouped, removed, or grouped so they never straddle splits).
- :func:`split_genotypes`: the shared stratified group-aware split, then covariates regressed
  out on the training split only (split.tsv gains the adjusted ``phenotype`` column).
- :func:`impute_genotypes`: missing calls filled with training-split allele frequencies.
- :func:`predict_new`: another VCF scored with a trained cohort's models, sites checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import read_tsv
from .errors import InputError
from .atomic import atomic_path, write_json, write_tsv
from .covariates import adjust_covariates, adjust_split_table, covariate_design  # noqa: F401  (re-exported)
from .tensorfile import iter_blocks, open_tensor, tensor_writer

#: Where each kind of import-time removal is recorded (reason codes of filtered.tsv).
FILTER_NAMES = {"mind": "max_missing_sample (plink2 --mind)",
                "geno": "max_missing_variant (plink2 --geno)",
                "maf": "min_maf (plink2 --maf)"}


# ---- import -----------------------------------------------------------------------------


def read_covariates(phenotypes_path, ids, covariates) -> pd.DataFrame:
    """Covariate columns of the phenotype table for ``ids`` (VCF order), as given.

    Numeric columns become floats; any other column stays text (one-hot encoded when the
    covariates are regressed out). Empty cells are NaN.
    """
    if not covariates:
        return pd.DataFrame({"id": list(ids)})
    path = Path(phenotypes_path)
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    for col in covariates:
        if col not in df.columns:
            raise InputError(path, f"no covariate column {col!r} in the header (columns: "
                                   f"{', '.join(df.columns)})", line=1)
        if col in ("id", "phenotype"):
            raise InputError("config", f"covariates: {col!r} cannot be a covariate")
    out = pd.DataFrame({"id": list(ids)}).merge(df[["id", *covariates]], on="id", how="left")
    for col in covariates:
        vals = out[col].fillna("").str.strip()
        vals = vals.mask(vals.isin(["", "NA", "NaN", "nan", "."]))
        num = pd.to_numeric(vals, errors="coerce")
        out[col] = num.astype(float) if (num.notna() == vals.notna()).all() else vals
    return out


def import_vcf(entry: dict, *, out: dict, log) -> dict:
    """Read a VCF/BCF cohort and write the import outputs; returns the import summary.

    entry: the cohort's config (``vcf``, ``fasta``, ``phenotypes``, ``regions``, ``samples``,
    ``encoding``, ``haplotypes``, ``ref_mismatch``, ``non_snv``, ``missing``, ``missing_ids``,
    ``max_missing_variant``, ``max_missing_sample``, ``min_maf``, ``covariates``; optional
    ``name`` for messages).
    out: paths ``samples``, ``onehot``, ``features``, ``missing`` (bool N x L mask; all False
    unless ``missing: mean``), ``dosage`` (int8 N x M ALT counts, -1 missing, of the kept
    biallelic autosomal SNVs, rows as samples.tsv), ``filtered`` (kind, id, reason, detail),
    ``summary`` (import_summary.json).
    Samples removed by ``max_missing_sample`` are not written to samples.tsv (they have no
    tensor row); they are listed in filtered.tsv and carried to curate/removed.tsv.
    With ``haplotypes: true`` (a phased VCF) onehot.npy and missing.npy have two rows per sample
    of samples.tsv (``2*i``, ``2*i + 1``: its haplotypes); dosage.npy stays one row per sample.
    An unphased heterozygous call is then an InputError naming the record and sample.
    :func:`import_vcf_chunk` and :func:`gather_vcf_chunks` write the same files in chunks.
    """
    from . import vcf

    geno = vcf.read_genotypes(entry["vcf"], entry["fasta"], **_read_options(entry), log=log)
    return _write_import(entry, geno, out=out, log=log)


def _read_options(entry: dict) -> dict:
    """The reading options of a cohort entry, as :func:`seq2pheno.vcf.read_genotypes` takes them."""
    return {"regions": entry.get("regions"), "samples": entry.get("samples"),
            "encoding": entry.get("encoding", "variants"), "ref_mismatch": entry.get("ref_mismatch", "error"),
            "non_snv": entry.get("non_snv", "skip"), "missing": entry.get("missing", "mean"),
            "haplotypes": bool(entry.get("haplotypes"))}


def import_markers(entry: dict, *, out: dict, log) -> dict:
    """Read a marker-matrix cohort (``source: markers``) and write the outputs of :func:`import_vcf`.

    entry: ``markers`` (TSV/CSV, optionally gzipped: id, then one 0/1/2 column per marker),
    optional ``map`` (marker id, chrom, pos, optional ref/alt), ``coding`` (``auto``, ``dosage``:
    ALT counts 0/1/2, ``centered``: -1/0/1, ``binary``: 0/1 homozygotes), and ``phenotypes``, ``covariates``, ``missing``,
    ``missing_ids`` and the three filters as for a VCF. The files written are those a VCF of the
    same genotypes gives (:mod:`seq2pheno.markers`).
    """
    from . import markers

    details: dict = {}
    geno = markers.read_markers(entry["markers"], entry.get("map"), coding=entry.get("coding", "auto"),
                                missing=entry.get("missing", "mean"), log=log, details=details)
    return _write_import(entry, geno, out=out, log=log, extra=details)


def import_plink(entry: dict, *, out: dict, log) -> dict:
    """Read a PLINK 1 binary cohort (``source: plink``: ``plink`` = the prefix of .bed/.bim/.fam)
    and write the outputs of :func:`import_vcf`. The .bim's allele 1 (A1) is counted as the ALT,
    as ``plink2 --make-bed`` writes a VCF's ALT; the .fam IID is the sample id."""
    from . import markers

    geno = markers.read_plink(entry["plink"], missing=entry.get("missing", "mean"), log=log)
    return _write_import(entry, geno, out=out, log=log)


def _genotype_input(entry: dict) -> tuple[str, str]:
    """(key, path) of a genotype cohort's genotype file: ``vcf``, ``markers`` or ``plink``."""
    key = next((k for k in ("vcf", "markers", "plink") if entry.get(k)), "vcf")
    return key, str(entry.get(key))


def _write_import(entry: dict, geno, *, out: dict, log, extra: dict | None = None) -> dict:
    """Phenotypes, covariates, the plink2-order filters over the whole cohort, and every
    output of :func:`import_vcf` from the genotypes read (in one job or gathered from chunks);
    ``extra``: more fields of import_summary.json (a marker matrix's coding)."""
    from . import kinship, vcf

    haplotypes = bool(entry.get("haplotypes"))
    covariates = list(entry.get("covariates") or [])
    table, joined = vcf.join_phenotypes(geno.samples, entry["phenotypes"],
                                        missing_ids=entry.get("missing_ids", "error"), log=log)
    cov = read_covariates(entry["phenotypes"], geno.samples, covariates)
    for col in covariates:
        table[col] = cov[col].to_numpy()
        lacking = table["phenotype"].notna() & pd.isna(table[col])
        if lacking.any():
            sid = table.loc[lacking, "id"].iloc[0]
            raise InputError(entry["phenotypes"], f"covariate {col!r} is empty for a phenotyped sample "
                                                  f"({int(lacking.sum())} such); covariates are needed "
                                                  "to regress them out", sample=sid)
    try:
        filt = vcf.filter_variants_samples(geno, max_missing_variant=entry.get("max_missing_variant"),
                                           max_missing_sample=entry.get("max_missing_sample"),
                                           min_maf=entry.get("min_maf"))
    except InputError as err:
        raise InputError(_genotype_input(entry)[1], str(err).split(": ", 1)[-1]) from None
    removed = filt["removed"]
    for reason, name in FILTER_NAMES.items():
        n = int((removed["reason"] == reason).sum())
        if n:
            log.info("%s removed %d %s", name, n, "samples" if reason == "mind" else "variants")
    kept = geno.subset(samples=filt["samples"], sites=filt["sites"])
    if kept.encoding == "sequence":
        # a column whose record was filtered out shows the reference: its alt no longer applies
        features = kept.features.copy()
        features["alt"] = ""
        cols = kept.sites["column"].to_numpy()
        features.loc[cols, "alt"] = kept.sites["alt"].to_numpy()
        kept.features = features
    table = table[table["id"].isin(set(kept.samples))].reset_index(drop=True)
    if table["phenotype"].notna().sum() == 0:
        raise InputError(entry["phenotypes"], "no phenotyped sample passes max_missing_sample")
    want_mask = entry.get("missing", "mean") == "mean"
    with atomic_path(out["missing"]) as mask_tmp:
        vcf.write_genotype_cohort(kept, table, out["samples"], out["onehot"], out["features"],
                                  missing_npy=mask_tmp if want_mask else None, log=log)
        if not want_mask:
            np.save(mask_tmp, np.zeros((len(table) * (2 if haplotypes else 1), len(kept.features)), bool))

    dosage, bial = kept.dosage()
    # curation.autosomes (passed in the entry as ``autosomes``): which contigs kinship uses
    try:
        auto = kinship.autosomal_mask(kept.sites["chrom"].to_numpy()[bial], entry.get("autosomes"))
    except ValueError as err:
        raise InputError("config", f"curation.{err}") from None
    dosage = np.ascontiguousarray(dosage[:, auto])
    with atomic_path(out["dosage"]) as tmp:
        np.save(tmp, dosage)
    if dosage.shape[1] == 0:
        log.warning("no biallelic autosomal SNV left (curation.autosomes %r): kinship cannot be "
                    "estimated, no relative or clone will be detected", entry.get("autosomes"))
    write_tsv(removed, out["filtered"])

    unph = table.loc[table["phenotype"].isna(), "id"].tolist()
    source_key, source_path = _genotype_input(entry)
    summary = {
        source_key: source_path,
        "encoding": kept.encoding,
        "haplotypes": haplotypes,
        "rows_per_sample": 2 if haplotypes else 1,
        "missing": entry.get("missing", "mean"),
        "n_samples_vcf": len(geno.samples),
        "n_records_kept_before_filters": int(len(geno.sites)),
        "skipped_records": {k: int(v) for k, v in geno.skipped.items() if v},
        "filters": {"max_missing_sample": entry.get("max_missing_sample"),
                    "max_missing_variant": entry.get("max_missing_variant"),
                    "min_maf": entry.get("min_maf")},
        "filtered": {r: int((removed["reason"] == r).sum()) for r in FILTER_NAMES},
        "n_samples": int(len(table)),
        "n_phenotyped": int(table["phenotype"].notna().sum()),
        "n_unphenotyped": len(unph),
        "unphenotyped": unph,
        "missing_from_vcf": joined["missing_from_vcf"],
        "n_missing_from_vcf": len(joined["missing_from_vcf"]),
        "n_variants": int(len(kept.sites)),
        "n_columns": int(len(kept.features)),
        "n_kinship_sites": int(dosage.shape[1]),
        "autosomes": entry.get("autosomes"),
        "kinship_excluded_contigs": sorted({str(c) for c in kept.sites["chrom"].to_numpy()[bial][~auto]})[:50],
        "missing_call_fraction": float(kept.missing_rates()[0].mean()) if len(kept.sites) else 0.0,
        "covariates": covariates,
        **(extra or {}),
    }
    write_json(summary, out["summary"])
    log.info("imported %d samples (%d phenotyped, %d unphenotyped) x %d variants (%d tensor columns); "
             "%d sites for kinship", summary["n_samples"], summary["n_phenotyped"], len(unph),
             summary["n_variants"], summary["n_columns"], summary["n_kinship_sites"])
    return summary


# ---- chunked import ------------------------------------------------------------------------
# import_chunks > 1: rules bgzip_vcf / index_vcf (only for a VCF without an index), K jobs of
# import_vcf_chunk (Snakemake scatter), gather_vcf_chunks (gather). See docs/genotypes.md.


def bgzip_vcf(vcf_path, *, out, log) -> None:
    """A plain-text VCF -> a bgzipped copy at ``out`` (to be indexed for a chunked import)."""
    from . import vcf

    with atomic_path(out) as tmp:
        vcf.bgzip_vcf(vcf_path, tmp)
    log.info("compressed %s to %s (bgzip) so that it can be indexed and read in chunks", vcf_path, out)


def index_vcf(vcf_path, *, out, log) -> None:
    """A CSI index of a bgzipped VCF or BCF at ``out`` (the input folder is left untouched)."""
    from . import vcf

    with atomic_path(out) as tmp:
        vcf.index_vcf(vcf_path, tmp)
    log.info("%s has no index (.tbi/.csi): indexed it to %s to read it in chunks", vcf_path, out)


def _chunk_settings(entry: dict) -> dict:
    """What a chunk file must agree on with the gathering job (a stale chunk is refused)."""
    keys = ("vcf", "fasta", "regions", "samples", "encoding", "haplotypes", "ref_mismatch",
            "non_snv", "missing")
    return {k: (str(entry.get(k)) if entry.get(k) is not None else None) for k in keys}


def import_vcf_chunk(entry: dict, chunk: str, *, out: str, log, vcf_path=None, index=None) -> dict:
    """Read and decode one chunk of a cohort's VCF -> ``out`` (.npz, :class:`seq2pheno.vcf.GenotypePart`).

    chunk: ``"i-of-k"`` (Snakemake's scatteritem). The chunk's genome stretches come from
    :func:`seq2pheno.vcf.plan_chunks`, computed the same way by every chunk job from the index
    and the FASTA's contig lengths. ``vcf_path``: the file to read (default ``entry['vcf']``; a
    bgzipped copy of a plain-text VCF); ``index``: its index when not beside it. Filters are not
    applied here: they need the whole cohort (:func:`gather_vcf_chunks`). Returns the chunk's
    counts (records kept, stretches).
    """
    from . import vcf

    i, k = vcf.parse_chunk(chunk)
    vcf_path = entry["vcf"] if vcf_path is None else vcf_path
    reference = vcf.Reference(entry["fasta"])
    region_list = vcf.parse_regions(entry.get("regions"), reference)
    # read_genotypes goes region by region only through the VCF's own index; else in file order
    region_order = region_list is not None and vcf.has_index(entry["vcf"])
    plan = vcf.plan_chunks(vcf_path, k, lengths=reference.lengths, regions=region_list,
                           region_order=region_order, index=index)
    intervals = plan[i - 1]

    def label(c, s, e, r):
        return f"{c}:{s + 1}-{'end' if e is None else e}" + (f" (region {r + 1})" if r >= 0 else "")

    shown = ", ".join(label(*iv) for iv in intervals[:8]) + (f", ... ({len(intervals)} stretches)"
                                                              if len(intervals) > 8 else "")
    log.info("chunk %d of %d of %s: %s", i, k, entry["vcf"],
             shown or "nothing (more chunks than base pairs to cut)")
    part = vcf.read_genotype_part(vcf_path, reference, intervals=intervals, index=index,
                                  **_read_options(entry), log=log)
    with atomic_path(out) as tmp:
        part.save(tmp, chunk=i, of=k, intervals=intervals, settings=_chunk_settings(entry))
    log.info("chunk %d of %d: %d SNV records x %d samples; skipped: %s", i, k, len(part.site_rows),
             len(part.samples), {r: c for r, c in part.skipped.items() if c} or "none")
    return {"chunk": i, "of": k, "n_records": len(part.site_rows), "n_intervals": len(intervals)}


def gather_vcf_chunks(entry: dict, chunks, *, out: dict, log) -> dict:
    """Join the chunk files (in chunk order 1..k) and write every output of :func:`import_vcf`,
    byte for byte what one job writes.

    The chunks are concatenated along the variant axis in genome (reading) order; then, over the
    whole cohort: overlapping-region duplicates, skipped counts, the plink2-order filters
    (``max_missing_sample`` on all sites, ``max_missing_variant`` and ``min_maf`` over the
    remaining samples), phenotypes and covariates, tensors, dosages and the summary.
    """
    from . import vcf

    chunks = [str(c) for c in chunks]
    parts = []
    want = _chunk_settings(entry)
    for n, path in enumerate(chunks, 1):
        part, meta = vcf.GenotypePart.load(path)
        if (meta.get("chunk"), meta.get("of")) != (n, len(chunks)):
            raise InputError(path, f"is chunk {meta.get('chunk')} of {meta.get('of')}, expected chunk "
                                   f"{n} of {len(chunks)}; rerun the chunks")
        if meta.get("settings") != want:
            raise InputError(path, "was written with other cohort settings; rerun the chunks")
        parts.append(part)
    geno = vcf.assemble_genotypes(parts, entry["fasta"], vcf=entry["vcf"], regions=entry.get("regions"),
                                  encoding=entry.get("encoding", "variants"),
                                  haplotypes=bool(entry.get("haplotypes")), log=log)
    log.info("gathered %d chunks (%s SNV records)", len(parts),
             " + ".join(str(len(p.site_rows)) for p in parts))
    return _write_import(entry, geno, out=out, log=log)


# ---- curation -----------------------------------------------------------------------------


def _degree(k: float) -> str:
    from .kinship import DEGREE_CUTOFFS

    for name in ("duplicate", "first", "second", "third"):
        if k > DEGREE_CUTOFFS[name]:
            return {"duplicate": "duplicate / MZ twin", "first": "1st degree",
                    "second": "2nd degree", "third": "3rd degree"}[name]
    return "unrelated"


def curate_genotypes(samples_path, dosage_path, filtered_path, settings: dict, *, threads: int = 1,
                     out: dict, log) -> dict:
    """Relatedness curation -> out['kinship'|'related'|'duplicates'|'removed'|'kept'|'summary'].

    settings: the config's ``curation`` (``relatedness`` keep|group|remove, ``king_cutoff``,
    ``king_table_floor``, ``kinship_measure`` auto|king|vanraden, ``max_group_share``).
    The relationship is KING-robust kinship, or VanRaden's G on the kinship scale where KING is
    undefined (inbred lines, haploid calls: :func:`seq2pheno.kinship.choose_measure`); pairs
    with kinship > king_cutoff are related; pairs with kinship >= 0.354 (KING's duplicate / MZ
    twin threshold), or identical genotypes, are clones.

    ``keep`` (the default) keeps everyone; only clones are grouped (one ``group`` in kept.tsv,
    so they never straddle splits or folds). ``remove`` keeps a maximum unrelated set of the
    *phenotyped* samples (:func:`seq2pheno.kinship.unrelated_set`); unphenotyped samples are
    never removed: they are in no evaluation split, so a relative in training cannot inflate a
    metric, and they must survive to be scored. ``group`` keeps everyone and makes each
    connected component of the relatedness graph one group; when the largest holds more than
    ``max_group_share`` of the phenotyped samples the step stops (one InputError line).
    In every mode clones left in the cohort share a group. duplicates.tsv lists the clones with
    their genotype discordance.
    """
    from . import kinship as kin

    samples = read_tsv(samples_path)
    dosage = np.load(dosage_path, mmap_mode="r")
    if dosage.shape[0] != len(samples):
        raise InputError(dosage_path, f"expected {len(samples)} rows (samples.tsv), got {dosage.shape[0]}")
    ids = samples["id"].astype(str).tolist()
    y = samples["phenotype"].to_numpy(dtype=np.float64)
    phenotyped = ~np.isnan(y)
    mode, cutoff = settings.get("relatedness", "keep"), float(settings.get("king_cutoff", 0.0884))
    if mode not in ("keep", "group", "remove"):
        raise InputError("config", f"curation.relatedness {mode!r}: expected keep, group or remove")
    floor = settings.get("king_table_floor")
    max_share = float(settings.get("max_group_share", 0.5))
    n_sites = int(dosage.shape[1])
    try:
        chosen = kin.choose_measure(dosage_path, settings.get("kinship_measure", "auto"))
    except ValueError as err:
        raise InputError("config", f"curation.{err}") from None
    het = chosen["heterozygosity"]
    log.info("%s kinship: %d samples x %d sites, %d thread(s); heterozygosity %.2f%% (%.2f%% expected)%s",
             chosen["name"], len(ids), n_sites, threads, 100 * het["observed"], 100 * het["expected"],
             f"; {chosen['reason']}" if chosen["reason"] else "")
    reason = chosen["reason"]
    if n_sites == 0:
        reason = ("no biallelic autosomal SNV (see curation.autosomes): kinship is undefined and "
                  "no relative or clone can be detected")
        log.warning("%s", reason)
    dup_cut = kin.DEGREE_CUTOFFS["duplicate"]
    # kinship.tsv is streamed tile by tile (sample block x sample block, king_table_floor applied
    # per tile) to a temporary file renamed once every output is ready; only the related pairs
    # (kinship > cutoff, and the clones) stay in memory, never all N(N-1)/2 pairs
    with atomic_path(out["kinship"]) as kinship_tmp:
        n_pairs, close = kin.write_king_table(
            kinship_tmp, dosage_path, ids, min_kinship=None if floor is None else float(floor),
            keep_above=min(cutoff, float(np.nextafter(dup_cut, -np.inf))), threads=max(1, int(threads)),
            measure=chosen["measure"], keep_identical=True)
        k_close = close["kinship"].to_numpy(np.float64)
        # identical genotypes without a heterozygote (KING NaN) over at least half the sites
        identical = np.isnan(k_close) & (close["nsnp"].to_numpy() >= max(1.0, 0.5 * n_sites))
        is_clone = (k_close >= dup_cut) | identical
        with np.errstate(invalid="ignore"):
            is_related = (k_close > cutoff) | is_clone
        pairs = close[is_related].copy()
        pairs["clone"] = is_clone[is_related]
        pairs["identical"] = identical[is_related]
        pairs = pairs.sort_values(["kinship", "id1", "id2"], ascending=[False, True, True],
                                  na_position="first").reset_index(drop=True)
        clones = pairs[pairs["clone"]]
        n_related = int((pairs["kinship"] > cutoff).sum() + pairs["identical"].sum())
        log.info("%d pairs, %d related (kinship > %g), %d clone pairs (kinship >= %g or identical)",
                 n_pairs, n_related, cutoff, len(clones), dup_cut)

        filtered = read_tsv(filtered_path)
        mind = filtered[filtered["kind"] == "sample"]
        removed_rows = [{"id": r.id, "reason": "missing_calls",
                         "detail": f"max_missing_sample (plink2 --mind): {r.detail}"}
                        for r in mind.itertuples()]

        # related pairs for remove: kinship > cutoff, or identical genotypes (as kinship 0.5)
        graph = pairs[(pairs["kinship"] > cutoff) | pairs["identical"]].assign(
            kinship=lambda t: t["kinship"].fillna(0.5))
        index = {s: i for i, s in enumerate(ids)}
        keep = np.ones(len(ids), bool)
        drop: set = set()
        clone_label = kin.edge_groups(clones["id1"], clones["id2"], ids)
        labels = clone_label  # keep and remove: clones left in the cohort share a group
        if mode == "remove":
            ph_ids = [s for s, p in zip(ids, phenotyped) if p]
            kept_ph, rel_removed = kin.unrelated_set(graph, ph_ids, cutoff)
            drop = set(rel_removed["id"])
            for r in rel_removed.itertuples():
                removed_rows.append({"id": r.id, "reason": "related", "detail": r.detail})
            keep = np.array([s not in drop for s in ids])
        elif mode == "group":
            labels = kin.edge_groups(pairs["id1"], pairs["id2"], ids)  # related pairs and clones
            sizes = np.bincount(labels[phenotyped], minlength=labels.max() + 1 if len(labels) else 0)
            n_ph = int(phenotyped.sum())
            if n_ph and sizes.max() > max_share * n_ph:
                big = int(np.argmax(sizes))
                member = ids[int(np.flatnonzero(labels == big)[0])]
                raise InputError("config", f"curation.relatedness: group puts {int(sizes[big]):,} of the "
                                 f"{n_ph:,} phenotyped samples ({sizes[big] / n_ph:.0%}) in one family "
                                 f"(kinship > {cutoff:g} links them, e.g. {member}), "
                                 f"more than max_group_share {max_share:g}: no split can keep families "
                                 "apart; use relatedness: keep (relatives stay in the cohort, clones are "
                                 "grouped) or a higher king_cutoff")
        # kept samples' groups, renumbered 0..G-1 in order of first appearance
        _, groups = np.unique(labels[keep], return_inverse=True)
        first = {}
        groups = np.array([first.setdefault(g, len(first)) for g in groups], np.int64)
        group_of = dict(zip(np.asarray(ids, dtype=object)[keep], groups))

        def action(a, b, clone):
            if mode == "remove":
                if a in drop and b in drop:
                    return f"removed {a} and {b}"
                if a in drop or b in drop:
                    return f"removed {a if a in drop else b}"
                unph = [s for s in (a, b) if not phenotyped[index[s]]]
                if unph:
                    return f"kept both ({', '.join(unph)} unphenotyped: scored, never trained on)"
                return f"kept both as clones (group {group_of[a]})"
            if mode == "group":
                return f"grouped (group {group_of[a]})"
            if clone:
                return f"grouped as clones (group {group_of[a]})"
            return "kept both (relatedness: keep)"

        kept = pd.DataFrame({"id": np.asarray(ids, dtype=object)[keep], "phenotype": y[keep],
                             "group": groups})
        if kept["phenotype"].notna().sum() == 0:
            raise InputError(samples_path, "no phenotyped sample is left after relatedness curation")
        related = pairs[["id1", "id2", "nsnp", "kinship"]].copy()
        related["degree"] = [("duplicate / MZ twin (identical genotypes)" if ident else _degree(k))
                             for k, ident in zip(related["kinship"], pairs["identical"])]
        related["action"] = [action(a, b, c) for a, b, c in zip(related["id1"], related["id2"], pairs["clone"])]

        duplicates = _duplicate_table(clones, ids, y, dosage)
        removed = pd.DataFrame(removed_rows, columns=["id", "reason", "detail"])
        sizes_kept = np.bincount(groups) if len(groups) else np.zeros(1, np.int64)
        summary = {
            "n_input": int(len(ids) + len(mind)),
            "n_removed_at_import": int(len(mind)),
            "relatedness": mode,
            "king_cutoff": cutoff,
            "king_table_floor": floor,
            "relationship_measure": chosen["name"] if n_sites else None,
            "relationship_reason": reason,
            "heterozygosity": {"observed": het["observed"], "expected": het["expected"],
                               "n_inbred_samples": het["n_inbred"]},
            "n_kinship_sites": n_sites,
            "n_pairs": int(n_pairs),
            "n_related_pairs": n_related,
            "n_related_by_degree": {d: sum(str(x).startswith(d) for x in related["degree"]) for d in
                                    ("duplicate / MZ twin", "1st degree", "2nd degree", "3rd degree")},
            "n_duplicate_pairs": int(len(clones)),
            "n_identical_pairs": int(pairs["identical"].sum()),
            "n_clone_groups": len({int(clone_label[index[v]]) for v in (*clones["id1"], *clones["id2"])}),
            "n_groups": int(len(np.unique(groups))),
            "largest_group": int(sizes_kept.max()),
            "max_group_share": max_share,
            "n_kept": int(len(kept)),
            "n_kept_phenotyped": int(kept["phenotype"].notna().sum()),
            "removed_by_reason": {str(k): int(v) for k, v in removed["reason"].value_counts().items()},
            "noise_ceiling": None,
        }
        write_tsv(related, out["related"])
        write_tsv(duplicates, out["duplicates"])
        write_tsv(removed, out["removed"])
        write_json(summary, out["summary"])
        write_tsv(kept, out["kept"])
        log.info("kept %d of %d samples (%s, %d groups, largest %d); removed %s", summary["n_kept"],
                 summary["n_input"], mode, summary["n_groups"], summary["largest_group"],
                 summary["removed_by_reason"] or "none")
        return summary


def _duplicate_table(dup: pd.DataFrame, ids, y, dosage) -> pd.DataFrame:
    """duplicates.tsv: one row per sample in a duplicate group (kinship > 0.354), as curate's."""
    cols = ["id", "group", "group_size", "representative", "mismatches", "kinship", "phenotype"]
    if not len(dup):
        return pd.DataFrame(columns=cols)
    from .kinship import _components

    pos = {s: i for i, s in enumerate(ids)}
    adj = [set() for _ in ids]
    kin_of = {}
    for a, b, k in zip(dup["id1"], dup["id2"], dup["kinship"]):
        adj[pos[a]].add(pos[b])
        adj[pos[b]].add(pos[a])
        kin_of[(pos[a], pos[b])] = kin_of[(pos[b], pos[a])] = k
    rows = []
    g = 0
    for comp in _components(adj):
        if len(comp) < 2:
            continue
        rep = comp[0]
        for v in comp:
            a, b = np.asarray(dosage[v]), np.asarray(dosage[rep])
            both = (a >= 0) & (b >= 0)
            rows.append((ids[v], g, len(comp), ids[rep], int((a[both] != b[both]).sum()),
                         np.nan if v == rep else kin_of.get((v, rep), np.nan), y[v]))
        g += 1
    return pd.DataFrame(rows, columns=cols)


# ---- split and covariates ---------------------------------------------------------------------


def split_genotypes(kept_path, samples_path, settings: dict, covariates: list[str], *, out: dict,
                    log) -> dict | None:
    """The shared split (:func:`seq2pheno.steps.split`), then covariates regressed out on train.

    With covariates, split.tsv gains a ``phenotype`` column: the adjusted phenotype (read by
    :func:`seq2pheno.dataset.load_design` instead of kept.tsv's). Returns the coefficients.
    """
    from .steps import split

    tmp = {k: str(Path(v).with_name(f".{Path(v).name}.partial{Path(v).suffix}")) for k, v in out.items()}
    try:
        split(kept_path, settings, out=tmp, log=log)
        table = read_tsv(tmp["split"])
        coef = None
        if covariates:
            table, coef, y = adjust_split_table(table, read_tsv(kept_path), read_tsv(samples_path), covariates)
            adjusted = table["phenotype"].to_numpy(float)
            tr = (table["split"] == "train").to_numpy() & ~np.isnan(y)
            log.info("covariates %s regressed out on %d training samples (OLS with intercept): %s",
                     ", ".join(covariates), int(tr.sum()),
                     ", ".join(f"{k} = {v:.4g}" for k, v in coef.items()))
            r2 = 1 - np.var(adjusted[tr]) / np.var(y[tr]) if np.var(y[tr]) > 0 else float("nan")
            log.info("covariates explain %.1f%% of the training phenotype variance", 100 * r2)
        write_tsv(table, out["split"])
        os.replace(tmp["distribution"], out["distribution"])
    finally:
        for p in tmp.values():
            if os.path.exists(p):
                os.unlink(p)
    return coef


# ---- imputation -----------------------------------------------------------------------------


def training_rows(samples_path, split_path, n_tensor_rows: int | None = None) -> np.ndarray:
    """Rows of onehot.npy (samples.tsv order) of the training split, sorted.

    ``n_tensor_rows`` (the tensor's row count) gives the rows per sample
    (:func:`seq2pheno.dataset.rows_per_sample`): with two (haplotypes) both rows of each training
    sample are returned. None means one row per sample.
    """
    from .dataset import expand_rows, rows_per_sample

    samples = read_tsv(samples_path)
    split = read_tsv(split_path)
    k = 1 if n_tensor_rows is None else rows_per_sample(int(n_tensor_rows), len(samples))
    row_of = pd.Series(np.arange(len(samples)), index=samples["id"])
    # a split table: its training samples; a table without a split column (kept.tsv): all of them
    ids = split.loc[split["split"] == "train", "id"] if "split" in split.columns else split["id"]
    return np.sort(expand_rows(row_of.loc[ids].to_numpy(dtype=np.int64), k))


def impute_genotypes(onehot_path, missing_path, split_path, samples_path, *, out, log,
                     chunk: int = 512) -> None:
    """Fill missing calls with the training split's allele frequencies -> ``out`` (N x L x 4 .npy).

    Every row (train, valid, test, unphenotyped, removed) is written; the frequencies come from
    the called genotypes of the training rows only (:func:`seq2pheno.vcf.called_frequencies`). With
    a haplotype tensor (two rows per sample) the training rows are both haplotypes of each training
    sample, so the fill is the allele frequency over the called training haplotypes.
    """
    from .vcf import called_frequencies

    x, mask = open_tensor(onehot_path), open_tensor(missing_path)
    if mask.shape != x.shape[:2]:
        raise InputError(missing_path, f"mask shape {mask.shape} does not match the tensor {x.shape}")
    train = training_rows(samples_path, split_path, x.shape[0])
    freq = called_frequencies(x, mask, train, chunk=chunk)
    n_missing = 0
    with tensor_writer(out, x.shape[1:]) as w:
        for s, block in iter_blocks(x, chunk):
            r, c = np.nonzero(mask[s:s + chunk])
            block[r, c] = freq[c]
            n_missing += len(r)
            w.append(block)
    log.info("imputed %d missing calls of %d x %d tensor rows with the allele frequencies of %d "
             "training rows", n_missing, x.shape[0], x.shape[1], len(train))


# ---- predicting new samples ------------------------------------------------------------------


def reference_composition(ref) -> np.ndarray:
    """float32 (L, 4) composition of reference bases (IUPAC split evenly; unknown = 0.25 each)."""
    from .vcf import _IUPAC_TABLE

    first = np.array([(str(r)[:1] or "N") for r in ref])
    comp = _IUPAC_TABLE[np.frombuffer("".join(first).encode("ascii"), np.uint8)].copy()
    comp[comp.sum(axis=1) == 0] = 0.25
    return comp


def training_frequencies(tensor_path, rows) -> np.ndarray:
    """float64 (L, 4): mean composition of ``rows`` of the (imputed) tensor = allele frequencies."""
    x = open_tensor(tensor_path)
    rows = np.asarray(rows)
    total = np.zeros(x.shape[1:], np.float64)
    for s in range(0, len(rows), 512):
        total += np.asarray(x[rows[s:s + 512]], dtype=np.float64).sum(axis=0)
    return total / max(len(rows), 1)


def match_new_samples(features: pd.DataFrame, geno, missing: str, *, frequencies=None,
                      vcf_path="new VCF") -> tuple[np.ndarray, dict]:
    """Tensor (n, L, 4) of new samples on the training columns, and counts.

    features: the training cohort's features.tsv (chrom, pos, ref, alt per column; alt empty at
    sequence-encoding columns without a kept variant). geno: the new VCF read with the cohort's
    encoding and regions. A training variant column is matched by (chrom, pos): its REF must be
    equal and the new ALT bases a subset of the training ALT bases, otherwise InputError names the
    first mismatching site. A training site absent from the new VCF, or a missing call, follows
    ``missing``: ``mean`` -> ``frequencies`` (L x 4, training allele frequencies), ``reference``
    -> the REF base, ``error`` -> InputError naming the first absent site. New-VCF sites that are
    not training columns are ignored. The tensor has ``geno.n_rows`` rows (two per sample, ``2*i``
    and ``2*i + 1``, when ``geno`` was read with haplotypes).
    """
    L = len(features)
    n = geno.n_rows
    chrom = features["chrom"].astype(str).to_numpy()
    pos = features["pos"].to_numpy(dtype=np.int64)
    alt = features["alt"].fillna("").astype(str).to_numpy()
    ref_comp = reference_composition(features["ref"].fillna("N").astype(str))
    if missing == "mean":
        if frequencies is None:
            raise ValueError("missing='mean' needs the training frequencies")
        fill = np.asarray(frequencies, np.float32)
    else:
        fill = ref_comp
    x = np.broadcast_to(fill, (n, L, 4)).copy()
    is_variant = alt != ""
    x[:, ~is_variant] = ref_comp[~is_variant]
    sites = geno.sites
    new_key = {(str(c), int(p)): i for i, (c, p) in enumerate(zip(sites["chrom"], sites["pos"]))}
    comp, mask = geno.tensor()
    absent = []
    n_matched = 0
    for col in np.flatnonzero(is_variant):
        i = new_key.get((chrom[col], int(pos[col])))
        if i is None:
            absent.append(col)
            continue
        s = sites.iloc[i]
        new_alt = set(str(s["alt"]).split(",")) - {""}
        if str(s["ref"]).upper() != str(features["ref"].iloc[col]).upper() or not new_alt <= set(alt[col].split(",")):
            where = f"line {s['line']}" if int(s["line"]) >= 0 else "record"
            raise InputError(vcf_path, f"site {chrom[col]}:{pos[col]} ({where}) has REF/ALT "
                                       f"{s['ref']}/{s['alt']} but the model was trained on "
                                       f"{features['ref'].iloc[col]}/{alt[col]}; the new VCF must be "
                                       "called against the same reference and alleles")
        new_col = int(s["column"])
        called = ~mask[:, new_col]
        x[called, col] = comp[called, new_col]
        n_matched += 1
    if absent and missing == "error":
        c = absent[0]
        raise InputError(vcf_path, f"training site {chrom[c]}:{pos[c]} {features['ref'].iloc[c]}/{alt[c]} is "
                                   f"absent ({len(absent)} of {int(is_variant.sum())} sites absent); "
                                   "the cohort has missing: error")
    counts = {"n_samples": len(geno.samples), "n_rows": n, "n_training_sites": int(is_variant.sum()),
              "n_matched": n_matched, "n_absent": len(absent), "n_missing_calls": int(mask[:, sites["column"].to_numpy()].sum())
              if len(sites) else 0}
    return x, counts


def predict_new(entry: dict, predict_entry: dict, paths: dict, model: str, kind: str | None = None, *,
                out, log) -> None:
    """Score another VCF's samples with a trained cohort's model -> out (id, predicted, rank).

    entry: the training cohort's config; predict_entry: ``{cohort, vcf}``. paths: ``features``,
    ``onehot`` (the tensor the models were trained on), ``samples``, ``split`` (whose training
    samples give the imputation frequencies), ``models`` (the model's artefact on each fold, or
    an ensemble's members on each fold: the prediction is the mean of them all, with their
    SD). With
    ``haplotypes: true`` the new VCF must be phased; each sample's two haplotype rows are
    scored and their predictions averaged, as in evaluate.
    """
    from . import models as registry
    from . import vcf

    missing = entry.get("missing", "mean")
    haplotypes = bool(entry.get("haplotypes"))
    features = read_tsv(paths["features"])
    geno = vcf.read_genotypes(predict_entry["vcf"], entry["fasta"], regions=entry.get("regions"),
                              encoding=entry.get("encoding", "variants"), haplotypes=haplotypes,
                              ref_mismatch=entry.get("ref_mismatch", "error"),
                              non_snv=entry.get("non_snv", "skip"),
                              missing="error" if missing == "error" else "mean", log=log)
    freq = None
    if missing == "mean":
        n_rows = open_tensor(paths["onehot"]).shape[0]
        freq = training_frequencies(paths["onehot"], training_rows(paths["samples"], paths["split"], n_rows))
    x, counts = match_new_samples(features, geno, missing, frequencies=freq, vcf_path=predict_entry["vcf"])
    log.info("%d new samples; %d of %d training sites found, %d absent and %d missing calls filled (%s)",
             counts["n_samples"], counts["n_matched"], counts["n_training_sites"], counts["n_absent"],
             counts["n_missing_calls"], missing)
    k = 2 if haplotypes else 1
    rows = registry.Rows(x, np.arange(len(x)), k=k)
    preds = []
    files = [paths["models"]] if isinstance(paths["models"], (str, os.PathLike)) else list(paths["models"])
    for model_path in files:
        trained = registry.load_trained(model_path, kind)
        preds.append(registry.predict(trained, rows))
    preds = np.vstack(preds)
    table = pd.DataFrame({"id": geno.samples, "predicted": preds.mean(axis=0)})
    if len(preds) > 1:
        table["sd"] = preds.std(axis=0, ddof=1)
    table = table.sort_values("predicted", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    write_tsv(table, out)
    log.info("%s: scored %d samples with %d fold model(s) (top: %s)", model, len(table), len(files),
             ", ".join(table["id"].head(3)))
