"""File checks: that a VCF/BCF is what its extension says, and the header of a text VCF.

:func:`check_vcf_file` tells plain VCF, bgzipped VCF, plain gzip and BCF apart from the bytes
and catches a truncated BGZF file (no end-of-file block) before htslib reads it.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from ..errors import InputError, require_file


_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


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
