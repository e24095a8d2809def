"""Hyperparameter search with Optuna: a search space over spec keys, run as many jobs.

A model entry of the config may carry ``search:`` (schema :data:`SEARCH_SCHEMA`)::

    models:
      cnn_search:
        preset: default
        search:
          trials: 40          # trials in total, over all workers
          workers: 4          # jobs that run trials at the same time
          seed: 0
          pruner: median      # median | halving | none
          metric: val_loss
          space:
            preset: {choice: [default, genotype_cnn]}   # choose among architectures
            learning_rate: {log: [1.0e-4, 1.0e-2]}
            dense.0.units: {choice: [16, 32, 64, 128]}
            dense.0.l1: {log: [1.0e-6, 1.0e-2]}
            conv.0.kernel_size: {int: [1, 15]}
            dense.0.dropout: {float: [0.0, 0.5]}

Each key of ``space`` is a dotted path into the *resolved* spec of the entry
(:func:`seq2pheno.models.resolve_spec`): ``dense.0.units`` is ``spec["dense"][0]["units"]``.
A range is a one-key mapping: ``log: [low, high]`` (float, log-uniform, ``0 < low < high``),
``float: [low, high]`` (uniform), ``int: [low, high]`` (integers, both ends included),
``choice: [a, b, ...]`` (any values; lists and mappings are allowed and are shown as JSON).
``preset`` chooses the preset the entry starts from; every other path must exist in the
resolved spec of every preset it may choose, and both ends of every range (each choice) must
be a valid value there (:func:`parse_space` checks all of it and raises a one-line
:class:`~seq2pheno.models.base.SpecError` naming the key).

Storage: one Optuna *journal* file per study (``JournalStorage`` on a ``JournalFileBackend``,
an append-only log guarded by a symlink lock that works on NFS): no database server, so the
workers can be independent Slurm jobs on a shared file system. :func:`open_study` creates or
joins a study; :func:`run_worker` runs one worker's trials (``workers`` jobs each running
:func:`worker_trials` of them complete ``trials`` in total); :func:`trials_table` and
:func:`best_entry` read the result. The objective is ``objective(entry, trial) -> validation
loss`` (smaller is better); it may call ``trial.report(value, epoch)`` and
``trial.should_prune()`` (raising :class:`optuna.TrialPruned`), or pass
:func:`PruningCallback` to ``keras.Model.fit``, which does both with ``val_loss``.

Reproducibility: the sampler is ``TPESampler(seed=worker_seed(seed, worker))``. With one
worker, a fixed seed and a deterministic objective, the trials repeat exactly (same
parameters in the same order, same values). With several workers they do not: each worker's
sampler is seeded, but what TPE samples depends on the trials already finished (and, by the
constant liar, on those running) when a trial starts, which is the order in which jobs happen
to start and finish. What stays fixed with several workers is the number of trials, the space,
each worker's seed, and the rule that picks the best (lowest validation loss among complete
trials, ties to the lower trial number); a trial's value for given parameters is as
reproducible as the objective. A worker that is run again (a Slurm requeue) resumes: it
counts the trials it finished before and marks its trials left running as failed.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from .models.base import SpecError

#: The ``search:`` key of a model entry (the lead adds it to the entry schema).
_RANGE_PAIR = {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}
SEARCH_SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["space"],
    "properties": {
        "trials": {"type": "integer", "minimum": 1, "default": 20,
                   "description": "trials in total, over all workers"},
        "workers": {"type": "integer", "minimum": 1, "default": 1,
                    "description": "jobs running trials at the same time (one journal file)"},
        "seed": {"type": "integer", "minimum": 0, "default": 0,
                 "description": "seed of the samplers (worker i: worker_seed(seed, i))"},
        "pruner": {"enum": ["median", "halving", "none"], "default": "median",
                   "description": "stop unpromising trials early from their per-epoch "
                                  "validation loss"},
        "metric": {"type": "string", "pattern": "^val", "default": "val_loss",
                   "description": "the validation metric minimised (a history column)"},
        "space": {
            "type": "object", "minProperties": 1,
            "description": "dotted spec path -> range: {log|float|int: [low, high]} or "
                           "{choice: [values]}",
            "additionalProperties": {
                "type": "object", "minProperties": 1, "maxProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "log": _RANGE_PAIR, "float": _RANGE_PAIR,
                    "int": {"type": "array", "minItems": 2, "maxItems": 2,
                            "items": {"type": "integer"}},
                    "choice": {"type": "array", "minItems": 1},
                },
            },
        },
    },
}
SEARCH_DEFAULTS = {k: v["default"] for k, v in SEARCH_SCHEMA["properties"].items() if "default" in v}

RANGE_KINDS = ("log", "float", "int", "choice")

#: Pruners by name. median: a trial is stopped at an epoch when its best validation loss so
#: far is worse than the median of the earlier trials at that epoch (after 5 complete trials
#: and 5 epochs); halving: asynchronous successive halving. Both compare a trial only with
#: trials of the same ``preset`` when the space chooses one (:func:`same_preset_pruner`).
PRUNER_NAMES = ("median", "halving", "none")


def _primitive(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


@dataclass(frozen=True)
class Param:
    """One searched key: its dotted ``path``, range ``kind`` (log, float, int, choice) and
    ``low``/``high`` or ``choices``. Choices that are not all None/bool/int/float/str are
    offered to Optuna as JSON strings (``encoded``) and decoded when set."""

    path: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple = ()
    encoded: bool = False

    def sample(self, trial):
        """The value the trial suggests (decoded)."""
        if self.kind == "log":
            return trial.suggest_float(self.path, self.low, self.high, log=True)
        if self.kind == "float":
            return trial.suggest_float(self.path, self.low, self.high)
        if self.kind == "int":
            return trial.suggest_int(self.path, self.low, self.high)
        if self.encoded:
            return json.loads(trial.suggest_categorical(self.path, [json.dumps(c) for c in self.choices]))
        return trial.suggest_categorical(self.path, list(self.choices))

    def extremes(self) -> list:
        """The values a valid range must allow: both ends, or every choice."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]

    def offered(self, value):
        """``value`` as Optuna is offered it (encoded for JSON choices) when the range holds
        it, else None."""
        if self.kind == "choice":
            return (json.dumps(value) if self.encoded else value) if value in self.choices else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if self.kind == "int" and value != int(value):
            return None
        return value if self.low <= value <= self.high else None


