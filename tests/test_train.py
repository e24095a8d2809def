"""CNN training: standardisation, streaming batches, rescaling, reproducibility, weights."""

import json
import logging

import numpy as np
import pandas as pd
import pytest

from seq2pheno.tensorfile import TensorFile, open_tensor
from seq2pheno.train import fit_cnn, one_hot_batches, predict, remove_backup, standardiser

# Keras' TensorFlow backend converts its own variables with np.array(x, copy=False) inside fit.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

TINY = {"type": "cnn", "conv": [{"filters": 4, "kernel_size": 1}],
        "dense": [{"units": 8, "activation": "relu"}], "learning_rate": 0.01,
        "batch_size": 32, "epochs": 8, "patience": 8, "reduce_lr_patience": 4}


def _toy(n=400, length=12, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]
    beta = np.zeros((length, 4))
    beta[[1, 5, 9]] = rng.normal(scale=3.0, size=(3, 4))
    y = 10.0 + np.einsum("nlc,lc->n", x, beta) + rng.normal(scale=noise, size=n)
    return x, y


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    x, y = _toy()
    path = tmp_path_factory.mktemp("toy") / "onehot.npy"
    np.save(path, x)
    return open_tensor(path), y          # as the workflow reads it: row blocks from disk


def test_standardiser_uses_the_given_values_only():
    mean, sd = standardiser([1.0, 2.0, 3.0, np.nan])
    assert mean == pytest.approx(2.0) and sd == pytest.approx(np.std([1, 2, 3]))
    assert standardiser([5.0, 5.0]) == (5.0, 1.0)


def test_batches_read_by_index_and_shuffle_reproducibly(toy):
    x, y = toy
    idx = np.array([50, 3, 7, 200, 11, 9, 1])
    ds = one_hot_batches(x, idx, y[idx], batch_size=3, shuffle=True, seed=1)
    assert len(ds) == 3
    seen = []
    for i in range(len(ds)):
        xb, yb = ds[i]
        assert xb.shape[1:] == (12, 4) and xb.dtype == np.float32 and len(xb) <= 3
        rows = idx[ds.positions(i)]
        assert list(rows) == sorted(rows)                 # sorted reads from the file
        np.testing.assert_array_equal(xb, x[rows])
        np.testing.assert_allclose(yb[:, 0], y[rows].astype(np.float32))
        seen.extend(rows)
    assert sorted(seen) == sorted(idx)
    first = [ds.positions(i).tolist() for i in range(len(ds))]
    ds.on_epoch_end()
    second = [ds.positions(i).tolist() for i in range(len(ds))]
    assert first != second
    again = one_hot_batches(x, idx, y[idx], batch_size=3, shuffle=True, seed=1)
    assert [again.positions(i).tolist() for i in range(len(again))] == first
    w = one_hot_batches(x, idx, y[idx], np.arange(7.0), batch_size=3)
    assert len(w[0]) == 3 and list(w[0][2]) == [1.0, 2.0, 0.0]   # rows 3, 7, 50
    assert len(one_hot_batches(x, idx, batch_size=4)[1]) == 1   # prediction: x only


def test_fit_cnn_learns_and_returns_the_original_scale(toy, caplog):
    x, y = toy
    tr, va, te = np.arange(0, 280), np.arange(280, 340), np.arange(340, 400)
    log = logging.getLogger("test_train")
    with caplog.at_level(logging.INFO, logger="test_train"):
        model, hist = fit_cnn(TINY, x, tr, va, y[tr], y[va], seed=0, log=log)
    assert model.layers[-1].name == "to_phenotype_scale"
    mean, sd = standardiser(y[tr])
    assert float(model.layers[-1].scale) == pytest.approx(sd)
    assert float(model.layers[-1].offset) == pytest.approx(mean)
    pred = predict(model, x, te, batch_size=25)
    r2 = 1 - np.sum((y[te] - pred) ** 2) / np.sum((y[te] - y[te].mean()) ** 2)
    assert r2 > 0.8
    assert abs(pred.mean() - y[te].mean()) < 0.5 * y.std()      # original scale, not z-scores
    assert list(hist.columns) == ["epoch", "loss", "val_loss", "learning_rate", "seconds", "best"]
    assert hist["epoch"].tolist() == list(range(1, len(hist) + 1))
    assert hist["best"].sum() == 1
    assert hist.loc[hist["best"], "val_loss"].iloc[0] == hist["val_loss"].min()
    assert sum(r.getMessage().startswith("epoch ") for r in caplog.records) == len(hist)


