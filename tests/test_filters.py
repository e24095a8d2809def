"""First-layer filters: planted motif recovered as a PWM, MEME round trip, nullification."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from seq2pheno import filters as F  # noqa: E402

KL = keras.layers
MOTIF = "ACGTA"


def planted(n=40, length=30, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    for s in range(0, n, 2):                     # half the sequences carry the motif
        p = rng.integers(0, length - len(MOTIF))
        codes[s, p:p + len(MOTIF)] = ["ACGT".index(c) for c in MOTIF]
    x = np.zeros((n, length, 4), np.float32)
    x[np.arange(n)[:, None], np.arange(length), codes] = 1.0
    return x


def motif_model(length=30, padding="valid"):
    model = keras.Sequential([keras.Input((length, 4)),
                              KL.Conv1D(3, len(MOTIF), activation="relu", padding=padding),
                              KL.Flatten(), KL.Dense(1),
                              KL.Rescaling(scale=2.0, offset=1.0, name="to_phenotype_scale")])
    k = np.full((len(MOTIF), 4, 3), -1.0, np.float32)
    for j, c in enumerate(MOTIF):
        k[j, "ACGT".index(c), 0] = 1.0           # filter 0: +1 per matching base
    k[:, :, 1] = np.random.default_rng(1).normal(size=(len(MOTIF), 4))
    k[:, :, 2] = 0.0                             # filter 2: zero weights, zero bias
    bias = np.array([-(len(MOTIF) - 1.0), 0.5, 0.0], np.float32)
    model.layers[0].set_weights([k, bias])       # filter 0 fires (=1) on the exact motif only
    return model


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_planted_motif_is_recovered_as_pwm(padding):
    x = planted()
    model = motif_model(padding=padding)
    acts = F.filter_activations(model, x)
    assert acts.shape[0] == 40 and acts.shape[2] == 3
    pwms = F.filter_pwms(model, x, min_hits=10)
    assert [p["filter"] for p in pwms] == [0, 1, 2]
    f0 = pwms[0]
    assert f0["informative"] and f0["n_hits"] >= 20
    assert "".join("ACGT"[i] for i in f0["pfm"].argmax(axis=1)) == MOTIF
    np.testing.assert_allclose(f0["pfm"].max(axis=1), 1.0)
    np.testing.assert_allclose(f0["pfm"].sum(axis=1), 1.0)
    assert not pwms[2]["informative"] and pwms[2]["n_hits"] == 0
    assert len(f0["top_positions"]) == 5


def test_default_threshold_keeps_near_exact_windows_only():
    """A filter scoring +1 per matching base and -1 per other fires 5 on the motif and 3 on a
    window with one mismatch (0.6 of its maximum): the default 0.7 keeps only the exact motif
    windows, so the PFM is the motif itself, while Basset's 0.5 also stacks the one-mismatch
    windows."""
    x = planted(n=200, length=30, seed=3)
    model = motif_model()
    k, b = model.layers[0].get_weights()
    b[0] = 0.0                                   # exact motif -> 5, one mismatch -> 3
    model.layers[0].set_weights([k, b])
    acts = F.filter_activations(model, x)[:, :, 0]
    assert acts.max() == pytest.approx(5.0) and np.any(np.isclose(acts, 3.0))
    strict = F.filter_pwms(model, x)[0]
    assert strict["n_hits"] == int(np.isclose(acts, 5.0).sum())
    np.testing.assert_allclose(strict["pfm"].max(axis=1), 1.0)
    loose = F.filter_pwms(model, x, threshold_fraction=0.5)[0]
    assert loose["n_hits"] == int((acts > 2.5).sum()) > strict["n_hits"]
    assert loose["pfm"].max(axis=1).min() < 0.95
    assert "".join("ACGT"[i] for i in loose["pfm"].argmax(axis=1)) == MOTIF


def test_kernel_one_has_no_pwms():
    model = keras.Sequential([keras.Input((10, 4)), KL.Conv1D(2, 1), KL.Flatten(), KL.Dense(1)])
    assert F.filter_pwms(model, np.zeros((3, 10, 4), np.float32)) == []


def test_meme_round_trip(tmp_path):
    x = planted()
    pwms = F.filter_pwms(motif_model(), x, min_hits=10)
    path = tmp_path / "filters.meme"
    n = F.write_meme(path, pwms)
    informative = [p for p in pwms if p["informative"]]
    assert n == len(informative) >= 1
    text = path.read_text()
    assert text.startswith("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n")
    assert "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25" in text
    assert "letter-probability matrix: alength= 4 w= 5 nsites= " in text
    back = F.read_meme(path)
    assert [m["name"] for m in back] == [f"filter_{p['filter']}" for p in informative]
    for m, p in zip(back, informative):
        assert m["filter"] == p["filter"] and m["nsites"] == p["n_hits"]
        np.testing.assert_allclose(m["pfm"], p["pfm"], atol=1e-6)


def test_nullifying_a_zero_filter_has_zero_influence():
    x = planted()
    model = motif_model()
    keras.utils.set_random_seed(0)
    y = model.predict(x, verbose=0)[:, 0] + np.random.default_rng(2).normal(0, 0.1, len(x))
    df = F.filter_influence(model, x, y)
    assert list(df.columns) == ["filter", "loss_increase", "r2_drop", "mse", "r2",
                                "baseline_mse", "baseline_r2", "mean_activation", "rank"]
    row = df.set_index("filter")
    assert row.loc[2, "loss_increase"] == 0.0 and row.loc[2, "r2_drop"] == 0.0
    assert row.loc[0, "loss_increase"] > 0 and row.loc[1, "loss_increase"] != 0
    assert sorted(df["rank"]) == [1, 2, 3]


def test_nullification_of_a_strand_averaged_network_reads_both_strands():
    """A network trained on random strands predicts the mean of both strands: nullifying a
    filter replaces its output on both by its mean over both, which equals the network with
    that filter's kernel set to zero and its bias to the mean (a ReLU filter of constant output)."""
    from seq2pheno.models.cnn import strand_average

    x = planted()
    model = strand_average(motif_model())
    keras.utils.set_random_seed(0)
    y = model.predict(x, verbose=0)[:, 0] + np.random.default_rng(2).normal(0, 0.1, len(x))
    df = F.filter_influence(model, x, y, batch_size=16).set_index("filter")
    assert df.loc[2, "loss_increase"] == 0.0 and df.loc[0, "loss_increase"] > 0
    np.testing.assert_allclose(df.loc[0, "baseline_mse"],
                               np.mean((model.predict(x, verbose=0)[:, 0] - y) ** 2), rtol=1e-5)
    conv = F.first_conv_layer(model)
    kernel, bias = (w.copy() for w in conv.get_weights())
    for f in (0, 1):
        k, b = kernel.copy(), bias.copy()
        k[:, :, f], b[f] = 0.0, df.loc[f, "mean_activation"]
        conv.set_weights([k, b])
        nullified = model.predict(x, verbose=0)[:, 0]
        conv.set_weights([kernel, bias])
        np.testing.assert_allclose(df.loc[f, "mse"], np.mean((nullified - y) ** 2), rtol=1e-5)