def _where(name: str, path: str) -> str:
    return f"model {name!r}: search.space.{path}"


def _parse_range(path: str, rng, name: str) -> Param:
    where = _where(name, path)
    if not isinstance(rng, dict) or len(rng) != 1:
        raise SpecError(f"{where}: expected a one-key mapping {{log|float|int: [low, high]}} or "
                        f"{{choice: [values]}}, got {rng!r}")
    (kind, value), = rng.items()
    if kind not in RANGE_KINDS:
        raise SpecError(f"{where}: unknown range kind {kind!r}; one of {list(RANGE_KINDS)}")
    if kind == "choice":
        if not isinstance(value, (list, tuple)) or len(value) == 0:
            raise SpecError(f"{where}: choice needs a non-empty list of values, got {value!r}")
        choices = tuple(copy.deepcopy(list(value)))
        encoded = not all(_primitive(c) for c in choices)
        keys = [json.dumps(c, sort_keys=True) for c in choices]
        if len(set(keys)) != len(keys):
            raise SpecError(f"{where}: choice lists a value twice: {list(value)!r}")
        return Param(path, kind, choices=choices, encoded=encoded)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise SpecError(f"{where}: {kind} needs [low, high], got {value!r}")
    low, high = value
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numeric or not all(math.isfinite(v) for v in (low, high)):
        raise SpecError(f"{where}: {kind} bounds must be finite numbers, got {list(value)!r}")
    if kind == "int":
        if not all(float(v).is_integer() for v in (low, high)):
            raise SpecError(f"{where}: int bounds must be integers, got {list(value)!r}")
        low, high = int(low), int(high)
    else:
        low, high = float(low), float(high)
    if low >= high:
        raise SpecError(f"{where}: need low < high, got {list(value)!r}")
    if kind == "log" and low <= 0:
        raise SpecError(f"{where}: log bounds must be positive, got {list(value)!r}")
    return Param(path, kind, low, high)


