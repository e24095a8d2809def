"""Naming motifs: JASPAR matching (memelite Tomtom), TF-MoDISco on ISM, the motif table."""

import numpy as np
import pandas as pd
import pytest

from seq2pheno import motifs
from seq2pheno.simulate import simulate_planted_motif

CTCF = "MA0139"      # JASPAR2024 MA0139.2, CTCF, 15 bp


def _sample_sites(pfm, n, rng):
    """Counts (w x 4) of ``n`` sites drawn from ``pfm``: a filter PWM made of its hits."""
    codes = (rng.random((n, len(pfm), 1)) > np.cumsum(pfm, axis=1)[None]).sum(axis=2)
    return np.eye(4)[np.minimum(codes, 3)].sum(axis=0)


def _planted_mask(truth, length):
    mask = np.zeros((len(truth["positions"]), length))
    for i, starts in enumerate(truth["positions"]):
        for s in starts:
            mask[i, s:s + truth["width"]] = 1.0
    return mask


def test_jaspar_database_is_bundled_and_cached():
    db = motifs.jaspar_motifs()
    assert db is motifs.jaspar_motifs()                      # read once
    assert len(db) == 879                                    # JASPAR2024 CORE vertebrates
    ctcf = motifs.jaspar_motif(CTCF)
    assert (ctcf.matrix_id, ctcf.name) == ("MA0139.2", "CTCF")
    assert ctcf.pfm.shape == (15, 4)
    np.testing.assert_allclose(ctcf.pfm.sum(axis=1), 1.0)
    assert ctcf.pfm.min() > 0                                # pseudocounts
    with pytest.raises(KeyError):
        motifs.jaspar_motif("MA9999")
    with pytest.raises(ValueError, match="unknown JASPAR release"):
        motifs.jaspar_motifs("JASPAR1999")


def test_benjamini_hochberg():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(motifs._bh(p), [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    np.testing.assert_allclose(motifs._bh(np.array([0.001, 0.2])), [0.002, 0.2])


def test_filter_from_a_known_motif_is_named():
    rng = np.random.default_rng(0)
    ctcf = motifs.jaspar_motif(CTCF)
    counts = _sample_sites(ctcf.pfm[1:14], 200, rng)          # a 13-tap filter's hits
    found = motifs.match_motifs([("forward", counts), ("reverse", counts[::-1, ::-1])],
                                source="filter")
    assert list(found.columns) == motifs.MATCH_COLUMNS
    assert (found["q_value"] <= 0.05).all()
    for name in ("forward", "reverse"):                     # either strand
        rows = found[found["motif"] == name]
        assert 1 <= len(rows) <= 3
        assert rows["jaspar_id"].str.startswith(CTCF).any()
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
        assert rows["q_value"].is_monotonic_increasing


def test_random_pfms_get_no_significant_match():
    rng = np.random.default_rng(0)
    queries = [(f"hits_{k}", np.eye(4)[rng.integers(0, 4, size=(30, 13))].sum(axis=0))
               for k in range(20)]                           # filters firing on noise
    queries += [(f"random_{k}", 0.5 * rng.dirichlet(np.ones(4), 12) + 0.125)
                for k in range(10)]
    queries.append(("flat", np.full((10, 4), 0.25)))        # counts for nothing
    found = motifs.match_motifs(queries)
    assert found.empty and list(found.columns) == motifs.MATCH_COLUMNS
    loose = motifs.match_motifs(queries, q_threshold=1.0, top=1)
    assert len(loose) == len(queries) and loose["q_value"].min() > 0.05


def test_hypothetical_contributions_from_ism():
    rng = np.random.default_rng(1)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(3, 8))]
    deltas = rng.normal(size=x.shape) * (1 - x)              # 0 at the reference base
    h = motifs.hypothetical_contributions(deltas)
    assert h.dtype == np.float32 and h.shape == x.shape
    np.testing.assert_allclose(h.mean(axis=2), 0.0, atol=1e-6)
    np.testing.assert_allclose((x * h).sum(axis=2), -deltas.mean(axis=2), rtol=1e-5)


