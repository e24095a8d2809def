"""plink2-style QC filters on a whole cohort (after reading, or after assembling the chunks):
:func:`filter_variants_samples` (--mind, then --geno, then --maf).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from .data import GenotypeData


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