# ---- dotted paths ---------------------------------------------------------------------------


def _step(node, part: str, path: str, name: str):
    """The key of ``part`` in ``node`` (a list index or a mapping key); SpecError if absent."""
    if isinstance(node, list):
        if not part.lstrip("-").isdigit() or not 0 <= int(part) < len(node):
            raise SpecError(f"{_where(name, path)}: no item {part!r} in a list of {len(node)}")
        return int(part)
    if isinstance(node, dict):
        if part not in node:
            raise SpecError(f"{_where(name, path)}: no key {part!r} here; known: {sorted(node)}")
        return part
    raise SpecError(f"{_where(name, path)}: {part!r} goes into a {type(node).__name__}")


def check_path(spec: dict, path: str, name: str = "model") -> None:
    """SpecError unless ``path`` names a value of the resolved ``spec`` (not ``type``)."""
    parts = path.split(".")
    if path in ("type", "candidates", "search") or "" in parts:
        raise SpecError(f"{_where(name, path)}: not a searchable key")
    node = spec
    for part in parts:
        node = node[_step(node, part, path, name)]


def set_path(entry: dict, path: str, value, resolved: dict, name: str = "model") -> dict:
    """Set ``value`` at the dotted ``path`` of a config ``entry`` (in place; returned).

    A path below a top-level key the entry does not have (it comes from the preset or the
    defaults) first copies that key's value from ``resolved``, the entry's resolved spec (a
    layer list then replaces the preset's as a whole, with the same values)."""
    parts = path.split(".")
    top = parts[0]
    if len(parts) == 1:
        entry[top] = copy.deepcopy(value)
        return entry
    if top not in entry:
        check_path(resolved, path, name)
        entry[top] = copy.deepcopy(resolved[top])
    node = entry[top]
    for i, part in enumerate(parts[1:], 1):
        if isinstance(node, dict) and part not in node and i == len(parts) - 1:
            key = part                  # a layer key the entry leaves to the defaults
        else:
            key = _step(node, part, path, name)
        if i == len(parts) - 1:
            node[key] = copy.deepcopy(value)
        else:
            node = node[key]
    return entry


def _plain(entry: dict | None) -> dict:
    """The entry without its search (a mapping resolve_spec accepts)."""
    entry = copy.deepcopy(dict(entry or {}))
    entry.pop("search", None)
    return entry


# ---- the space ------------------------------------------------------------------------------


def parse_space(space: dict, base_name: str, base_entry: dict | None = None) -> list[Param]:
    """The search space of model ``base_name`` (entry ``base_entry``), checked.

    ``preset`` (when searched) comes first, then the other keys in their config order. Each
    path must exist in the resolved spec of every preset that may be chosen, and every end of
    a range (every choice) must give a valid spec. Raises :class:`SpecError`, one line naming
    the key."""
    from .models import resolve_spec

    if not isinstance(space, dict) or not space:
        raise SpecError(f"model {base_name!r}: search.space: needs at least one key, got {space!r}")
    params = [_parse_range(str(path), rng, base_name) for path, rng in space.items()]
    params.sort(key=lambda p: p.path != "preset")          # stable: preset first
    base = _plain(base_entry)
    presets = [p for p in params if p.path == "preset"]
    bases = []
    if presets:
        from .models import PRESETS
        for choice in presets[0].extremes():
            if presets[0].kind != "choice" or not isinstance(choice, str) or choice not in PRESETS:
                raise SpecError(f"{_where(base_name, 'preset')}: needs {{choice: [preset names]}}; "
                                f"{choice!r} is not a preset (known: {sorted(PRESETS)})")
            b = dict(base, preset=choice)
            b.pop("candidates", None)
            bases.append(b)
    else:
        bases.append(base)
    for b in bases:
        label = f" (preset {b['preset']!r})" if presets else ""
        try:
            resolved = resolve_spec(base_name, b)
        except SpecError as err:
            raise SpecError(f"{_where(base_name, 'preset')}{label}: {err}") from None
        for p in params:
            if p.path == "preset":
                continue
            try:
                check_path(resolved, p.path, base_name)
            except SpecError as err:
                raise SpecError(f"{err}{label}") from None
            for v in p.extremes():
                trial_entry = set_path(copy.deepcopy(b), p.path, v, resolved, base_name)
                try:
                    resolve_spec(base_name, trial_entry)
                except SpecError as err:
                    raise SpecError(f"{_where(base_name, p.path)}: value {v!r} is not valid"
                                    f"{label}: {err}") from None
    return params


