"""Training of the CNNs: standardised phenotype, batches streamed from the tensor on disk.

The one-hot tensor ``onehot`` (``N x L x 4`` float32: an array, or the workflow's
:class:`seq2pheno.tensorfile.TensorFile`) is never loaded whole: :class:`OneHotBatches` reads one batch of rows at a time, in sorted row
order. Phenotypes are standardised with the training split's mean and SD only
(:func:`standardiser`); the returned model ends with
``Rescaling(scale=sd, offset=mean, name="to_phenotype_scale")`` so ``model.predict`` gives the
original scale.

Reproducibility: :func:`fit_cnn` seeds Python, NumPy and the backend with
``keras.utils.set_random_seed(seed)`` and shuffles from the seed, so two runs with the same
inputs and seed give the same weights (within 1e-6 on CPU, tested with TensorFlow). For
bit-identical reruns with TensorFlow also set ``TF_DETERMINISTIC_OPS=1`` in the environment
before Keras is imported (the workflow's scripts do; on GPUs this is required).

Preemption: with ``backup_dir`` :func:`fit_cnn` writes the whole training state at the end of
each epoch (model and optimizer variables, learning rate, early-stopping and learning-rate
schedule counters, best weights, the epoch log, the batches' epoch counter) and a rerun after a
kill (Slurm TIMEOUT, preemption, ``kill -9``) resumes after the last completed epoch, ending
as the uninterrupted run would (tested within 1e-6 on CPU). :func:`seq2pheno.steps.train` keeps
it in ``<model dir>/.backup/`` (not a Snakemake output, so Snakemake does not delete it with an
incomplete job's outputs) and removes it once the model is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .models import build_cnn, resolve_spec, take_rows


def standardiser(y_train) -> tuple[float, float]:
    """Mean and SD (ddof=0) of the training phenotypes, ignoring NaN.

    An SD of 0 (constant phenotype) or fewer than 2 values give SD = 1.0 so that scaling is
    a no-op rather than a division by zero.
    """
    y = np.asarray(y_train, dtype=np.float64)
    y = y[np.isfinite(y)]
    if len(y) == 0:
        raise ValueError("no finite training phenotype to standardise")
    mean = float(y.mean())
    sd = float(y.std()) if len(y) > 1 else 0.0
    if not np.isfinite(sd) or sd == 0.0:
        sd = 1.0
    return mean, sd


def _pydataset_base():
    import keras
    return keras.utils.PyDataset


def _make_batches_class():
    base = _pydataset_base()

    class _OneHotBatches(base):
        """Keras ``PyDataset`` of ``(x, y[, w])`` batches read by index from ``onehot``.

        onehot: ``N x L x 4`` array or TensorFile; idx: rows to serve (``n`` ints); y: ``n``
        targets in the order of ``idx`` (or None for prediction: batches are ``x`` only);
        weights: optional ``n`` sample weights. Each batch reads its rows in sorted order
        (``x`` of shape ``(<=batch_size, L, 4)`` float32, ``y`` of shape ``(b, 1)``).
        With ``shuffle=True`` the order is a fresh permutation each epoch drawn from
        ``np.random.default_rng([seed, epoch])``, so it is reproducible and independent of
        how many batches were read before; ``on_epoch_end`` advances the epoch. With
        ``rc_augment=True`` each row of batch ``i`` is reverse-complemented
        (``x[::-1, ::-1]``) with probability 1/2, drawn from ``[seed, epoch, i, 7]``.
        """

        def __init__(self, onehot, idx, y=None, weights=None, *, batch_size: int = 64,
                     shuffle: bool = False, seed: int = 0, rc_augment: bool = False):
            super().__init__(workers=1, use_multiprocessing=False, max_queue_size=10)
            self.onehot = onehot
            self.idx = np.asarray(idx, dtype=np.int64)
            self.y = None if y is None else np.asarray(y, dtype=np.float32).reshape(-1)
            self.weights = None if weights is None else np.asarray(weights, np.float32).reshape(-1)
            if self.y is not None and len(self.y) != len(self.idx):
                raise ValueError(f"{len(self.idx)} indices but {len(self.y)} targets")
            if self.weights is not None and len(self.weights) != len(self.idx):
                raise ValueError(f"{len(self.idx)} indices but {len(self.weights)} weights")
            self.batch_size = int(batch_size)
            self.shuffle = bool(shuffle)
            self.seed = int(seed)
            self.rc_augment = bool(rc_augment)
            self.epoch = 0
            self._order = self._make_order()

        def _make_order(self) -> np.ndarray:
            if not self.shuffle:
                return np.arange(len(self.idx))
            return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.idx))

        @property
        def num_batches(self) -> int:
            return math.ceil(len(self.idx) / self.batch_size)

        def __len__(self) -> int:
            return self.num_batches

        def positions(self, i: int) -> np.ndarray:
            """Positions into ``idx`` served by batch ``i``, sorted by tensor row."""
            pos = self._order[i * self.batch_size:(i + 1) * self.batch_size]
            return pos[np.argsort(self.idx[pos], kind="stable")]

        def __getitem__(self, i: int):
            if i < 0 or i >= self.num_batches:
                raise IndexError(i)
            pos = self.positions(i)
            x = np.asarray(self.onehot[self.idx[pos]], dtype=np.float32)
            if self.rc_augment:
                # reverse complement (positions and channels A,C,G,T reversed) each row with
                # probability 1/2, drawn from [seed, epoch, batch]: reproducible
                flip = np.random.default_rng([self.seed, self.epoch, i, 7]).random(len(x)) < 0.5
                x = np.array(x, copy=True)
                x[flip] = x[flip, ::-1, ::-1]
            if self.y is None:
                return (x,)
            y = self.y[pos].reshape(-1, 1)
            if self.weights is None:
                return x, y
            return x, y, self.weights[pos]

        def on_epoch_end(self):
            self.epoch += 1
            self._order = self._make_order()

    return _OneHotBatches


_BATCHES_CLS = None


def one_hot_batches(onehot, idx, y=None, weights=None, *, batch_size: int = 64,
                    shuffle: bool = False, seed: int = 0, rc_augment: bool = False):
    """Build the ``keras.utils.PyDataset`` described in ``_OneHotBatches`` (see its docstring)."""
    global _BATCHES_CLS
    if _BATCHES_CLS is None:
        _BATCHES_CLS = _make_batches_class()
    return _BATCHES_CLS(onehot, idx, y, weights, batch_size=batch_size, shuffle=shuffle,
                        seed=seed, rc_augment=rc_augment)


def _current_lr(optimizer) -> float:
    """The optimizer's current learning rate as a Python float (any backend)."""
    import keras
    lr = optimizer.learning_rate
    lr = getattr(lr, "value", lr)
    return float(keras.ops.convert_to_numpy(lr))


