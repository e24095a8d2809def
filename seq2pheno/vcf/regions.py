"""Regions and sample lists: :func:`parse_regions` (a BED file or ``chrom:start-end`` strings ->
0-based half-open intervals, checked against the reference) and :func:`read_id_list`.
"""

from __future__ import annotations

import os
import re

from ..errors import InputError, require_file
from .reference import Reference


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
