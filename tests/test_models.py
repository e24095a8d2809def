"""Model specs, CNN builders and the streaming ridge baseline."""

import numpy as np
import pytest

from seq2pheno import models
from seq2pheno.models import (PRESETS, SpecError, build_cnn, fit_ridge, load_ridge,
                              predict_ridge, resolve_spec, save_ridge)


def test_seed_cnn_has_the_notebook_layers():
    model = build_cnn(resolve_spec("seed_cnn"), (200, 4))
    shapes = [(layer.name, tuple(layer.output.shape[1:])) for layer in model.layers]
    assert shapes == [("conv0", (198, 256)), ("pool0", (49, 256)), ("flatten", (49 * 256,)),
                      ("dense0", (32,)), ("dense0_dropout", (32,)), ("dense1", (8,)),
                      ("dense2", (32,)), ("output", (1,))]
    acts = [getattr(layer, "activation", None) for layer in model.layers]
    assert acts[0].__name__ == "relu" and acts[5].__name__ == "softplus"
    assert model.get_layer("dense0_dropout").rate == pytest.approx(0.05)
    assert model.layers[0].kernel_size == (3,)


def test_every_preset_resolves_and_builds():
    allowed = {"Conv1D", "MaxPooling1D", "AveragePooling1D", "Dropout", "Flatten", "Dense",
               "Activation", "Rescaling", "BatchNormalization", "GlobalMaxPooling1D",
               "GlobalAveragePooling1D", "ReverseComplementAverage", "SelectPositions"}
    for name in PRESETS:
        spec = resolve_spec(name)
        if spec["type"] != "cnn":          # other kinds: tests/test_model_kinds.py
            continue
        positions = np.arange(0, 50, 5) if spec["screen"] else None
        model = build_cnn(spec, (50, 4), positions)
        if spec["screen"]:
            assert model.layers[0].name == "select_positions" and model.layers[0].positions == list(positions)
        assert {type(layer).__name__ for layer in model.layers} <= allowed
        assert model.layers[-1].name == "output"
        assert model.outputs[0].shape[-1] == 1


def test_default_is_conv_then_sparse_dense():
    spec = resolve_spec("default")
    assert spec["conv"] and spec["dense"] and spec["dense"][0]["l1"] > 0


def test_resolve_spec_overrides_and_fills_defaults():
    spec = resolve_spec("mine", {"preset": "seed_cnn", "learning_rate": 0.01,
                                 "dense": [{"units": 5}]})
    assert spec["learning_rate"] == 0.01
    assert spec["conv"][0]["filters"] == 256
    assert spec["dense"] == [dict(models.DEFAULTS["dense_layer"], units=5)]
    assert resolve_spec("seed_cnn", {"epochs": 3})["epochs"] == 3
    assert resolve_spec("other", None)["type"] == "cnn"
    assert resolve_spec("r", {"type": "ridge", "alphas": [1, 2]})["alphas"] == [1.0, 2.0]
    assert resolve_spec("default", {"type": "ridge"})["type"] == "ridge"   # a ridge named default
    assert resolve_spec("ridge", {"alphas": [5]}) == {"type": "ridge", "alphas": [5.0]}


@pytest.mark.parametrize("spec, fragment", [
    ({"type": "svm"}, "type"),
    ({"preset": "nope"}, "unknown preset"),
    ({"bogus": 1}, "bogus"),
    ({"conv": [{"filters": 0}]}, "filters"),
    ({"conv": [{"filters": 2.5}]}, "filters"),
    ({"conv": [{"pool_type": "min"}]}, "pool_type"),
    ({"conv": [{"padding": "full"}]}, "padding"),
    ({"dense": [{"units": 4, "activation": "nonsense"}]}, "activation"),
    ({"dense": [{"kernel": 3}]}, "kernel"),
    ({"learning_rate": -1}, "learning_rate"),
    ({"mixed_precision": "yes"}, "mixed_precision"),
    ({"type": "ridge", "alphas": []}, "alphas"),
    ({"type": "ridge", "alphas": [1], "conv": []}, "conv"),
])
def test_invalid_spec_is_a_clear_error(spec, fragment):
    with pytest.raises(SpecError, match=fragment) as err:
        resolve_spec("bad_model", spec)
    assert "bad_model" in str(err.value)


def test_kernel_longer_than_sequence_is_an_error():
    with pytest.raises(SpecError, match="kernel_size"):
        build_cnn(resolve_spec("x", {"conv": [{"kernel_size": 9}]}), (5, 4))


def _toy(n, length=6, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]
    beta = rng.normal(size=(length, 4))
    y = np.einsum("nlc,lc->n", x, beta) + 3.0 + rng.normal(scale=noise, size=n)
    return x, y


