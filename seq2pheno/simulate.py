"""Simulated cohorts: the reference notebook's generative model of sequence and phenotype.

A random reference sequence of ``length`` bases; 10-25 causal loci, each with one additive
effect per nucleotide drawn from U(-4, 4). Each sequence is the reference with up to 10 % of
its positions mutated (the count drawn per sequence), 45 % of the mutations at causal loci
and the rest elsewhere, the new base always differing from the reference one. Writing e_k for
the effect of a sequence's nucleotide at causal locus k, the genetic value is

    G = sum_k e_k + c1 e_a e_b + c2 e_c e_d + c3 e_e / d(e_f) + c4 e_g e_h e_i

with coefficients c1..c4 from U(-1.5, 1.5) and nine distinct causal loci a..i. The quotient
is made numerically safe by its denominator d(x) = sign(x) max(|x|, 1) (sign(0) = +1): the
quotient of the two effects where |e_f| >= 1, bounded by |e_e| <= 4 where it is not.
The phenotype is Y = G + E with E ~ U(-env, env), or, when ``h2`` is given,
E ~ Normal(0, Var(G) (1 - h2) / h2) so that the broad-sense heritability is about ``h2``.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

MIN_LENGTH = 20
CAUSAL_RANGE = (10, 25)          # number of causal loci, both ends included
EFFECT_RANGE = 4.0               # per-nucleotide effects ~ U(-4, 4)
COEF_RANGE = 1.5                 # epistasis coefficients ~ U(-1.5, 1.5)
MAX_MUTATED_FRACTION = 0.10      # up to 10 % of positions mutated per sequence
CAUSAL_MUTATION_FRACTION = 0.45  # share of a sequence's mutations placed at causal loci
_CHUNK = 8192                    # sequences generated at a time (fixed: part of the random stream)


def safe_denominator(x: np.ndarray) -> np.ndarray:
    """The quotient term's denominator: sign(x) * max(|x|, 1), with sign(0) = +1 (never below 1 in size)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < 0, -1.0, 1.0) * np.maximum(np.abs(x), 1.0)


def genetic_values(codes: np.ndarray, causal: np.ndarray, effects: np.ndarray,
                   epistasis: list[dict]) -> np.ndarray:
    """Genetic values G (float64, shape N) of base codes (uint8 N x L, A=0 C=1 G=2 T=3).

    ``causal``: the K causal positions; ``effects``: K x 4 effects (rows in the order of
    ``causal``); ``epistasis``: terms as in the truth dict (``type`` product | quotient |
    product3, ``loci`` positions, ``coefficient``).
    """
    causal = np.asarray(causal, dtype=np.int64)
    effects = np.asarray(effects, dtype=np.float64)
    e = effects[np.arange(len(causal)), codes[:, causal]]      # N x K effect of each allele
    col = {int(p): k for k, p in enumerate(causal)}
    g = e.sum(axis=1)
    for term in epistasis:
        x = [e[:, col[int(p)]] for p in term["loci"]]
        if term["type"] == "product":
            v = x[0] * x[1]
        elif term["type"] == "quotient":
            v = x[0] / safe_denominator(x[1])
        elif term["type"] == "product3":
            v = x[0] * x[1] * x[2]
        else:
            raise ValueError(f"unknown epistasis term {term['type']!r}")
        g = g + term["coefficient"] * v
    return g


