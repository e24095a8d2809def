"""In-silico mutagenesis: windowed ISM equals naive ISM; a linear model gives weight differences."""

import logging

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from seq2pheno import ism as I  # noqa: E402

L = 17
KL = keras.layers


def onehot(n, length=L, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, length, 4), np.float32)
    x[np.arange(n)[:, None], np.arange(length), rng.integers(0, 4, (n, length))] = 1.0
    return x


def with_scale(layers, length=L, sd=2.5, mean=10.0, seed=3):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((length, 4))] + layers
                            + [KL.Rescaling(scale=sd, offset=mean, name="to_phenotype_scale")])


FAMILY = {
    "valid_relu": lambda: [KL.Conv1D(5, 3, activation="relu"), KL.Flatten(),
                           KL.Dense(6, activation="relu"), KL.Dense(1)],
    "same_maxpool_softplus": lambda: [KL.Conv1D(4, 4, padding="same", activation="elu"),
                                      KL.MaxPooling1D(3), KL.Flatten(),
                                      KL.Dense(6, activation="softplus"), KL.Dropout(0.2),
                                      KL.Dense(1)],
    "same_avgpool_same": lambda: [KL.Conv1D(4, 5, padding="same", activation="tanh"),
                                  KL.AveragePooling1D(4, padding="same"), KL.Flatten(),
                                  KL.Dense(5, activation="sigmoid"), KL.Dense(1)],
    "two_convs": lambda: [KL.Conv1D(4, 3, padding="same", activation="relu"),
                          KL.MaxPooling1D(2, padding="same"),
                          KL.Conv1D(3, 3, activation="gelu"), KL.Dropout(0.1), KL.Flatten(),
                          KL.Dense(5, activation="relu"), KL.Dense(1)],
    "affine_stage_gelu": lambda: [KL.Conv1D(3, 3, padding="same"),
                                  KL.AveragePooling1D(2, padding="same"), KL.Flatten(),
                                  KL.Dense(5, activation="gelu"), KL.Dense(1)],
    "kernel1_default_like": lambda: [KL.Conv1D(8, 1, activation="relu"), KL.Flatten(),
                                     KL.Dense(9, activation="relu"),
                                     KL.Dense(4, activation="relu"), KL.Dense(1)],
    "affine_layernorm_head": lambda: [KL.Conv1D(3, 1), KL.Flatten(),
                                      KL.Dense(6, activation="gelu"),
                                      KL.LayerNormalization(), KL.Dense(1)],
}
#: Backends with a whole-function compiler (the compiled fast-ISM path).
COMPILING = keras.backend.backend() in ("tensorflow", "jax")


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_fast_ism_equals_naive(name):
    model = with_scale(FAMILY[name]())
    assert I.supports_fast_ism(model) == (True, "ok")
    x = onehot(4)
    x[0, 2] = 0.25                      # an N base: four real edits
    x[1, 5] = [0.5, 0.0, 0.5, 0.0]      # a heterozygous genotype
    fast = I.ism(model, x, batch_size=200)
    naive = I.naive_ism(model, x, batch_size=200)
    assert fast.shape == (4, L, 4)
    assert np.abs(naive).max() > 1e-3
    assert np.abs(fast - naive).max() / 2.5 <= 1e-5
    ref = x == 1.0
    assert np.all(fast[ref] == 0.0)
    # the N and heterozygous rows have four nonzero edits
    assert np.count_nonzero(fast[0, 2]) == 4 and np.count_nonzero(fast[1, 5]) == 4


def default_model(length, sd=3.0):
    from seq2pheno.models import build_cnn, resolve_spec

    core = build_cnn(resolve_spec("default"), (length, 4))
    return with_scale(list(core.layers), length=length, sd=sd)


def mixed_onehot(length):
    """5 sequences; rows 3 and 4 have an N base / a heterozygous site (four real edits)."""
    x = onehot(5, length, seed=1)
    x[3, 7] = 0.25
    x[4, 9] = [0.5, 0.0, 0.0, 0.5]
    return x