def test_ridge_matches_sklearn_and_round_trips(tmp_path):
    from sklearn.linear_model import Ridge
    x, y = _toy(300)
    xv, yv = _toy(100, seed=1)
    params = fit_ridge(x, y, xv, yv, [0.5, 5.0], batch_size=64)
    ref = Ridge(alpha=params["alpha"]).fit(x.reshape(300, -1).astype(float), y)
    np.testing.assert_allclose(params["coef"].reshape(-1), ref.coef_, atol=1e-8)
    assert params["intercept"] == pytest.approx(ref.intercept_, abs=1e-8)
    pred = predict_ridge(params, xv, batch_size=7)
    np.testing.assert_allclose(pred, ref.predict(xv.reshape(100, -1).astype(float)), atol=1e-8)
    save_ridge(tmp_path / "m.npz", params)
    again = load_ridge(tmp_path / "m.npz")
    np.testing.assert_array_equal(again["coef"], params["coef"])
    assert again["alpha"] == params["alpha"]


def test_ridge_picks_the_alpha_with_the_best_validation_r2():
    # Pure noise: a huge penalty must win; a clean signal: a small one must win.
    rng = np.random.default_rng(3)
    x, _ = _toy(200)
    xv, _ = _toy(200, seed=4)
    noise = fit_ridge(x, rng.normal(size=200), xv, rng.normal(size=200), [1e-3, 1e6])
    assert noise["alpha"] == 1e6
    x, y = _toy(200, noise=0.01)
    xv, yv = _toy(200, seed=0, noise=0.01)
    clean = fit_ridge(x, y, xv, yv, [1e-3, 1e6])
    assert clean["alpha"] == 1e-3 and clean["valid_r2"][0] > 0.99


def test_ridge_streams_from_a_memmap_view(tmp_path):
    x, y = _toy(120)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    idx = np.array([5, 3, 100, 7] + list(range(10, 90)))
    vidx = np.arange(90, 120)
    a = fit_ridge(models.IndexedRows(mm, idx), y[idx], models.IndexedRows(mm, vidx), y[vidx],
                  [1.0], batch_size=16)
    b = fit_ridge(x[idx], y[idx], x[vidx], y[vidx], [1.0])
    np.testing.assert_allclose(a["coef"], b["coef"], atol=1e-10)


def test_mixed_precision_keeps_a_float32_output():
    model = build_cnn(resolve_spec("m", {"mixed_precision": True}), (20, 4))
    assert model.get_layer("conv0").dtype_policy.name == "mixed_float16"
    assert model.get_layer("output").dtype_policy.name == "float32"


def test_ridge_dual_form_matches_primal_when_features_outnumber_samples():
    x, y = _toy(40, length=30)                 # 120 features, 40 samples
    xv, yv = _toy(25, length=30, seed=1)
    dual = fit_ridge(x, y, xv, yv, [0.3, 3.0, 30.0], batch_size=16, method="dual")
    primal = fit_ridge(x, y, xv, yv, [0.3, 3.0, 30.0], batch_size=16, method="primal")
    auto = fit_ridge(x, y, xv, yv, [0.3, 3.0, 30.0], batch_size=16)
    np.testing.assert_allclose(dual["coef"], primal["coef"], atol=1e-8)
    np.testing.assert_allclose(dual["valid_r2"], primal["valid_r2"], atol=1e-8)
    assert dual["intercept"] == pytest.approx(primal["intercept"], abs=1e-8)
    np.testing.assert_allclose(auto["coef"], dual["coef"], atol=1e-12)


def test_dual_ridge_blocks_are_bounded_in_bytes(monkeypatch):
    """Blocks of at most BLOCK_BYTES (here 3 rows of 120 float64 features): same solution."""
    from seq2pheno.models import ridge

    class Recording:
        """The training rows, recording how many rows each read asks for."""

        def __init__(self, a):
            self.a, self.shape, self.reads = a, a.shape, []

        def __len__(self):
            return len(self.a)

        def __getitem__(self, key):
            out = self.a[key]
            self.reads.append(len(out))
            return out

    x, y = _toy(40, length=30)
    xv, yv = _toy(25, length=30, seed=1)
    whole = fit_ridge(x, y, xv, yv, [0.3, 3.0], batch_size=4096, method="dual")
    monkeypatch.setattr(ridge, "BLOCK_BYTES", 3 * 120 * 8)
    rec = Recording(x)
    small = fit_ridge(rec, y, xv, yv, [0.3, 3.0], batch_size=4096, method="dual")
    assert rec.reads and max(rec.reads) == 3
    np.testing.assert_allclose(small["coef"], whole["coef"], atol=1e-10)