def test_two_runs_give_the_same_weights_and_weights_matter(toy):
    x, y = toy
    tr, va = np.arange(0, 200), np.arange(200, 260)
    spec = dict(TINY, epochs=2)
    a, _ = fit_cnn(spec, x, tr, va, y[tr], y[va], seed=3)
    b, _ = fit_cnn(spec, x, tr, va, y[tr], y[va], seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-6)
    w = np.where(y[tr] > np.median(y[tr]), 5.0, 0.2)
    c, _ = fit_cnn(spec, x, tr, va, y[tr], y[va], seed=3, weights=w)
    diff = max(np.abs(wa - wc).max() for wa, wc in zip(a.get_weights(), c.get_weights()))
    assert diff > 1e-3


def test_predict_ridge_and_input_checks(toy):
    from seq2pheno.models import fit_ridge
    x, y = toy
    params = fit_ridge(x[:300], y[:300], x[300:], y[300:], [1.0])
    idx = np.array([399, 0, 5])
    np.testing.assert_allclose(predict(params, x, idx),
                               np.asarray(x[idx]).reshape(3, -1) @ params["coef"].reshape(-1)
                               + params["intercept"], rtol=1e-6)
    with pytest.raises(ValueError, match="too few"):
        fit_cnn(TINY, x, [0], [1], y[:1], y[1:2])


def test_trained_model_saves_and_loads(toy, tmp_path):
    import keras
    x, y = toy
    tr, va = np.arange(0, 100), np.arange(100, 140)
    model, _ = fit_cnn(dict(TINY, epochs=1), x, tr, va, y[tr], y[va], seed=0)
    model.save(tmp_path / "model.keras")
    again = keras.models.load_model(tmp_path / "model.keras")
    assert again.layers[-1].name == "to_phenotype_scale"
    np.testing.assert_allclose(predict(again, x, va), predict(model, x, va), rtol=1e-6)


class _CountingTensor(TensorFile):
    """A tensor file that records the rows ``(start, stop)`` of each read from disk."""

    def __init__(self, path):
        super().__init__(path)
        self.reads: list[tuple[int, int]] = []

    def _read(self, start, stop):
        self.reads.append((start, stop))
        return super()._read(start, stop)


def test_training_streams_batches_from_the_file(tmp_path):
    """fit_cnn never loads the tensor: every read is at most one batch of rows, and each epoch
    reads every training row once."""
    x, y = _toy(600)
    np.save(tmp_path / "x.npy", x)
    t = _CountingTensor(tmp_path / "x.npy")
    train, valid = np.arange(0, 400), np.arange(400, 500)      # rows 500-599 never used
    spec = {**TINY, "epochs": 3, "patience": 10}
    fit_cnn(spec, t, train, valid, y[train], y[valid], seed=0)
    sizes = [b - a for a, b in t.reads]
    assert sizes and max(sizes) <= 100                           # a batch (32) or valid (100)
    assert sum(sizes) >= 3 * 500                                 # every epoch read from disk
    assert max(b for _, b in t.reads) <= 500                     # never a row it does not use


# ---- resuming an interrupted training ---------------------------------------------------

# A training that uses every piece of state: dropout (seed states), reverse-complement
# augmentation and shuffling (the data set's epoch), a learning rate halved after 1 epoch
# without improvement and early stopping after 3 (their counters and best weights).
RESUME_SPEC = {"type": "cnn", "conv": [{"filters": 4, "kernel_size": 1}],
               "dense": [{"units": 8, "activation": "relu", "dropout": 0.1}],
               "learning_rate": 0.05, "batch_size": 32, "epochs": 40, "patience": 3,
               "reduce_lr_patience": 1, "reverse_complement": "augment"}

_CHILD = r"""
import json, os, sys
import numpy as np
import keras
from seq2pheno.train import fit_cnn, predict

data, out, backup = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.loads(sys.argv[4])
kill = os.environ.get("S2P_TEST_KILL", "")        # "epoch:E" (after epoch E) or "batch:E:B"
where, *at = (kill or "none").split(":")
at = [int(a) for a in at]
trace = open(os.path.join(os.path.dirname(out), "epochs_run.txt"), "a")
trace.write("run")
trace.flush()
if True:
    class Kill(keras.callbacks.Callback):         # runs after fit_cnn's callbacks
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
            trace.write(f" {epoch + 1}")          # the epochs this run trains
            trace.flush()

        def on_epoch_end(self, epoch, logs=None):
            if where == "epoch" and epoch + 1 == at[0]:
                os.kill(os.getpid(), 9)

        def on_train_batch_end(self, batch, logs=None):
            if where == "batch" and (self.epoch, batch + 1) == tuple(at):
                os.kill(os.getpid(), 9)

    fit = keras.Model.fit
    keras.Model.fit = lambda self, *a, callbacks=(), **k: fit(
        self, *a, callbacks=list(callbacks) + [Kill()], **k)

x = np.load(data, mmap_mode="r")
y = np.load(data.replace(".npy", "_y.npy"))
tr, va = np.arange(0, 280), np.arange(280, 340)
model, hist = fit_cnn(spec, x, tr, va, y[tr], y[va], seed=5,
                      backup_dir=None if backup == "-" else backup)
trace.close()
os.makedirs(out, exist_ok=True)
np.savez(os.path.join(out, "weights.npz"), *model.get_weights())
np.save(os.path.join(out, "pred.npy"), predict(model, x, np.arange(340, 400)))
hist.to_csv(os.path.join(out, "history.tsv"), sep="\t", index=False)
"""