@pytest.mark.skipif(not COMPILING, reason="no whole-function compiler on this backend")
def test_default_preset_uses_the_compiled_path(monkeypatch, caplog):
    length, sd = 60, 3.0
    model = default_model(length, sd)
    x = mixed_onehot(length)
    naive = I.naive_ism(model, x)

    def numpy_path(self, xb):
        raise AssertionError("the numpy path was used")

    monkeypatch.setattr(I._FastISM, "deltas", numpy_path)
    log = logging.getLogger("test_ism_compiled")
    with caplog.at_level(logging.INFO, logger="test_ism_compiled"):
        # chunks of 2 sequences: one-hot, then N / heterozygous rows, then a padded one
        fast = I.ism(model, x, batch_size=2 * 4 * length, log=log)
    assert "compiled" in caplog.text and "5/5 sequences" in caplog.text
    assert np.abs(naive).max() > 1e-3
    assert np.abs(fast - naive).max() / sd <= 1e-4
    assert np.all(fast[x == 1.0] == 0.0)
    assert np.count_nonzero(fast[3, 7]) == 4 and np.count_nonzero(fast[4, 9]) == 4


def test_numpy_path_when_compilation_is_off(monkeypatch, caplog):
    length, sd = 60, 3.0
    model = default_model(length, sd)
    x = mixed_onehot(length)

    def compiled(*args):
        raise AssertionError("the compiled path was used")

    monkeypatch.setattr(I, "_compiled_chunk_deltas", compiled)
    log = logging.getLogger("test_ism_numpy")
    with caplog.at_level(logging.INFO, logger="test_ism_numpy"):
        fast = I.ism(model, x, batch_size=2 * 4 * length, log=log, compiled=False)
    assert "in numpy" in caplog.text
    assert np.abs(fast - I.naive_ism(model, x)).max() / sd <= 1e-5


def test_compiled_path_needs_an_affine_first_stage_and_a_plain_head():
    def compiled(name):
        return I._FastISM(with_scale(FAMILY[name]())).compiled_deltas() is not None

    assert compiled("affine_stage_gelu") == COMPILING
    assert not compiled("affine_layernorm_head")      # LayerNormalization: numpy head
    assert not compiled("valid_relu")                 # ReLU convolution: windowed deltas


def test_linear_model_ism_equals_weight_differences(tmp_path, caplog):
    sd, mean = 2.0, 5.0
    model = with_scale([KL.Conv1D(2, 1, activation="linear"), KL.Flatten(), KL.Dense(1)],
                       sd=sd, mean=mean)
    conv, dense = model.layers[0], model.layers[2]
    k = conv.kernel.numpy()[0]                        # (4, 2)
    w = dense.kernel.numpy().reshape(L, 2)            # (L, 2)
    eff = (w @ k.T) * sd                                  # (L, 4) phenotype units per base
    x = onehot(3, seed=4)
    # memmapped rows work as well
    path = tmp_path / "x.npy"
    np.save(path, x)
    xm = np.load(path, mmap_mode="r")
    with caplog.at_level(logging.INFO, logger="test_ism_progress"):
        deltas = I.ism(model, xm, log=logging.getLogger("test_ism_progress"))
    assert "ISM: 3/3 sequences" in caplog.text and "naive" not in caplog.text
    ref = x.argmax(axis=2)
    expected = eff[None, :, :] - np.take_along_axis(eff[None], ref[..., None], axis=2)
    np.testing.assert_allclose(deltas, expected, atol=1e-5)
    imp = I.position_importance(deltas)
    np.testing.assert_allclose(imp, np.abs(expected).sum(axis=(0, 2)) / 9.0, atol=1e-5)
    np.testing.assert_allclose(I.global_map(deltas), expected.mean(axis=0), atol=1e-5)
    # gradient x input of a linear model: the weight of the present base
    sal = I.saliency(model, x)
    np.testing.assert_allclose(sal.sum(axis=2), np.take_along_axis(
        np.broadcast_to(eff, x.shape), ref[..., None], axis=2)[..., 0], atol=1e-5)