def parse_search(search: dict, base_name: str, base_entry: dict | None = None) -> tuple[dict, list[Param]]:
    """``search:`` of an entry checked against :data:`SEARCH_SCHEMA` and completed with its
    defaults, and its parsed space. Raises :class:`SpecError` naming the key."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SEARCH_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(search))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        raise SpecError(f"model {base_name!r}: search{'.' + where if where else ''}: {error.message}")
    full = dict(SEARCH_DEFAULTS, **copy.deepcopy(search))
    return full, parse_space(full["space"], base_name, base_entry)


def suggest(trial, params: list[Param], base_entry: dict | None, base_name: str = "model") -> dict:
    """The entry of one trial: ``base_entry`` (without ``search``) with each param's sampled
    value set at its dotted path; a sampled ``preset`` replaces the base's first. Works with
    any Optuna trial, :class:`optuna.trial.FixedTrial` included; the result is resolvable by
    :func:`seq2pheno.models.resolve_spec`."""
    from .models import resolve_spec

    entry = _plain(base_entry)
    rest = params
    if params and params[0].path == "preset":
        entry["preset"] = params[0].sample(trial)
        entry.pop("candidates", None)
        rest = params[1:]
    resolved = None
    for p in rest:
        value = p.sample(trial)
        top = p.path.split(".")[0]
        if "." in p.path and top not in entry and resolved is None:
            resolved = resolve_spec(base_name, entry)
        set_path(entry, p.path, value, resolved or {}, base_name)
    return entry


def starting_points(params: list[Param], base_entry: dict | None, base_name: str = "model") -> list[dict]:
    """The settings a search tries first: for each ``preset`` it may choose (or, without one,
    the entry as configured), the values of that spec at the searched paths that the ranges
    hold (the others are sampled). So a search never does worse on validation than the presets
    it chooses among, as they stand (``{path: value}`` dicts, values as Optuna is offered them)."""
    from .models import resolve_spec

    entry = _plain(base_entry)
    presets = [None]
    rest = params
    if params and params[0].path == "preset":
        presets, rest = list(params[0].choices), params[1:]
    points = []
    for preset in presets:
        e = dict(entry)
        if preset is not None:
            e["preset"] = preset
            e.pop("candidates", None)
        spec = resolve_spec(base_name, e)
        point = {} if preset is None else {"preset": params[0].offered(preset)}
        for p in rest:
            node = spec
            try:
                for part in p.path.split("."):
                    node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                continue
            value = p.offered(node)
            if value is not None:
                point[p.path] = value
        points.append(point)
    return points


# ---- storage and workers --------------------------------------------------------------------


def make_pruner(pruner):
    """An Optuna pruner from its name (``median``, ``halving``, ``none``) or as given."""
    import optuna

    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner in (None, "none"):
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return same_preset_pruner(optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5))
    if pruner == "halving":
        return same_preset_pruner(optuna.pruners.SuccessiveHalvingPruner())
    raise SpecError(f"search.pruner: one of {list(PRUNER_NAMES)}, got {pruner!r}")


def same_preset_pruner(base):
    """``base`` (an Optuna pruner) judging a trial only against the trials of its own
    ``preset`` when the space chooses one: architectures learn at different speeds (on the
    notebook's data the positional network's validation loss at epoch 5 is several times the
    motif network's, and its final loss a third of it), so a median over all trials at an early
    epoch pruned every positional trial. Without a ``preset`` parameter it is ``base``."""
    return _same_preset_class()(base)


@functools.cache
def _same_preset_class():
    import optuna

    class _Trials:
        """The study as the pruner reads it: its trials of one preset (the rest as the study)."""

        def __init__(self, study, preset):
            self._study, self._preset = study, preset

        def get_trials(self, deepcopy: bool = True, states=None):
            return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states)
                    if t.params.get("preset") == self._preset]

        def __getattr__(self, name):
            return getattr(self._study, name)

    class SamePresetPruner(optuna.pruners.BasePruner):
        def __init__(self, base):
            self.base = base

        def prune(self, study, trial) -> bool:
            preset = trial.params.get("preset")
            return self.base.prune(study if preset is None else _Trials(study, preset), trial)

    return SamePresetPruner


def worker_seed(seed: int, worker: int = 0) -> int:
    """The sampler seed of worker ``worker`` of a search seeded ``seed`` (worker 0: ``seed``)."""
    if worker == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(worker)]).generate_state(1)[0])


def worker_trials(total: int, workers: int, worker: int) -> int:
    """Trials worker ``worker`` (0-based) of ``workers`` runs so that they add up to ``total``."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} of {workers}")
    return total // workers + (1 if worker < total % workers else 0)


