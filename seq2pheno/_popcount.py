"""The kinship kernels, compiled with numba (for :mod:`seq2pheno.kinship`; imported on first use,
so numba loads only where kinship is computed): the first pass's genotype counts, the packing
of genotypes into bits, and the pairwise popcount products of the packed bits."""

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


@njit(nogil=True, cache=True)
def genotype_counts(block, n0, n1, n2, het, miss):
    """One pass over an int8 (rows, M) block of dosages (0/1/2, negative = missing): adds each
    variant's genotype counts to int64 (M,) n0, n1, n2 and writes each row's heterozygous and
    missing calls to int64 (rows,) het, miss (branch-free, so the inner loop vectorises)."""
    rows, m = block.shape
    for r in range(rows):
        h = 0
        x = 0
        for c in range(m):
            g = block[r, c]
            is0 = g == 0
            is1 = g == 1
            n0[c] += is0
            n1[c] += is1
            n2[c] += g == 2
            h += is1
            x += g < 0
        het[r] = h
        miss[r] = x


@njit(nogil=True, cache=True)
def pack_calls(d, het, hom, alt):
    """Packs int8 (rows, K) dosages into uint64 (rows, ceil(K / 64)) bit sets, bit b of word w =
    variant 64 w + b (zero padded): het (d == 1), hom (d == 0 or 2: a called homozygote) and
    alt (d == 2); one pass, where numpy's three comparisons and packbits took five."""
    rows, k = d.shape
    for r in range(rows):
        for w in range(het.shape[1]):
            h = uint64(0)
            o = uint64(0)
            a = uint64(0)
            base = w * 64
            for b in range(min(64, k - base)):
                g = d[r, base + b]
                s = uint64(b)
                h |= uint64(g == 1) << s
                o |= uint64((g == 0) | (g == 2)) << s
                a |= uint64(g == 2) << s
            het[r, w] = h
            hom[r, w] = o
            alt[r, w] = a