def test_model_outside_family_falls_back_with_a_log_line(caplog):
    inp = keras.Input((L, 4))
    out = KL.Dense(1)(KL.Flatten()(inp))
    model = keras.Model(inp, out)                         # functional, not Sequential
    ok, why = I.supports_fast_ism(model)
    assert not ok and "Sequential" in why
    log = logging.getLogger("test_ism_fallback")
    x = onehot(2)
    with caplog.at_level(logging.INFO, logger="test_ism_fallback"):
        d = I.ism(model, x, log=log)
    assert "naive" in caplog.text and "2/2 sequences" in caplog.text
    np.testing.assert_allclose(d, I.naive_ism(model, x), atol=1e-6)


def test_tables_and_comparison():
    imp = np.array([0.1, 3.0, 0.5, 3.0])
    table = I.importance_table(imp)
    assert list(table.columns) == ["position", "importance", "rank"]
    assert table["rank"].tolist() == [4, 1, 3, 2]
    cmp = I.compare_importance(imp, imp * 2)
    assert cmp["spearman_r"] == pytest.approx(1.0)
    sal = np.zeros((2, 4, 4))
    sal[:, 1, 2] = [1.0, -3.0]
    np.testing.assert_allclose(I.saliency_importance(sal), [0, 2.0, 0, 0])


