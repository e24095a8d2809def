"""The phenotype join: :func:`join_phenotypes` matches a phenotype table (id, phenotype,
covariates) to the VCF samples.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, require_file


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
