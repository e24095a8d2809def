"""Pairwise epistasis: zero for additive models, the planted coefficient for a product."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from seq2pheno.interactions import pairwise_epistasis  # noqa: E402

KL = keras.layers
L = 14


def onehot(n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, L, 4), np.float32)
    x[np.arange(n)[:, None], np.arange(L), rng.integers(0, 4, (n, L))] = 1.0
    return x


def seq_model(layers, seed=1):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((L, 4))] + layers
                            + [KL.Rescaling(scale=3.0, offset=2.0, name="to_phenotype_scale")])


@pytest.mark.parametrize("layers", [
    lambda: [KL.Flatten(), KL.Dense(1)],
    lambda: [KL.Conv1D(3, 3, padding="same"), KL.Flatten(), KL.Dense(1)],   # affine first stage
])
def test_additive_model_has_zero_epistasis(layers):
    model = seq_model(layers())
    df = pairwise_epistasis(model, onehot(3), [0, 1, 2, 6, 13], batch_size=256)
    assert list(df.columns) == ["pos_a", "pos_b", "score", "signed_score", "rank"]
    assert len(df) == 10 and (df["pos_a"] < df["pos_b"]).all()
    assert np.abs(df["score"]).max() < 1e-5 and np.abs(df["signed_score"]).max() < 1e-5


class PairModel(keras.Model):
    """f(x) = sum(x * W) + coef * [base at i is not A] * [base at j is not A]."""

    def __init__(self, weights, i, j, coef):
        super().__init__()
        self.w = keras.ops.convert_to_tensor(weights.astype(np.float32))
        self.i, self.j, self.coef = i, j, float(coef)

    def call(self, x):
        add = keras.ops.sum(x * self.w, axis=(1, 2))
        inter = self.coef * (1.0 - x[:, self.i, 0]) * (1.0 - x[:, self.j, 0])
        return keras.ops.expand_dims(add + inter, -1)


def test_multiplicative_pair_scores_its_coefficient():
    i, j, coef = 3, 9, -1.75
    w = np.random.default_rng(5).normal(size=(L, 4))
    model = PairModel(w, i, j, coef)
    x = onehot(3, seed=2)
    x[:, [i, j]] = [1.0, 0.0, 0.0, 0.0]          # reference base A at both loci
    model(x[:1])
    df = pairwise_epistasis(model, x, [1, i, 5, j], batch_size=300)
    top = df.iloc[0]
    assert (top["pos_a"], top["pos_b"], top["rank"]) == (i, j, 1)
    assert top["score"] == pytest.approx(abs(coef), abs=1e-5)
    assert top["signed_score"] == pytest.approx(coef, abs=1e-5)
    assert np.abs(df["score"].iloc[1:]).max() < 1e-5


def test_windowed_pairs_equal_full_forward_passes():
    model = seq_model([KL.Conv1D(4, 3, padding="same", activation="relu"), KL.MaxPooling1D(2),
                       KL.Flatten(), KL.Dense(6, activation="tanh"), KL.Dense(1)])
    x = onehot(3, seed=4)
    x[0, 4] = 0.25                                # an N base: four alternative alleles
    assert_windowed_equals_full_passes(model, x, [0, 1, 2, 4, 7, 8, 13])


def assert_windowed_equals_full_passes(model, x, pos):
    fast = pairwise_epistasis(model, x, pos, batch_size=256)
    naive = pairwise_epistasis(model, x, pos, batch_size=256, naive=True)
    m = fast.merge(naive, on=["pos_a", "pos_b"], suffixes=("_f", "_n"))
    assert len(m) == len(pos) * (len(pos) - 1) // 2 and m["score_n"].max() > 1e-3
    np.testing.assert_allclose(m["score_f"], m["score_n"], atol=1e-5)
    np.testing.assert_allclose(m["signed_score_f"], m["signed_score_n"], atol=1e-5)


def test_strand_averaged_pairs_equal_full_forward_passes():
    """A reverse-complement-averaged network (motif_cnn as trained): pairs disjoint on both
    strands take the windowed path on each strand, the rest full passes; every pair equals the
    full forward passes, and far-apart pairs are disjoint."""
    from seq2pheno import ism
    from seq2pheno.models import build_cnn, resolve_spec

    keras.utils.set_random_seed(3)
    spec = resolve_spec("m", {"preset": "motif_cnn", "conv": [
        {"filters": 4, "kernel_size": 3, "batch_norm": True, "pool": 2, "padding": "same"}],
        "dense": [{"units": 5}], "reverse_complement": "average"})
    rc = build_cnn(spec, (L, 4))
    model = keras.Sequential([keras.Input((L, 4)), *rc.layers,
                              KL.Rescaling(scale=3.0, offset=2.0, name="to_phenotype_scale")])
    plan = ism._make_plan(model)
    assert plan.disjoint(0, 13) and not plan.disjoint(4, 5)
    x = onehot(3, seed=6)
    x[1, 7] = 0.25
    assert_windowed_equals_full_passes(model, x, [0, 2, 4, 5, 7, 10, 13])


def test_fewer_than_two_positions_give_an_empty_table():
    model = seq_model([KL.Flatten(), KL.Dense(1)])
    df = pairwise_epistasis(model, onehot(2), [3], batch_size=64)
    assert len(df) == 0 and list(df.columns) == ["pos_a", "pos_b", "score", "signed_score", "rank"]