def _randomise_bn(model, seed=0):
    """Non-trivial inference statistics for every BatchNormalization layer."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for sub in ([layer] + list(getattr(getattr(layer, "core", None), "layers", []))):
            if isinstance(sub, KL.BatchNormalization):
                c = sub.gamma.shape[0]
                sub.gamma.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
                sub.beta.assign(rng.normal(0, 0.5, c).astype("float32"))
                sub.moving_mean.assign(rng.normal(0, 0.3, c).astype("float32"))
                sub.moving_variance.assign(rng.uniform(0.2, 3.0, c).astype("float32"))
    return model


DEEP = {
    "bn_conv_relu_maxpool": lambda: [KL.Conv1D(6, 5, padding="same"), KL.BatchNormalization(),
                                     KL.Activation("relu"), KL.MaxPooling1D(2), KL.Flatten(),
                                     KL.Dense(5, activation="relu"), KL.Dense(1)],
    "dilated_two_convs": lambda: [KL.Conv1D(5, 3, padding="same", activation="relu"),
                                  KL.Conv1D(4, 3, dilation_rate=2, activation="elu"),
                                  KL.Conv1D(3, 2, dilation_rate=3, padding="same"),
                                  KL.Flatten(), KL.Dense(4, activation="gelu"), KL.Dense(1)],
    "bn_after_activation": lambda: [KL.Conv1D(4, 3, activation="relu"),
                                    KL.BatchNormalization(), KL.Flatten(), KL.Dense(1)],
    "global_max": lambda: [KL.Conv1D(6, 5, padding="same"), KL.BatchNormalization(),
                           KL.Activation("relu"), KL.MaxPooling1D(2),
                           KL.Conv1D(5, 3, padding="same", activation="relu"),
                           KL.GlobalMaxPooling1D(), KL.Dense(4, activation="relu"),
                           KL.Dense(1)],
    "global_average": lambda: [KL.Conv1D(6, 4, activation="relu"), KL.AveragePooling1D(2),
                               KL.Conv1D(3, 3, dilation_rate=2, activation="tanh"),
                               KL.GlobalAveragePooling1D(), KL.Dense(4, activation="softplus"),
                               KL.Dense(1)],
    "global_average_affine": lambda: [KL.Conv1D(4, 3, padding="same"), KL.BatchNormalization(),
                                      KL.GlobalAveragePooling1D(),
                                      KL.Dense(5, activation="gelu"), KL.Dense(1)],
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_fast_ism_of_new_layers_equals_naive(name):
    model = _randomise_bn(with_scale(DEEP[name]()))
    assert I.supports_fast_ism(model) == (True, "ok")
    x = onehot(4, seed=2)
    x[0, 2] = 0.25
    x[1, 5] = [0.5, 0.0, 0.5, 0.0]
    fast = I.ism(model, x, batch_size=200)
    naive = I.naive_ism(model, x, batch_size=200)
    assert np.abs(naive).max() > 1e-3
    assert np.abs(fast - naive).max() / 2.5 <= 1e-5
    assert np.all(fast[x == 1.0] == 0.0)
    assert np.abs(I.ism(model, x, batch_size=200, compiled=False) - naive).max() / 2.5 <= 1e-5


@pytest.mark.parametrize("overrides", [
    {"reverse_complement": "average"},
    {"reverse_complement": "average", "global_pool": "max"},
    {"global_pool": "average"},
    {},
])
def test_motif_preset_ism_equals_naive(overrides):
    from seq2pheno.models import build_cnn, resolve_spec

    length = 40
    spec = resolve_spec("m", dict({"preset": "motif_cnn"}, **overrides))
    for c in spec["conv"]:
        c["filters"] = 8
    spec["conv"][0]["kernel_size"] = 7
    spec["dense"][0]["units"] = 6
    core = build_cnn(spec, (length, 4))
    model = _randomise_bn(with_scale(list(core.layers), length=length))
    assert I.supports_fast_ism(model) == (True, "ok")
    x = onehot(3, length, seed=5)
    x[2, 11] = 0.25
    fast = I.ism(model, x)
    naive = I.naive_ism(model, x)
    assert np.abs(naive).max() > 1e-3
    assert np.abs(fast - naive).max() / 2.5 <= 1e-5


def test_screened_genotype_network_ism_equals_naive_and_round_trips(tmp_path):
    """A `screen` network reads chosen positions only: its fast ISM (through the layers after
    `select_positions`) equals naive ISM of the whole network, and is exactly 0 elsewhere."""
    from seq2pheno.models import Rows, cnn, resolve_spec

    length, n = 60, 120
    x = onehot(n, length, seed=2)
    y = 2.0 * x[:, 7, 1] - 1.5 * x[:, 33, 2] + 0.1 * np.random.default_rng(0).normal(size=n)
    picked = cnn.screen_positions(x, np.arange(n), y, 5)
    assert picked.dtype == np.int64 and list(picked) == sorted(picked) and {7, 33} <= set(picked)
    spec = resolve_spec("g", {"preset": "genotype_cnn", "screen": 5, "epochs": 3})
    model, history = cnn.fit(Rows(x, np.arange(90), y[:90]), Rows(x, np.arange(90, 120), y[90:]),
                             spec, seed=0)
    on_train = cnn.screen_positions(x, np.arange(90), y[:90], 5)     # fit screens training rows only
    assert model.get_layer("select_positions").positions == on_train.tolist()
    assert {7, 33} <= set(on_train)
    xs = x[:4]
    fast, naive = I.ism(model, xs), I.naive_ism(model, xs)
    assert np.abs(naive).max() > 1e-4
    np.testing.assert_allclose(fast, naive, atol=1e-5)
    others = np.setdiff1d(np.arange(length), on_train)
    assert np.all(fast[:, others] == 0)
    from seq2pheno import filters

    influence = filters.filter_influence(model, x[:30], y[:30])       # kernel-1 filter, after the selection
    assert len(influence) == 1 and np.isfinite(influence["loss_increase"]).all()
    path = tmp_path / "model.keras"
    cnn.save(model, path)
    again = cnn.load(path)
    np.testing.assert_allclose(cnn.predict(again, Rows(x, np.arange(n))), cnn.predict(model, Rows(x, np.arange(n))),
                               rtol=1e-6)
    with pytest.raises(Exception, match="reverse complement"):
        resolve_spec("g", {"preset": "genotype_cnn", "screen": 5, "reverse_complement": "augment"})
    with pytest.raises(Exception, match="screened positions"):
        cnn.build_cnn(spec, (length, 4))
