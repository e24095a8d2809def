"""k-mer counts and the kmer_ridge model kind."""

import numpy as np
import pytest

from seq2pheno import kmers
from seq2pheno.models import KINDS, Rows, load_trained, resolve_spec
from seq2pheno.models import kmer_ridge as KR


def encode(seqs):
    eye = {"A": [1, 0, 0, 0], "C": [0, 1, 0, 0], "G": [0, 0, 1, 0], "T": [0, 0, 0, 1],
           "N": [0.25] * 4}
    return np.array([[eye[c] for c in s] for s in seqs], dtype=np.float32)


def as_dict(counts, ks, strand):
    return {n: float(c) for n, c in zip(kmers.kmer_names(ks, strand), counts) if c}


def test_counts_of_a_hand_made_sequence_on_each_strand():
    x = encode(["AACGT"])
    fwd = kmers.kmer_counts(x, [1, 2], strand="forward")[0]
    assert as_dict(fwd, [1, 2], "forward") == {
        "A": 2, "C": 1, "G": 1, "T": 1, "AA": 1, "AC": 1, "CG": 1, "GT": 1}
    # reverse complement ACGTT: A1 C1 G1 T2, AC CG GT TT
    both = kmers.kmer_counts(x, [1, 2], strand="both")[0]
    assert as_dict(both, [1, 2], "both") == {
        "A": 3, "C": 2, "G": 2, "T": 3, "AA": 1, "TT": 1, "AC": 2, "GT": 2, "CG": 2}
    canon = kmers.kmer_counts(x, [1, 2], strand="canonical")[0]
    # pairs merged (A/T, C/G, AA/TT, AC/GT); a palindrome (CG) counts once per window
    assert as_dict(canon, [1, 2], "canonical") == {"A": 3, "C": 2, "AA": 1, "AC": 2, "CG": 1}
    assert kmers.n_features([1, 2], "canonical") == 2 + 10
    assert len(kmers.kmer_names([3], "canonical")) == 32


def test_n_gives_fractional_counts_and_batches_agree():
    x = encode(["ANGT", "ACGT"])
    c = kmers.kmer_counts(x, [1, 2, 3], strand="forward", batch_size=1)
    d = as_dict(c[0], [1, 2, 3], "forward")
    assert d["A"] == pytest.approx(1.25) and d["C"] == pytest.approx(0.25)
    assert d["AC"] == pytest.approx(0.25) and d["CG"] == pytest.approx(0.25)
    assert d["GT"] == pytest.approx(1.0)
    # each window still contributes a total of 1: 4 + 3 + 2 windows
    assert c[0].sum() == pytest.approx(9.0)
    # the N row's counts are the mean of its four resolutions
    mean4 = kmers.kmer_counts(encode(["AAGT", "ACGT", "AGGT", "ATGT"]), [1, 2, 3]).mean(axis=0)
    np.testing.assert_allclose(c[0], mean4, atol=1e-6)
    # one batch (soft path for the whole batch) equals one row at a time
    np.testing.assert_allclose(kmers.kmer_counts(x, [1, 2, 3], batch_size=8), c, atol=1e-6)


def test_invalid_k_and_strand():
    with pytest.raises(ValueError):
        kmers.kmer_counts(encode(["ACGT"]), [0])
    with pytest.raises(ValueError):
        kmers.kmer_counts(encode(["ACGT"]), [2], strand="reverse")


def planted(n=1000, length=40, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    x = np.eye(4, dtype=np.float32)[codes]
    seqs = ["".join("ACGT"[c] for c in row) for row in codes]
    y = np.array([s.count("GATA") * 2.0 + s.count("CC") * 0.5 for s in seqs])
    y += rng.normal(0, 0.3, n)
    return x, y


def test_kmer_ridge_contract(tmp_path):
    assert KINDS["kmer_ridge"] is KR
    assert KR.ARTEFACT == "model.npz" and KR.INTERPRETATION == "coefficients" and not KR.GPU
    spec = resolve_spec("kmer_ridge")
    assert spec["type"] == "kmer_ridge" and spec["k"] == [1, 2, 3, 4, 5]
    spec = resolve_spec("m", {"type": "kmer_ridge", "k": [2, 4], "strand": "forward"})
    x, y = planted()
    tr, va, te = np.arange(700), np.arange(700, 850), np.arange(850, 1000)
    model, history = KR.fit(Rows(x, tr, y[tr]), Rows(x, va, y[va]), spec, seed=0)
    assert history["chosen"].sum() == 1
    pred = KR.predict(model, Rows(x, te))
    assert pred.shape == (150,)
    assert np.corrcoef(pred, y[te])[0, 1] > 0.8
    again, _ = KR.fit(Rows(x, tr, y[tr]), Rows(x, va, y[va]), spec, seed=0)
    np.testing.assert_array_equal(again["coef"], model["coef"])
    path = tmp_path / "model.npz"
    KR.save(model, path)
    loaded = load_trained(path)
    assert loaded["kind"] == "kmer_ridge" and loaded["strand"] == spec["strand"]
    np.testing.assert_allclose(KR.predict(loaded, Rows(x, te)), pred)
    assert KR.effects(loaded) is None
    top = KR.top_kmers(loaded, 5)
    assert list(top.columns) == ["kmer", "k", "effect_per_count", "effect_per_sd", "rank"]
    assert "GATA" in set(top["kmer"]) or "TATC" in set(top["kmer"])


def test_kmer_ridge_standardised_and_haplotype_rows():
    x, y = planted(seed=1)
    spec = resolve_spec("m", {"type": "kmer_ridge", "k": [4], "strand": "canonical",
                              "standardize": True})
    # two rows per sample: the prediction is the mean of the rows' predictions
    tr = Rows(x, np.arange(200), y[:100], k=2)
    va = Rows(x, np.arange(200, 260), y[100:130], k=2)
    model, _ = KR.fit(tr, va, spec)
    te = Rows(x, np.arange(260, 300), k=2)
    one = KR.predict(model, Rows(x, np.arange(260, 300)))
    np.testing.assert_allclose(KR.predict(model, te), one.reshape(-1, 2).mean(axis=1))


def test_kmer_ridge_spec_errors():
    from seq2pheno.models import SpecError

    with pytest.raises(SpecError, match="strand"):
        resolve_spec("m", {"type": "kmer_ridge", "strand": "up"})
    with pytest.raises(SpecError, match="conv"):
        resolve_spec("m", {"type": "kmer_ridge", "conv": []})
