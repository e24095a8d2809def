"""The tensor alphabet: channels A, C, G, T and the composition of every IUPAC code over them.

``CHANNELS`` orders the four channels of every tensor; ``_BASE_INDEX`` maps a base to its
channel; ``_IUPAC_TABLE`` (float32, 256 x 4, indexed by byte) gives the composition of each
IUPAC code, upper or lower case (``N`` = 0.25 in each channel, other codes split evenly over
their bases; any other byte is all-zero).
"""

from __future__ import annotations

import numpy as np


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