def _run_child(tmp_path, out, backup, kill=None):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, TF_DETERMINISTIC_OPS="1", KERAS_BACKEND="tensorflow",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(repo), S2P_TEST_KILL=kill or "")
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "x.npy"),
                           str(tmp_path / out), str(backup), json.dumps(RESUME_SPEC)],
                          env=env, capture_output=True, text=True, timeout=600)
    return done


def _result(folder):
    with np.load(folder / "weights.npz") as z:
        weights = [z[k] for k in z.files]
    return (weights, np.load(folder / "pred.npy"),
            pd.read_csv(folder / "history.tsv", sep="\t").drop(columns="seconds"))


def test_training_killed_at_any_point_resumes_to_the_same_model(tmp_path):
    """A run SIGKILLed after an epoch, in the middle of one and after the last one (before the
    model is written), then rerun, ends with the weights, predictions and history of an
    uninterrupted run."""
    x, y = _toy(400)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "x_y.npy", y)
    ref = _run_child(tmp_path, "ref", "-")
    assert ref.returncode == 0, ref.stderr[-3000:]
    w_ref, p_ref, h_ref = _result(tmp_path / "ref")
    n = len(h_ref)
    assert 6 < n < RESUME_SPEC["epochs"]                          # stopped early
    assert h_ref["learning_rate"].nunique() > 1                   # the schedule acted
    backup = tmp_path / "model" / ".backup"
    for kill in ("epoch:3", "batch:6:4", f"epoch:{n}"):
        killed = _run_child(tmp_path, "out", backup, kill)
        assert killed.returncode == -9, killed.stderr[-3000:]
        assert (backup / "state.npz").exists() and not (tmp_path / "out").exists()
    last = _run_child(tmp_path, "out", backup)
    assert last.returncode == 0, last.stderr[-3000:]
    w, p, h = _result(tmp_path / "out")
    runs = (tmp_path / "epochs_run.txt").read_text().replace("\n", "").split("run")[1:]
    epochs = [[int(e) for e in r.split()] for r in runs]
    assert epochs[0] == list(range(1, n + 1))                     # the reference
    assert epochs[1] == [1, 2, 3]                                 # killed after epoch 3
    assert epochs[2] == [4, 5, 6]                                 # resumed; killed in epoch 6
    assert epochs[3] == list(range(6, n + 1))                     # resumed; killed at the end
    assert epochs[4] == []                                        # only the model left to write
    for a, b in zip(w, w_ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(p, p_ref, atol=1e-6, rtol=1e-6)
    pd.testing.assert_frame_equal(h, h_ref, rtol=1e-6, atol=1e-6)


def test_a_backup_of_another_run_is_not_resumed(toy, tmp_path, caplog):
    x, y = toy
    tr, va = np.arange(0, 200), np.arange(200, 260)
    spec = dict(TINY, epochs=2)
    backup = tmp_path / ".backup"
    fit_cnn(spec, x, tr, va, y[tr], y[va], seed=3, backup_dir=backup)
    assert (backup / "state.npz").exists()
    fresh, h_fresh = fit_cnn(spec, x, tr, va, y[tr], y[va], seed=4)
    log = logging.getLogger("test_train")
    with caplog.at_level(logging.INFO, logger="test_train"):
        again, h_again = fit_cnn(spec, x, tr, va, y[tr], y[va], seed=4, backup_dir=backup,
                                 log=log)
    assert any("another training run" in r.getMessage() for r in caplog.records)
    assert len(h_again) == 2
    for a, b in zip(again.get_weights(), fresh.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    remove_backup(backup)
    assert not backup.exists()


def test_min_delta_ignores_small_improvements(toy):
    """With min_delta, early stopping counts only falls of the validation loss of at least
    min_delta; the restored weights, and the history's best epoch, are those of the last such
    epoch."""
    x, y = toy
    tr, va = np.arange(0, 200), np.arange(200, 260)
    model, hist = fit_cnn(dict(TINY, min_delta=10.0, patience=2), x, tr, va, y[tr], y[va],
                          seed=2)
    assert len(hist) == 3 and hist["best"].tolist() == [True, False, False]
    first, _ = fit_cnn(dict(TINY, epochs=1), x, tr, va, y[tr], y[va], seed=2)
    for a, b in zip(model.get_weights(), first.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
