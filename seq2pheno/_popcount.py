"""Pairwise popcount products of packed genotype bits, compiled with numba (for
:mod:`seq2pheno.kinship`; imported on first use, so numba loads only where kinship is computed)."""

from numba import njit, uint64

_M1, _M2, _M4 = uint64(0x5555555555555555), uint64(0x3333333333333333), uint64(0x0F0F0F0F0F0F0F0F)
_H01 = uint64(0x0101010101010101)


@njit(nogil=True, cache=True, inline="always")
def popcount(x):
    """Set bits of a uint64 (the SWAR idiom, which LLVM compiles to popcnt, or to AVX2 shuffles
    in a vectorised loop)."""
    x = x - ((x >> uint64(1)) & _M1)
    x = (x & _M2) + ((x >> uint64(2)) & _M2)
    x = (x + (x >> uint64(4))) & _M4
    return (x * _H01) >> uint64(56)


@njit(nogil=True, cache=True)
def _row_pair(h1, o1, a1, h2, o2, a2):
    both_het = uint64(0)
    opposite = uint64(0)
    for w in range(h1.shape[0]):  # one row each: contiguous, so the loop vectorises
        both_het += popcount(h1[w] & h2[w])
        opposite += popcount(o1[w] & o2[w] & (a1[w] ^ a2[w]))
    return both_het, opposite


@njit(nogil=True, cache=True)
def packed_products(h1, o1, a1, h2, o2, a2, hethet, ibs0_twice, same):
    """hethet[i, j] += |h1_i & h2_j| and ibs0_twice[i, j] += 2 |o1_i & o2_j & (a1_i ^ a2_j)| over
    the words of uint64 (rows, words) bit sets (h: het, o: homozygous, a: homozygous ALT): the
    sites where both are heterozygous, and twice those with opposite homozygotes; hethet and
    ibs0_twice float64 (rows1, rows2). ``same``: the two sides are one block (a diagonal tile):
    the products are symmetric, so each pair is counted once and written to both."""
    n1 = h1.shape[0]
    n2 = h2.shape[0]
    for i in range(n1):
        for j in range(i + 1 if same else n2):
            e, c = _row_pair(h1[i], o1[i], a1[i], h2[j], o2[j], a2[j])
            hethet[i, j] += float(e)
            ibs0_twice[i, j] += 2.0 * float(c)
            if same and j < i:
                hethet[j, i] += float(e)
                ibs0_twice[j, i] += 2.0 * float(c)


@njit(nogil=True, cache=True)
def missing_het(rows, cols, het_bits, out):
    """out[r, i] += het bit ``c`` of row i of ``het_bits`` (uint64 (rows_i, words)), for each
    missing call (r, c) of the other side (int32 arrays rows, cols; out float64 (rows_r, rows_i))."""
    n = het_bits.shape[0]
    for e in range(rows.shape[0]):
        r = rows[e]
        w = cols[e] >> 6
        b = uint64(cols[e] & 63)
        for i in range(n):
            out[r, i] += float((het_bits[i, w] >> b) & uint64(1))