def storage(path):
    """The journal storage of a study file (created if absent; its folder must exist)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(os.fspath(path)))


def open_study(path, name: str, seed: int = 0, pruner="median", *, worker: int = 0):
    """Create the study ``name`` in the journal file ``path``, or join it (many processes may
    do both at once). Minimises; sampler ``TPESampler(seed=worker_seed(seed, worker))``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    return optuna.create_study(storage=storage(path), study_name=name, direction="minimize",
                               sampler=optuna.samplers.TPESampler(seed=worker_seed(seed, worker)),
                               pruner=make_pruner(pruner), load_if_exists=True)


def load_study(path, name: str):
    """An existing study, for reading (:class:`~seq2pheno.errors.InputError` if absent)."""
    import optuna

    from .errors import InputError

    if not os.path.isfile(path):
        raise InputError(path, "no search journal here")
    try:
        return optuna.load_study(study_name=name, storage=storage(path))
    except KeyError:
        raise InputError(path, f"no study {name!r} in this journal") from None


def run_worker(study_path, name: str, n_trials: int, objective: Callable[[dict, Any], float],
               seed: int = 0, *, params: list[Param], base_entry: dict | None,
               base_name: str = "model", pruner="median", worker: int = 0,
               catch: tuple = ()) -> list[int]:
    """Run ``n_trials`` trials of study ``name`` (journal ``study_path``) as worker ``worker``.

    Each trial calls ``objective(suggest(trial, params, base_entry, base_name), trial)``,
    which returns the validation loss (non-finite: the trial fails) and may report per-epoch
    values and raise :class:`optuna.TrialPruned`. Trials carry the user attribute ``worker``;
    a worker run again counts its complete, pruned and failed trials as done and marks its
    trials still ``RUNNING`` (a killed job) as failed. Exceptions of the objective stop the
    worker unless listed in ``catch``. Worker 0 of a new study first queues the
    :func:`starting_points` (the presets as they stand), which any worker may run. Returns the
    numbers of the trials this call ran."""
    from optuna.trial import TrialState

    study = open_study(study_path, name, seed, pruner, worker=worker)
    if worker == 0 and not study.get_trials(deepcopy=False):
        for point in starting_points(params, base_entry, base_name)[:max(0, int(n_trials))]:
            study.enqueue_trial(point, user_attrs={"start": "preset"})
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker") == worker]
    for t in mine:
        if t.state == TrialState.RUNNING:
            study.tell(t.number, state=TrialState.FAIL)
    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in mine)
    todo = max(0, int(n_trials) - done)
    ran: list[int] = []

    def run(trial):
        trial.set_user_attr("worker", worker)
        ran.append(trial.number)
        entry = suggest(trial, params, base_entry, base_name)
        trial.set_user_attr("entry", json.dumps(entry, sort_keys=True))
        value = float(objective(entry, trial))
        return value if math.isfinite(value) else float("nan")

    if todo:
        study.optimize(run, n_trials=todo, catch=catch, gc_after_trial=False)
    return ran