def _epoch_logger(log: logging.Logger | None, total_epochs: int):
    import keras

    class _EpochLog(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows: list[dict] = []
            self._t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            lr = _current_lr(self.model.optimizer)
            row = {"epoch": epoch + 1, "loss": float(logs.get("loss", np.nan)),
                   "val_loss": float(logs.get("val_loss", np.nan)), "learning_rate": lr,
                   "seconds": time.perf_counter() - self._t0}
            self.rows.append(row)
            if log is not None:
                log.info("epoch %d/%d loss %.5f val_loss %.5f lr %.3g %.1f s", row["epoch"],
                         total_epochs, row["loss"], row["val_loss"], lr, row["seconds"])

    return _EpochLog()


BACKUP_FILE = "state.npz"


def _fingerprint(spec, shape, seed, train_idx, valid_idx, zt, zv, weights) -> str:
    """SHA-256 of everything that determines a training run: a backup is resumed only by the
    same run (same spec, seed, tensor shape, rows, targets and weights, and Keras version)."""
    import keras

    h = hashlib.sha256()
    h.update(json.dumps({"spec": spec, "shape": list(shape), "seed": int(seed),
                         "keras": keras.__version__}, sort_keys=True, default=str).encode())
    for a in (train_idx, valid_idx, zt, zv, weights):
        h.update(b"|" if a is None else np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def read_backup(backup_dir) -> tuple[dict, dict[str, list[np.ndarray]]] | None:
    """The state of an interrupted :func:`fit_cnn` in ``backup_dir`` as ``(meta, arrays)``, or
    None when there is none (or it cannot be read: a fresh start)."""
    path = Path(backup_dir) / BACKUP_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: [z[f"{k}/{i}"] for i in range(meta["counts"][k])]
                      for k in meta["counts"]}
    except Exception:                                           # noqa: BLE001  torn / foreign
        return None
    return meta, arrays


def remove_backup(backup_dir) -> None:
    """Delete the backup folder of :func:`fit_cnn` (after the trained model has been written)."""
    if backup_dir is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)