def test_simulate_planted_motif():
    ctcf = motifs.jaspar_motif(CTCF)
    x, y, truth = simulate_planted_motif(500, 120, ctcf.pfm, effect=2.0, n_per_sequence=1.5,
                                         noise_sd=0.1, seed=3)
    x2, y2, _ = simulate_planted_motif(500, 120, ctcf.pfm, effect=2.0, n_per_sequence=1.5,
                                       noise_sd=0.1, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.shape == (500, 120, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x.sum(axis=2), 1.0)
    copies = np.array(truth["copies"])
    assert 1.2 < copies.mean() < 1.8
    assert [len(p) for p in truth["positions"]] == truth["copies"]
    assert np.abs(y - 2.0 * copies).max() < 0.6              # additive per copy + noise
    w = truth["width"]
    forward, reverse = np.zeros((w, 4)), np.zeros((w, 4))
    for i, (starts, strands) in enumerate(zip(truth["positions"], truth["strands"])):
        assert all(b - a >= w for a, b in zip(starts, starts[1:]))   # no overlap
        assert all(0 <= s <= 120 - w for s in starts)
        for s, strand in zip(starts, strands):
            site = x[i, s:s + w]
            if strand == "+":
                forward += site
            else:
                reverse += site[::-1, ::-1]                  # back to the forward strand
    assert forward.sum() > 0 and reverse.sum() > 0           # both strands
    for counts in (forward, reverse):
        pfm = counts / counts.sum(axis=1, keepdims=True)
        assert np.abs(pfm - ctcf.pfm).max() < 0.15           # sampled from the PFM


@pytest.fixture(scope="module")
def planted():
    """300 x 200 bp sequences with CTCF planted, and ISM-like deltas: mutating a planted
    base costs ``effect``, elsewhere only noise (no network needed)."""
    ctcf = motifs.jaspar_motif(CTCF)
    x, y, truth = simulate_planted_motif(300, 200, ctcf.pfm, effect=1.0, n_per_sequence=1.5,
                                         noise_sd=0.5, seed=1)
    mask = _planted_mask(truth, x.shape[1])
    rng = np.random.default_rng(0)
    deltas = (-(1 - x) * mask[:, :, None] + rng.normal(0, 0.05, x.shape) * (1 - x))
    return x, deltas, truth


@pytest.fixture(scope="module")
def modisco_result(planted):
    x, deltas, _ = planted
    return motifs.run_modisco(x, deltas)


def test_modisco_finds_the_planted_motif(modisco_result):
    assert modisco_result.reason is None and len(modisco_result) >= 1
    best = modisco_result[0]
    assert best["name"] == "pos_pattern_0" and best["metacluster"] == "pos"
    assert best["n_seqlets"] >= 100
    w = best["pfm"].shape[0]
    assert best["pfm"].shape == best["cwm"].shape == best["hcwm"].shape == (w, 4)
    a, b = best["trimmed"]
    assert 0 <= a < b <= w and b - a >= 10                   # the 15-bp site, not the flanks
    found = motifs.match_motifs([(best["name"], best["pfm"][a:b])], source="modisco")
    assert found["jaspar_id"].str.startswith(CTCF).any()
    assert (found["q_value"] <= 0.05).all()


def test_modisco_skips_with_a_reason(planted):
    x, deltas, _ = planted
    few = motifs.run_modisco(x[:5], deltas[:5])
    assert few == [] and "5 sequences" in few.reason
    zero = motifs.run_modisco(x[:50], np.zeros_like(deltas[:50]))
    assert zero == [] and "all zero" in zero.reason
    wide = motifs.run_modisco(x[:50], deltas[:50], window=500)
    assert wide == [] and "longer than the sequences" in wide.reason
    with pytest.raises(ValueError, match="N x L x 4"):
        motifs.run_modisco(x[:50], deltas[:40])


def test_modisco_skips_noise(planted):
    x, _, _ = planted
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 0.05, x.shape) * (1 - x)
    result = motifs.run_modisco(x[:60], noise[:60])
    assert result == [] and "seqlets" in result.reason


def test_motif_table(modisco_result):
    rng = np.random.default_rng(2)
    ctcf = motifs.jaspar_motif(CTCF)
    pwms = [
        {"filter": 0, "pfm": _sample_sites(ctcf.pfm[:13], 200, rng) / 200, "informative": True},
        {"filter": 1, "pfm": np.full((13, 4), 0.25), "informative": True},   # flat
        {"filter": 2, "pfm": _sample_sites(ctcf.pfm[2:15], 200, rng) / 200,
         "informative": False},                              # not matched
    ]
    unmatched = {"name": "neg_pattern_0", "pfm": np.full((12, 4), 0.25),
                 "cwm": np.zeros((12, 4)), "n_seqlets": 30, "trimmed": (0, 12)}
    table = motifs.motif_table(pwms, list(modisco_result) + [unmatched])
    assert list(table.columns) == motifs.TABLE_COLUMNS + ["n_seqlets"]
    filt = table[table["source"] == "filter"]
    assert set(filt["motif"]) == {"filter_0"}
    assert filt["jaspar_id"].str.startswith(CTCF).any()
    assert filt["rank"].tolist() == list(range(1, len(filt) + 1))
    assert filt["n_seqlets"].isna().all()
    mod = table[table["source"] == "modisco"]
    top = mod[mod["rank"] == 1].iloc[0]
    assert top["motif"] == "pos_pattern_0" and top["jaspar_name"] == "CTCF"
    assert top["n_seqlets"] == modisco_result[0]["n_seqlets"]
    row = mod[mod["motif"] == "neg_pattern_0"]
    assert len(row) == 1 and pd.isna(row["jaspar_id"].iloc[0]) and pd.isna(row["rank"].iloc[0])
    assert (table["q_value"].dropna() <= 0.05).all()
    empty = motifs.motif_table([], [])
    assert empty.empty and list(empty.columns) == motifs.TABLE_COLUMNS + ["n_seqlets"]
