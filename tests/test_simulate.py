"""Tests for seq2pheno.simulate: truth agrees with the generated data; reproducibility; h2 option."""

import json

import numpy as np
import pytest

from seq2pheno.errors import InputError
from seq2pheno.simulate import simulate_blocks, simulate_cohort

BASE = {"A": 0, "C": 1, "G": 2, "T": 3}


def _recompute_g(seqs, truth):
    """G from the truth dict and the sequences alone (independent of the module's code)."""
    def e(s, pos):
        return truth["effects"][str(pos)][BASE[s[pos]]]

    g = []
    for s in seqs:
        v = sum(e(s, p) for p in truth["causal"])
        for term in truth["epistasis"]:
            x = [e(s, p) for p in term["loci"]]
            if term["type"] == "product":
                t = x[0] * x[1]
            elif term["type"] == "quotient":
                d = x[1] if abs(x[1]) >= 1 else (-1.0 if x[1] < 0 else 1.0)
                t = x[0] / d
            else:
                assert term["type"] == "product3"
                t = x[0] * x[1] * x[2]
            v += term["coefficient"] * t
        g.append(v)
    return np.array(g)


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(400, 60, env=2.0, seed=7)


def test_shapes_types_and_json(cohort):
    seqs, y, truth = cohort
    assert len(seqs) == 400 and all(len(s) == 60 and set(s) <= set("ACGT") for s in seqs)
    assert y.dtype == np.float64 and y.shape == (400,)
    assert json.loads(json.dumps(truth)) == truth
    assert truth["n"] == 400 and truth["length"] == 60 and truth["seed"] == 7 and truth["env"] == 2.0
    assert len(truth["reference"]) == 60


def test_truth_structure(cohort):
    _, _, truth = cohort
    causal = truth["causal"]
    assert causal == sorted(causal) and 10 <= len(causal) <= 25 and len(set(causal)) == len(causal)
    assert sorted(int(k) for k in truth["effects"]) == causal
    assert all(len(v) == 4 and all(-4 <= x <= 4 for x in v) for v in truth["effects"].values())
    types = [t["type"] for t in truth["epistasis"]]
    assert sorted(types) == ["product", "product", "product3", "quotient"]
    loci = [p for t in truth["epistasis"] for p in t["loci"]]
    assert len(set(loci)) == 9 and set(loci) <= set(causal)
    assert all(-1.5 <= t["coefficient"] <= 1.5 for t in truth["epistasis"])
    pairs = truth["epistatic_pairs"]
    assert len(pairs) == 6 and all(a < b for a, b in pairs)
    expected = set()
    for t in truth["epistasis"]:
        ls = t["loci"]
        expected |= {tuple(sorted((ls[i], ls[j]))) for i in range(len(ls)) for j in range(i + 1, len(ls))}
    assert {tuple(p) for p in pairs} == expected


def test_h2_matches_recomputed_variance_ratio(cohort):
    seqs, y, truth = cohort
    g = _recompute_g(seqs, truth)
    assert truth["H2"] == pytest.approx(g.var() / y.var(), rel=1e-9)
    e = y - g
    assert np.all(np.abs(e) <= 2.0 + 1e-9)  # E ~ U(-env, env)
    assert e.std() > 0.5


def test_mutations_enriched_at_causal_loci():
    seqs, _, truth = simulate_cohort(300, 300, seed=5)
    ref = np.frombuffer(truth["reference"].encode(), dtype=np.uint8)
    codes = np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(len(seqs), -1)
    rate = (codes != ref).mean(axis=0)
    causal = np.zeros(len(ref), bool)
    causal[truth["causal"]] = True
    assert rate[causal].mean() > 3 * rate[~causal].mean()
    assert rate[~causal].mean() > 0
    per_seq = (codes != ref).sum(axis=1)
    assert per_seq.max() <= 30 and per_seq.max() >= 20  # up to 10 % of L = 300
    # 45 % of each sequence's mutations at causal loci (rounded)
    at_causal = (codes[:, causal] != ref[causal]).sum(axis=1)
    np.testing.assert_array_equal(at_causal, np.rint(0.45 * per_seq))


def test_reproducible_and_seed_dependent():
    a = simulate_cohort(50, 40, seed=3)
    b = simulate_cohort(50, 40, seed=3)
    c = simulate_cohort(50, 40, seed=4)
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert a[0] != c[0]


def test_h2_option_gives_requested_heritability():
    seqs, y, truth = simulate_cohort(5000, 100, seed=11, h2=0.6)
    assert truth["H2"] == pytest.approx(0.6, abs=0.04)
    assert truth["h2"] == 0.6


def test_zero_env_gives_h2_one():
    _, _, truth = simulate_cohort(100, 30, env=0.0, seed=1)
    assert truth["H2"] == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [dict(n=0, length=100), dict(n=10, length=5),
                                    dict(n=10, length=100, h2=1.5), dict(n=10, length=100, env=-1)])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        simulate_cohort(**kwargs)


@pytest.mark.parametrize("n, h2", [(1, None), (8192, None), (9000, 0.5)])
def test_blocks_are_the_cohort_in_pieces(n, h2):
    """simulate_blocks hands over the sequences of simulate_cohort, in blocks of at most 8,192,
    and returns the same phenotypes and truth (the random stream is the same)."""
    seqs, y, truth = simulate_cohort(n, 40, seed=6, h2=h2)
    blocks = []
    y2, truth2 = simulate_blocks(n, 40, lambda codes: blocks.append(codes.copy()), seed=6, h2=h2)
    assert all(len(b) <= 8192 for b in blocks) and sum(map(len, blocks)) == n
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    joined = np.concatenate(blocks)
    assert letters[joined].tobytes().decode() == "".join(seqs)
    np.testing.assert_array_equal(y2, y)
    assert truth2 == truth