def _backup_callback(backup_dir, fingerprint, *, train_ds, stopper, reducer, epoch_log,
                     total_epochs, resume):
    """Keras callback that writes the whole training state at the end of every epoch into
    ``backup_dir/state.npz`` (atomically: a kill leaves the previous epoch's file) and, when
    ``resume`` = :func:`read_backup`'s result, puts it back at the start of training.

    State: every model variable (weights, batch-norm statistics, dropout seed states), every
    optimizer variable (Adam moments, iteration count, current learning rate; loss scale with
    mixed precision), EarlyStopping (wait, best, best epoch, best weights), ReduceLROnPlateau
    (wait, cooldown, best), the epoch-log rows and the training batches' epoch counter (which
    fixes the shuffling and augmentation of the epochs still to run). It must come after those
    callbacks in the list so that it saves their state after they have run for the epoch.
    """
    import keras

    class _Backup(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            # runs after EarlyStopping / ReduceLROnPlateau reset themselves
            if resume is None:
                return
            meta, arrays = resume
            _restore_state(self.model, meta, arrays, train_ds=train_ds, stopper=stopper,
                           reducer=reducer, epoch_log=epoch_log)

        def on_epoch_end(self, epoch, logs=None):
            done = bool(self.model.stop_training) or epoch + 1 >= total_epochs
            _write_state(backup_dir, self.model, epoch + 1, done, fingerprint,
                         train_ds=train_ds, stopper=stopper, reducer=reducer,
                         epoch_log=epoch_log)

    return _Backup()


def _opt_variables(model):
    return list(model.optimizer.variables)


def _write_state(backup_dir, model, epochs_done, done, fingerprint, *, train_ds, stopper,
                 reducer, epoch_log) -> None:
    from .atomic import atomic_path

    import keras

    def numpy(vs):
        return [np.asarray(keras.ops.convert_to_numpy(v)) for v in vs]

    arrays = {"model": numpy(model.variables), "optimizer": numpy(_opt_variables(model)),
              "best_weights": [np.asarray(w) for w in (stopper.best_weights or [])]}
    meta = {"version": 1, "fingerprint": fingerprint, "epochs_done": int(epochs_done),
            "done": bool(done), "dataset_epoch": int(train_ds.epoch),
            "rows": epoch_log.rows,
            "early_stopping": {"wait": int(stopper.wait),
                               "best": None if stopper.best is None else float(stopper.best),
                               "best_epoch": int(stopper.best_epoch),
                               "stopped_epoch": int(stopper.stopped_epoch),
                               "has_best_weights": stopper.best_weights is not None},
            "reduce_lr": {"wait": int(reducer.wait), "cooldown_counter": int(reducer.cooldown_counter),
                          "best": None if reducer.best is None else float(reducer.best)},
            "counts": {k: len(v) for k, v in arrays.items()}}
    flat = {f"{k}/{i}": a for k, v in arrays.items() for i, a in enumerate(v)}
    with atomic_path(Path(backup_dir) / BACKUP_FILE) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta, default=float)), **flat)
            fh.flush()
            os.fsync(fh.fileno())