def test_motif_layers_are_named_and_reverse_complement_average_round_trips(tmp_path):
    import keras

    from seq2pheno.models import cnn

    spec = resolve_spec("m", {"preset": "motif_cnn", "conv": [
        {"filters": 4, "kernel_size": 5, "batch_norm": True, "pool": 2, "padding": "same"},
        {"filters": 3, "kernel_size": 3, "dilation": 2}], "global_pool": "max"})
    model = build_cnn(spec, (30, 4))
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["conv0", "conv0_bn", "conv0_act", "pool0"]
    assert "global_pool" in names and "flatten" not in names
    assert model.get_layer("conv1").dilation_rate == (2,)
    assert model.get_layer("conv0").activation.__name__ == "linear"
    rc = build_cnn(dict(spec, reverse_complement="average"), (30, 4))
    assert [layer.name for layer in rc.layers] == ["rc_average"]
    x = np.eye(4, dtype="float32")[np.random.default_rng(0).integers(0, 4, (3, 30))]
    p = np.asarray(rc.predict_on_batch(x))
    np.testing.assert_allclose(np.asarray(rc.predict_on_batch(x[:, ::-1, ::-1])), p, atol=1e-5)
    path = tmp_path / "model.keras"
    cnn.save(rc, path)
    np.testing.assert_allclose(np.asarray(cnn.load(path).predict_on_batch(x)), p, atol=1e-6)
    assert keras.saving.get_registered_object("seq2pheno>ReverseComplementAverage") is not None


def test_a_network_trained_on_random_strands_predicts_the_mean_of_both(tmp_path):
    """reverse_complement: augment trains on random strands and returns the strand average
    (the layout of `average`): the prediction of a sequence is the mean of the trained network's
    on it and on its reverse complement, equal on both strands, saved and loaded as one file,
    and its fast ISM is exact against naive ISM and uses the reverse-complement plan."""
    from seq2pheno import ism
    from seq2pheno.models import Rows, cnn

    rng = np.random.default_rng(2)
    x = np.eye(4, dtype="float32")[rng.integers(0, 4, (120, 24))]
    y = x[:, 5, 0] - x[:, 17, 3] + 0.1 * rng.normal(size=120)
    spec = resolve_spec("m", {"preset": "motif_cnn", "conv": [
        {"filters": 4, "kernel_size": 5, "batch_norm": True, "pool": 2, "padding": "same"}],
        "dense": [{"units": 4}], "epochs": 3, "batch_size": 32})
    assert spec["reverse_complement"] == "augment"
    model, _ = cnn.fit(Rows(x, np.arange(100), y[:100]), Rows(x, np.arange(100, 120), y[100:]), spec, seed=0)
    assert [layer.name for layer in model.layers] == ["rc_average", "to_phenotype_scale"]
    strand = model.get_layer("rc_average").core
    one = np.asarray(strand.predict_on_batch(x[:10]))[:, 0]
    other = np.asarray(strand.predict_on_batch(x[:10, ::-1, ::-1]))[:, 0]
    scale = model.get_layer("to_phenotype_scale")
    want = (0.5 * (one + other)) * float(np.asarray(scale.scale)) + float(np.asarray(scale.offset))
    p = cnn.predict(model, Rows(x, np.arange(10)))
    np.testing.assert_allclose(p, want, atol=1e-5)
    np.testing.assert_allclose(cnn.predict(model, Rows(x[:, ::-1, ::-1].copy(), np.arange(10))), p, atol=1e-5)
    cnn.save(model, tmp_path / "m.keras")
    np.testing.assert_allclose(cnn.predict(cnn.load(tmp_path / "m.keras"), Rows(x, np.arange(10))), p, atol=1e-6)
    assert ism.supports_fast_ism(model)[0]
    np.testing.assert_allclose(ism.ism(model, x[:4]), ism.naive_ism(model, x[:4]), atol=1e-4)


def test_reverse_complement_augmentation_is_seeded():
    from seq2pheno.train import one_hot_batches

    x = np.eye(4, dtype="float32")[np.random.default_rng(1).integers(0, 4, (40, 12))]
    a = one_hot_batches(x, np.arange(40), np.zeros(40), batch_size=40, seed=3, rc_augment=True)
    b = one_hot_batches(x, np.arange(40), np.zeros(40), batch_size=40, seed=3, rc_augment=True)
    xa, xb = a[0][0], b[0][0]
    np.testing.assert_array_equal(xa, xb)
    flipped = [not np.array_equal(xa[i], x[i]) for i in range(40)]
    assert 5 < sum(flipped) < 35
    for i in np.flatnonzero(flipped):
        np.testing.assert_array_equal(xa[i], x[i, ::-1, ::-1])


