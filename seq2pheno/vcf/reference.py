"""The reference FASTA: :class:`Reference`, read through :class:`pysam.FastaFile` when the FASTA
is indexed (.fai), else loaded whole through :class:`pysam.FastxFile`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError, require_file


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