def _restore_state(model, meta, arrays, *, train_ds, stopper, reducer, epoch_log) -> None:
    model_vars = model.variables
    if len(model_vars) != len(arrays["model"]):
        raise ValueError("backup does not match the model")
    for v, a in zip(model_vars, arrays["model"]):
        v.assign(a)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    opt_vars = _opt_variables(model)
    if len(opt_vars) != len(arrays["optimizer"]):
        raise ValueError("backup does not match the optimizer")
    for v, a in zip(opt_vars, arrays["optimizer"]):
        v.assign(a)
    es = meta["early_stopping"]
    stopper.wait, stopper.best = es["wait"], es["best"]
    stopper.best_epoch, stopper.stopped_epoch = es["best_epoch"], es["stopped_epoch"]
    stopper.best_weights = list(arrays["best_weights"]) if es["has_best_weights"] else None
    rl = meta["reduce_lr"]
    reducer.wait, reducer.cooldown_counter, reducer.best = (rl["wait"], rl["cooldown_counter"],
                                                            rl["best"])
    epoch_log.rows = [dict(r) for r in meta["rows"]]
    train_ds.epoch = int(meta["dataset_epoch"])
    train_ds._order = train_ds._make_order()


def fit_cnn(spec: dict, onehot, train_idx, valid_idx, y_train, y_valid, *, weights=None,
            seed: int = 0, log: logging.Logger | None = None, backup_dir=None, positions=None,
            callbacks=(), schedule=None):
    """Train the CNN of ``spec`` on rows ``train_idx`` of ``onehot``; early-stop on ``valid_idx``.

    onehot: ``N x L x 4`` float32 array or TensorFile (never loaded whole).
    train_idx, valid_idx: integer row indices; y_train, y_valid: phenotypes (original scale)
    in the same order; weights: optional training sample weights (length of train_idx).
    Targets are standardised with the training mean/SD (:func:`standardiser`). Training:
    Adam(``learning_rate``), MSE, ``batch_size``, up to ``epochs`` epochs, EarlyStopping on
    ``val_loss`` (``patience``, ``min_delta``, best weights restored), ReduceLROnPlateau
    (``reduce_lr_patience``, ``reduce_lr_factor``), seeded by ``seed``. One log line per epoch.

    Returns ``(model, history)``: ``model`` is a ``keras.Sequential`` whose last layer is
    ``Rescaling(scale=sd, offset=mean, name="to_phenotype_scale")`` (predictions on the original
    scale, shape ``(n, 1)``); ``history`` has columns epoch (1-based), loss, val_loss (MSE on
    the standardised scale), learning_rate, seconds (wall time of the epoch) and best (True
    for the epoch whose weights were restored).

    positions: the screened positions of a ``screen`` spec (:func:`build_cnn`).

    callbacks: extra Keras callbacks, run after the built-in ones each epoch (a search trial's
    pruning callback, :func:`seq2pheno.search.PruningCallback`).

    schedule: None, or the learning rate of each epoch (a refit, :func:`learning_rates`):
    exactly ``len(schedule)`` epochs at those rates, without early stopping or validation rows
    (``valid_idx`` may be empty; ``val_loss`` is NaN) and without a backup.

    backup_dir: None (no backup) or a folder where the whole training state is written at the
    end of every epoch (``state.npz``, atomically). A run that finds a backup of the same
    training (same spec, seed, rows, targets, weights) there resumes after its last completed
    epoch and ends as an uninterrupted run would (weights, history and data order: equal within
    1e-6 on the CPU); a backup of another run is removed. The backup is left in place (marked
    finished) when this returns, so that a kill before the caller has written the model costs
    nothing: the caller removes it with :func:`remove_backup` once the model is saved.
    """
    import keras

    spec = resolve_spec("model", spec)
    if spec["type"] != "cnn":
        raise ValueError(f"fit_cnn needs a cnn spec, got type {spec['type']!r}")
    train_idx = np.asarray(train_idx, dtype=np.int64)
    valid_idx = np.asarray(valid_idx, dtype=np.int64)
    y_train = np.asarray(y_train, dtype=np.float64)
    y_valid = np.asarray(y_valid, dtype=np.float64)
    if len(train_idx) != len(y_train) or len(valid_idx) != len(y_valid):
        raise ValueError("indices and phenotypes must have the same length")
    if len(train_idx) < 2 or (len(valid_idx) < 1 and schedule is None):
        raise ValueError(f"too few samples to train: {len(train_idx)} train, "
                         f"{len(valid_idx)} valid")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float32)
        if len(weights) != len(train_idx):
            raise ValueError("weights must have one value per training sample")
    mean, sd = standardiser(y_train)
    zt = ((y_train - mean) / sd).astype(np.float32)
    zv = ((y_valid - mean) / sd).astype(np.float32)

    keras.utils.set_random_seed(int(seed))
    model = build_cnn(spec, tuple(onehot.shape[1:]), positions)
    optimizer = keras.optimizers.Adam(learning_rate=spec["learning_rate"])
    if spec["mixed_precision"]:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="mse")

    bs = spec["batch_size"]
    train_ds = one_hot_batches(onehot, train_idx, zt, weights, batch_size=bs, shuffle=True,
                               seed=seed,
                               rc_augment=spec.get("reverse_complement") == "augment")
    epoch_log = _epoch_logger(log, spec["epochs"] if schedule is None else len(schedule))
    if schedule is not None:
        rates = [float(r) for r in schedule]
        if not rates:
            raise ValueError("a refit schedule needs at least one epoch")
        if log is not None:
            log.info("refit %s: %d train samples, %d epochs at the learning rates of the early-"
                     "stopped run, mean %.4g sd %.4g", model.name, len(train_idx), len(rates), mean, sd)
        model.fit(train_ds, epochs=len(rates), verbose=0, shuffle=False,
                  callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: rates[e]), epoch_log,
                             *callbacks])
        history = pd.DataFrame(epoch_log.rows,
                               columns=["epoch", "loss", "val_loss", "learning_rate", "seconds"])
        history["best"] = history["epoch"] == len(rates)
        return _to_phenotype_scale(model, onehot, mean, sd), history
    valid_ds = one_hot_batches(onehot, valid_idx, zv, batch_size=max(bs, 1024))
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec["patience"],
                                            min_delta=spec.get("min_delta", 0.0),
                                            restore_best_weights=True)
    reducer = keras.callbacks.ReduceLROnPlateau(monitor="val_loss",
                                                factor=spec["reduce_lr_factor"],
                                                patience=spec["reduce_lr_patience"], min_lr=1e-6)
    callbacks = [stopper, reducer, epoch_log, *callbacks]
    resume = None
    if backup_dir is not None:
        fingerprint = _fingerprint(spec, onehot.shape, seed, train_idx, valid_idx, zt, zv,
                                   weights)
        resume = read_backup(backup_dir)
        if resume is not None and resume[0].get("fingerprint") != fingerprint:
            if log is not None:
                log.warning("backup in %s is of another training run: starting afresh",
                            backup_dir)
            remove_backup(backup_dir)
            resume = None
        callbacks.append(_backup_callback(backup_dir, fingerprint, train_ds=train_ds,
                                          stopper=stopper, reducer=reducer,
                                          epoch_log=epoch_log, total_epochs=spec["epochs"],
                                          resume=resume))
    if log is not None:
        log.info("training %s: %d train, %d valid, %d parameters, mean %.4g sd %.4g",
                 model.name, len(train_idx), len(valid_idx), model.count_params(), mean, sd)
        if resume is not None:
            log.info("resuming from the backup in %s: %d of %d epochs done%s", backup_dir,
                     resume[0]["epochs_done"], spec["epochs"],
                     " (training had finished)" if resume[0]["done"] else "")
    if resume is not None and resume[0]["done"]:
        # killed after the last epoch, before the model was written: nothing left to train
        _restore_state(model, *resume, train_ds=train_ds, stopper=stopper, reducer=reducer,
                       epoch_log=epoch_log)
        if stopper.best_weights is not None:           # as EarlyStopping.on_train_end does
            model.set_weights(stopper.best_weights)
    else:
        model.fit(train_ds, validation_data=valid_ds, epochs=spec["epochs"],
                  callbacks=callbacks, verbose=0, shuffle=False,
                  initial_epoch=0 if resume is None else int(resume[0]["epochs_done"]))
    history = pd.DataFrame(epoch_log.rows,
                           columns=["epoch", "loss", "val_loss", "learning_rate", "seconds"])
    # the epoch whose weights EarlyStopping restored: with min_delta > 0 the last one that
    # improved on the best by min_delta, not necessarily the lowest validation loss
    best_epoch = int(stopper.best_epoch) + 1 if len(history) else 0
    history["best"] = history["epoch"] == best_epoch
    if log is not None:
        log.info("best epoch %d of %d (val_loss %.5f)", best_epoch, len(history),
                 float(history.loc[history["best"], "val_loss"].min()) if len(history) else
                 float("nan"))

    return _to_phenotype_scale(model, onehot, mean, sd), history