def test_screen_positions_is_joint_not_marginal():
    """A copy of a causal marker (perfect LD) is no second signal: the two positions LARS
    keeps are the two causal loci, where a marginal ranking keeps the causal marker and its
    copy."""
    from seq2pheno.models.cnn import screen_positions

    rng = np.random.default_rng(4)
    n, length = 400, 30
    d = rng.integers(0, 3, (n, length)).astype(np.float32)
    d[:, 8] = d[:, 7]                                          # position 8 copies position 7
    x = np.zeros((n, length, 4), np.float32)
    x[:, :, 0], x[:, :, 1] = 1 - d / 2, d / 2
    y = 1.0 * d[:, 7] + 0.6 * d[:, 20] + 0.3 * rng.normal(size=n)
    two = screen_positions(x, np.arange(n), y, 2)
    assert 20 in two and len({7, 8} & set(two)) == 1, two
    r = [abs(np.corrcoef(d[:, p], y)[0, 1]) for p in range(length)]
    assert set(np.argsort(r)[-2:]) == {7, 8}                    # what a marginal screen keeps
    five = screen_positions(x, np.arange(n), y, 5)
    assert len(five) == 5 and set(two) <= set(five) and list(five) == sorted(five)
    assert len(screen_positions(x, np.arange(n), y, 100)) == length


def test_refit_trains_on_train_and_valid_and_keeps_held_out_validation_predictions(tmp_path):
    """refit: a second network trained on training + validation samples for the early-stopped
    run's epochs at its learning rates; the validation samples are scored by the first fit
    (equal to a fit without refit), through save/load, and never in-sample."""
    from seq2pheno import models
    from seq2pheno.models import Rows, cnn
    from seq2pheno.train import learning_rates

    rng = np.random.default_rng(0)
    n, length = 160, 12
    d = rng.integers(0, 3, (n, length)).astype(np.float32)
    x = np.zeros((n, length, 4), np.float32)
    x[:, :, 0], x[:, :, 1] = 1 - d / 2, d / 2
    y = d[:, 2] - 0.7 * d[:, 9] + 0.3 * rng.normal(size=n)
    ids = np.array([f"s{i}" for i in range(n)])
    train = Rows(x, np.arange(100), y[:100], ids=ids[:100])
    valid = Rows(x, np.arange(100, 130), y[100:130], ids=ids[100:130])
    base = {"type": "cnn", "conv": [{"filters": 1, "kernel_size": 1, "activation": "linear"}],
            "dense": [{"units": 4}], "epochs": 12, "patience": 3, "reduce_lr_patience": 2,
            "batch_size": 16, "learning_rate": 1e-2}
    plain, history = cnn.fit(train, valid, models.resolve_spec("m", dict(base)), seed=1, log=None)
    refit, history2 = cnn.fit(train, valid, models.resolve_spec("m", dict(base, refit=True)), seed=1, log=None)
    # the early-stopped run is the same; its history is the one returned (selection reads it)
    np.testing.assert_allclose(history["val_loss"], history2["val_loss"], rtol=1e-5)
    held = models.held_out_predictions(refit)
    assert list(held.index) == list(valid.ids)
    np.testing.assert_allclose(held.to_numpy(), cnn.predict(plain, valid), rtol=1e-5, atol=1e-5)
    assert models.held_out_predictions(plain) is None
    # the refit saw the validation samples: it is another network, closer to them in-sample
    own = cnn.predict(refit, valid)
    assert not np.allclose(own, held.to_numpy(), atol=1e-3)
    rates = learning_rates(history, base["learning_rate"])
    assert len(rates) == int(history.loc[history["best"], "epoch"].iloc[0]) and rates[0] == 1e-2
    cnn.save(refit, tmp_path / "model.keras")
    again = models.load_trained(tmp_path / "model.keras")
    np.testing.assert_array_equal(models.held_out_predictions(again).to_numpy(), held.to_numpy())
    np.testing.assert_allclose(cnn.predict(again, valid), own, atol=1e-6)
    cnn.save(plain, tmp_path / "plain.keras")
    assert models.held_out_predictions(models.load_trained(tmp_path / "plain.keras")) is None


def test_learning_rates_replay_the_plateau_schedule():
    """Epoch e ran at the rate recorded at the end of epoch e - 1 (after ReduceLROnPlateau)."""
    import pandas as pd

    from seq2pheno.train import learning_rates

    h = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "learning_rate": [1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4],
                      "best": [False, False, True, False, False]})
    assert learning_rates(h, 1e-3) == [1e-3, 1e-3, 5e-4]