def PruningCallback(trial, monitor: str = "val_loss"):
    """A Keras callback reporting ``logs[monitor]`` to ``trial`` after each epoch and raising
    :class:`optuna.TrialPruned` when the study's pruner says so (Keras imported here)."""
    import keras
    import optuna

    class _Pruning(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.trial, self.monitor = trial, monitor

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(self.monitor)
            if value is None:
                return
            self.trial.report(float(value), step=int(epoch))
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: {self.monitor} {float(value):.4g}")

    return _Pruning()


# ---- results --------------------------------------------------------------------------------

TRIALS_COLUMNS = ["trial", "params", "value", "state", "seconds", "worker"]


def trials_table(study) -> pd.DataFrame:
    """One row per trial (by number): trial, params (JSON of path -> value, decoded), value
    (validation loss; for a pruned trial its last reported value, NaN when none), state
    (COMPLETE, PRUNED, FAIL, RUNNING, WAITING), seconds (NaN while running) and worker."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        values = {k: _decode(v) for k, v in t.params.items()}
        rows.append({
            "trial": t.number,
            "params": json.dumps(values),
            "value": float(t.value) if t.value is not None else float("nan"),
            "state": t.state.name,
            "seconds": t.duration.total_seconds() if t.duration is not None else float("nan"),
            "worker": t.user_attrs.get("worker", -1),
        })
    return pd.DataFrame(rows, columns=TRIALS_COLUMNS).astype(
        {"trial": "int64", "value": "float64", "seconds": "float64", "worker": "int64"})


def _decode(v):
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def best_trial(study):
    """The complete trial with the lowest validation loss (ties: the lower number)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    if not done:
        raise ValueError(f"search {study.study_name!r}: no complete trial")
    return min(done, key=lambda t: (t.value, t.number))


def best_entry(study, params: list[Param], base_entry: dict | None, base_name: str = "model") -> dict:
    """The entry of :func:`best_trial` (chosen by validation loss only), ``search`` removed."""
    import optuna

    return suggest(optuna.trial.FixedTrial(best_trial(study).params), params, base_entry, base_name)


def ranked_entries(study, params: list[Param], base_entry: dict | None, base_name: str = "model",
                   k: int = 1) -> list[dict]:
    """The ``k`` complete trials with the lowest validation loss, best first (ties: the lower
    number): ``[{"trial", "value", "entry"}, ...]``, each entry as :func:`best_entry` gives it.
    Fewer than ``k`` when fewer trials completed."""
    import optuna
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    done.sort(key=lambda t: (t.value, t.number))
    return [{"trial": int(t.number), "value": float(t.value),
             "entry": suggest(optuna.trial.FixedTrial(t.params), params, base_entry, base_name)}
            for t in done[:int(k)]]


def write_trials(study, path) -> pd.DataFrame:
    """:func:`trials_table` written as a TSV (atomic); returned."""
    from .atomic import write_tsv

    table = trials_table(study)
    write_tsv(table, path)
    return table


__all__ = ["SEARCH_SCHEMA", "SEARCH_DEFAULTS", "Param", "parse_space", "parse_search", "suggest",
           "set_path", "check_path", "make_pruner", "worker_seed", "worker_trials", "storage",
           "open_study", "load_study", "run_worker", "PruningCallback", "trials_table",
           "best_trial", "best_entry", "ranked_entries", "write_trials", "TRIALS_COLUMNS"]