def _to_phenotype_scale(model, onehot, mean: float, sd: float):
    """``model`` followed by ``Rescaling(sd, mean)``: predictions on the phenotype's scale."""
    import keras

    return keras.Sequential(
        [keras.Input(shape=tuple(onehot.shape[1:]), name="input")] + list(model.layers)
        + [keras.layers.Rescaling(scale=sd, offset=mean, name="to_phenotype_scale")],
        name=model.name)


def learning_rates(history: pd.DataFrame, first: float) -> list[float]:
    """The learning rate of each epoch up to the best one of an early-stopped ``history``
    (:func:`fit_cnn`), ``first`` the spec's: the schedule of a refit. The history records the
    rate at the end of each epoch, after ReduceLROnPlateau, so epoch e ran at the rate recorded
    for epoch e - 1."""
    best = history.index[history["best"].to_numpy(dtype=bool)]
    n = int(history.loc[best[0], "epoch"]) if len(best) else len(history)
    recorded = history["learning_rate"].to_numpy(dtype=float)
    return [float(first)] + [float(r) for r in recorded[:max(n - 1, 0)]]


def predict(model, onehot, idx=None, batch_size: int = 1024) -> np.ndarray:
    """Predictions for rows ``idx`` of ``onehot`` (all rows when None), shape ``(n,)`` float64.

    ``model`` is a Keras model (output ``(batch, 1)``, original scale) or a trained model of
    another kind (a dict naming its ``kind``: :func:`seq2pheno.models.predict`). Rows are read
    ``batch_size`` at a time.
    """
    idx = np.arange(len(onehot)) if idx is None else np.asarray(idx, dtype=np.int64)
    if len(idx) == 0:
        return np.zeros(0)
    if isinstance(model, dict):
        from .models import Rows, predict as predict_any

        return predict_any(model, Rows(onehot, idx))
    out = np.empty(len(idx))
    for start in range(0, len(idx), batch_size):
        x = take_rows(onehot, idx[start:start + batch_size])
        p = model.predict_on_batch(x)
        out[start:start + len(x)] = np.asarray(p, dtype=np.float64).reshape(len(x), -1)[:, 0]
    return out