def _choose(rng: np.random.Generator, counts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row i, ``counts[i]`` distinct columns out of ``width``, uniformly; returns (rows, cols)."""
    kmax = int(counts.max(initial=0))
    if kmax == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    keys = rng.random((len(counts), width), dtype=np.float32)
    if kmax < width:
        part = np.argpartition(keys, kmax - 1, axis=1)[:, :kmax]   # the kmax smallest keys
    else:
        part = np.broadcast_to(np.arange(width), keys.shape)
    order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)
    part = np.take_along_axis(part, order, axis=1)                  # sorted by key: random order
    rows, ranks = np.nonzero(np.arange(kmax)[None, :] < counts[:, None])
    return rows, part[rows, ranks]


def simulate_blocks(n: int, length: int, on_block, env: float = 2.0, seed: int = 0,
                    h2: float | None = None) -> tuple[np.ndarray, dict]:
    """Simulate ``n`` sequences block by block; return (phenotypes, truth) as :func:`simulate_cohort`.

    ``on_block(codes)`` receives the base codes (uint8, rows x ``length``, A=0 C=1 G=2 T=3) of
    at most 8,192 sequences at a time, in order, and may not keep them: only the causal
    columns are kept here (n x K bytes), so memory does not grow with ``n * length``. The
    random stream (and so every output) is that of :func:`simulate_cohort` with the same
    arguments.
    """
    n, length = int(n), int(length)
    if n < 1:
        raise InputError(None, f"simulate: n = {n}; expected at least 1 sequence")
    if length < MIN_LENGTH:
        raise InputError(None, f"simulate: length = {length}; expected at least {MIN_LENGTH} bases")
    if h2 is not None and not 0.0 < float(h2) <= 1.0:
        raise InputError(None, f"simulate: h2 = {h2}; expected a value in (0, 1]")
    if h2 is None and not float(env) >= 0.0:
        raise InputError(None, f"simulate: env = {env}; expected a value >= 0")

    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 4, size=length, dtype=np.uint8)
    n_causal = int(rng.integers(CAUSAL_RANGE[0], CAUSAL_RANGE[1], endpoint=True))
    n_causal = min(n_causal, length // 2)
    causal = np.sort(rng.choice(length, size=n_causal, replace=False))
    effects = rng.uniform(-EFFECT_RANGE, EFFECT_RANGE, size=(n_causal, 4))
    loci = [int(p) for p in rng.choice(causal, size=9, replace=False)]
    coefs = rng.uniform(-COEF_RANGE, COEF_RANGE, size=4)
    epistasis = [
        {"type": "product", "loci": loci[0:2], "coefficient": float(coefs[0]),
         "formula": "c * e_a * e_b"},
        {"type": "product", "loci": loci[2:4], "coefficient": float(coefs[1]),
         "formula": "c * e_a * e_b"},
        {"type": "quotient", "loci": loci[4:6], "coefficient": float(coefs[2]),
         "formula": "c * e_a / (sign(e_b) * max(|e_b|, 1)), sign(0) = +1"},
        {"type": "product3", "loci": loci[6:9], "coefficient": float(coefs[3]),
         "formula": "c * e_a * e_b * e_c"},
    ]

    noncausal = np.setdiff1d(np.arange(length), causal)
    max_mut = int(np.floor(MAX_MUTATED_FRACTION * length))
    causal_codes = np.empty((n, n_causal), dtype=np.uint8)   # all G needs
    block = np.empty((min(_CHUNK, n), length), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = rng.integers(0, max_mut, size=stop - start, endpoint=True)
        k_causal = np.minimum(np.rint(CAUSAL_MUTATION_FRACTION * m).astype(np.int64), n_causal)
        k_other = np.minimum(m - k_causal, len(noncausal))
        codes = block[:stop - start]
        codes[:] = reference
        for counts, positions in ((k_causal, causal), (k_other, noncausal)):
            rows, cols = _choose(rng, counts, len(positions))
            pos = positions[cols]
            shift = rng.integers(1, 4, size=len(rows), dtype=np.uint8)
            codes[rows, pos] = (reference[pos] + shift) % 4
        causal_codes[start:stop] = codes[:, causal]
        on_block(codes)
    del block

    # G from the causal columns alone: the same effects matrix, so the same values
    at = {int(p): k for k, p in enumerate(causal)}
    local = [{**term, "loci": [at[int(p)] for p in term["loci"]]} for term in epistasis]
    g = genetic_values(causal_codes, np.arange(n_causal), effects, local)
    del causal_codes
    if h2 is not None:
        sd = float(np.sqrt(g.var() * (1.0 - float(h2)) / float(h2)))
        y = g + rng.normal(0.0, sd, size=n)
    else:
        y = g + rng.uniform(-float(env), float(env), size=n)
    var_y = float(y.var())
    heritability = float(g.var() / var_y) if var_y > 0 else None

    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    pairs: set[tuple[int, int]] = set()
    for term in epistasis:
        ls = term["loci"]
        for i in range(len(ls)):
            for j in range(i + 1, len(ls)):
                pairs.add((min(ls[i], ls[j]), max(ls[i], ls[j])))
    truth = {
        "n": n,
        "length": length,
        "seed": int(seed) if seed is not None else None,
        "env": float(env),
        "h2": None if h2 is None else float(h2),
        "noise": "uniform(-env, env)" if h2 is None else f"normal(0, sd={sd!r})",
        "causal": [int(p) for p in causal],
        "epistatic_pairs": [list(p) for p in sorted(pairs)],
        "H2": heritability,
        "reference": letters[reference].tobytes().decode("ascii"),
        "effects": {str(int(p)): [float(v) for v in effects[k]] for k, p in enumerate(causal)},
        "epistasis": epistasis,
    }
    return y.astype(np.float64), truth


def simulate_cohort(n: int, length: int, env: float = 2.0, seed: int = 0,
                    h2: float | None = None) -> tuple[list[str], np.ndarray, dict]:
    """Simulate ``n`` sequences of ``length`` bases and their phenotypes.

    Returns (sequences: list of n ACGT strings, phenotypes: float64 shape n, truth: dict).
    ``env`` is the half-width of the uniform environmental effect; ``h2`` (0 < h2 <= 1), when
    given, replaces it by Gaussian noise of variance Var(G) (1 - h2) / h2. The truth dict is
    JSON-serialisable: ``causal`` (sorted 0-based positions), ``epistatic_pairs`` ([a, b],
    a < b), ``H2`` = Var(G) / Var(Y) on the generated data (population variances; None when
    Var(Y) = 0), ``reference``, ``effects`` ({"position": [eA, eC, eG, eT]}, keys are strings as
    in JSON), ``epistasis`` (terms with ``type``, ``loci``, ``coefficient``), ``env``, ``h2``,
    ``seed``, ``n``, ``length``. The same arguments give the same output. The sequences are
    all in memory: :func:`simulate_blocks` hands them over block by block.
    """
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    sequences: list[str] = []

    def keep(codes: np.ndarray) -> None:
        buf = np.take(letters, codes).tobytes()
        width = codes.shape[1]
        sequences.extend(buf[i:i + width].decode("ascii") for i in range(0, len(buf), width))

    y, truth = simulate_blocks(n, length, keep, env=env, seed=seed, h2=h2)
    return sequences, y, truth


def simulate_planted_motif(n: int, length: int, motif_pfm, effect: float = 1.0,
                           n_per_sequence: float = 1.0, noise_sd: float = 1.0, seed: int = 0,
                           *, both_strands: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """Random sequences with copies of one motif planted in them; each copy adds ``effect``.

    Background: i.i.d. uniform bases. Each sequence gets k ~ Poisson(``n_per_sequence``)
    copies (at most ``length // w`` for a w x 4 ``motif_pfm``, rows A, C, G, T), placed
    without overlap at uniformly random positions, each copy's bases drawn from the PFM's
    rows, on a random strand when ``both_strands`` (the reverse complement of the drawn
    site), else the forward strand. Phenotype ``y = effect * k + Normal(0, noise_sd)``.

    Returns (one-hot float32 n x length x 4, y float64 n, truth dict): ``positions`` (per
    sequence, the sorted 0-based start of each copy), ``strands`` (per sequence, ``+`` / ``-``
    of each copy), ``copies`` (k per sequence), ``motif_pfm`` (as rows of floats),
    ``width``, ``effect``, ``n_per_sequence``, ``noise_sd``, ``seed``. Same arguments, same
    output.
    """
    n, length = int(n), int(length)
    pfm = np.asarray(motif_pfm, dtype=np.float64)
    if n < 1:
        raise InputError(None, f"simulate_planted_motif: n = {n}; expected at least 1")
    if pfm.ndim != 2 or pfm.shape[1] != 4 or len(pfm) < 1 or (pfm < 0).any():
        raise InputError(None, "simulate_planted_motif: motif_pfm must be a w x 4 matrix "
                               f"of non-negative frequencies, got shape {pfm.shape}")
    width = len(pfm)
    if length < width:
        raise InputError(None, f"simulate_planted_motif: length = {length} is shorter than "
                               f"the motif ({width})")
    if float(n_per_sequence) < 0 or float(noise_sd) < 0:
        raise InputError(None, "simulate_planted_motif: n_per_sequence and noise_sd must be >= 0")
    pfm = pfm / pfm.sum(axis=1, keepdims=True)
    cum = np.cumsum(pfm, axis=1)
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    copies = np.minimum(rng.poisson(float(n_per_sequence), size=n), length // width)
    positions, strands = [], []
    for i in range(n):
        k = int(copies[i])
        # k distinct sorted slots in [0, length - k*w + k), spread by w - 1: no overlap
        slots = np.sort(rng.choice(length - k * width + k, size=k, replace=False))
        starts = slots + np.arange(k) * (width - 1)
        site = (rng.random((k, width, 1)) > cum[None, :, :]).sum(axis=2).astype(np.uint8)
        site = np.minimum(site, 3)
        minus = (rng.random(k) < 0.5) if both_strands else np.zeros(k, dtype=bool)
        for j in range(k):
            s = site[j][::-1] ^ 3 if minus[j] else site[j]    # complement: A<->T, C<->G
            codes[i, starts[j]:starts[j] + width] = s
        positions.append([int(s) for s in starts])
        strands.append(["-" if m else "+" for m in minus])
    y = float(effect) * copies + rng.normal(0.0, float(noise_sd), size=n)
    onehot = np.eye(4, dtype=np.float32)[codes]
    truth = {"positions": positions, "strands": strands,
             "copies": [int(c) for c in copies], "motif_pfm": pfm.tolist(), "width": width,
             "effect": float(effect), "n_per_sequence": float(n_per_sequence),
             "noise_sd": float(noise_sd), "seed": int(seed) if seed is not None else None}
    return onehot, y.astype(np.float64), truth
