"""Ensembles of networks: K members trained as K jobs, their mean and their spread.

A model entry of the config may carry ``ensemble:`` (schema :data:`ENSEMBLE_SCHEMA`)::

    models:
      default:
        ensemble: {members: 5, over: seeds}

``over`` says how the members differ:

- ``seeds``: the model's own architecture (for ``default``, the candidate it chose on the fold)
  trained with the training seeds ``seed, seed + 1, ..., seed + K - 1`` (:func:`member_seed`) on
  the fold's training split, each early-stopped on the validation split;
- ``trials``: the K best complete trials of the entry's ``search:`` by validation loss, each
  trained with the training seed (needs ``search:``; member 0 is the search's best);
- ``folds``: the fold's training and validation samples are pooled and split into K
  group-aware folds; member k trains on the other folds and early-stops on fold k (a
  cross-validation ensemble: every pooled sample is validation for exactly one member).

Member 0 of ``seeds`` and ``trials`` is the model as it is trained without an ensemble, so the
ensemble's gain over a single network is measured on the same fold (metrics.json ``members``).

**Prediction** is the members' mean and **spread** their standard deviation
(:func:`combine`). **Intervals**: split-conformal, scaled by the spread
(:func:`seq2pheno.reliability.conformal_interval` with ``scale = sd``), so they are wider where
members disagree. ``seeds`` and ``trials`` calibrate on the validation split (no member fitted
its weights on it; all early-stopped on it, as a single network does). ``folds`` calibrates on
the out-of-fold predictions of the pooled samples (each by the member that did not train on it)
with unscaled scores: the CV+ form of split conformal (Barber et al. 2021), whose guarantee is
``1 - 2 alpha`` in the worst case and close to ``1 - alpha`` in practice.

**Attributions**: the ISM map is the members' mean; the spread per position is the SD of the
members' importances and the share of members that rank the position among their top positions
(:func:`member_agreement`): a position every member relies on against one only some do.
"""

from __future__ import annotations

import numpy as np

from .models.base import SpecError

ENSEMBLE_SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["members"],
    "properties": {
        "members": {"type": "integer", "minimum": 2, "maximum": 50,
                    "description": "networks in the ensemble, each trained as its own job"},
        "over": {"enum": ["seeds", "folds", "trials"], "default": "seeds",
                 "description": "what differs between members: the training seed, the "
                                "validation fold of the pooled training samples, or the "
                                "search trial (the K best)"},
    },
}


def parse_ensemble(settings: dict, name: str, search: dict | None = None) -> dict:
    """The ensemble settings of model ``name`` with defaults (``over: seeds``), checked against
    the entry: ``over: trials`` needs a ``search:`` (``search``, parsed) with at least
    ``members`` trials. Raises a one-line :class:`SpecError` naming the key."""
    if not isinstance(settings, dict):
        raise SpecError(f"model {name!r}: ensemble must be a mapping like "
                        f"{{members: 5, over: seeds}}, got {settings!r}")
    unknown = sorted(set(settings) - set(ENSEMBLE_SCHEMA["properties"]))
    if unknown:
        raise SpecError(f"model {name!r}: ensemble: unknown key(s) {unknown}; "
                        f"known: {sorted(ENSEMBLE_SCHEMA['properties'])}")
    k = settings.get("members")
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 50:
        raise SpecError(f"model {name!r}: ensemble.members must be an integer from 2 to 50, got {k!r}")
    over = settings.get("over", "seeds")
    if over not in ENSEMBLE_SCHEMA["properties"]["over"]["enum"]:
        raise SpecError(f"model {name!r}: ensemble.over must be one of seeds, folds, trials, got {over!r}")
    if over == "trials":
        if search is None:
            raise SpecError(f"model {name!r}: ensemble.over: trials needs a search: (the members "
                            "are its best trials); use over: seeds without one")
        if search["trials"] < k:
            raise SpecError(f"model {name!r}: ensemble.members {k} is more than the search's "
                            f"{search['trials']} trials")
    return {"members": k, "over": over}


def member_seed(seed: int, member: int) -> int:
    """Training seed of ensemble member ``member`` (0-based): ``seed + member``."""
    return int(seed) + int(member)


def combine(member_predictions) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sd) over members of ``(members, n)`` predictions: the ensemble's prediction and
    its spread (SD, ddof 1) per sample; NaN where any member's prediction is NaN."""
    from .reliability import ensemble_sd

    m = np.asarray(member_predictions, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2:
        raise ValueError(f"an ensemble needs (members >= 2, n) predictions, got shape {m.shape}")
    return m.mean(axis=0), ensemble_sd(m)


def member_agreement(importances, top: int) -> np.ndarray:
    """(L,) share of members (rows of ``(members, L)`` importances) that rank each position
    among their ``top`` most important (ties broken by position, as the ISM table ranks)."""
    imp = np.asarray(importances, dtype=np.float64)
    if imp.ndim != 2:
        raise ValueError(f"importances must be (members, L), got shape {imp.shape}")
    top = max(0, min(int(top), imp.shape[1]))
    hits = np.zeros(imp.shape, dtype=bool)
    for i, row in enumerate(imp):
        hits[i, np.argsort(-row, kind="stable")[:top]] = True
    return hits.mean(axis=0)


def fold_members(groups, members: int, seed: int, phenotype) -> np.ndarray:
    """(n,) member (0..members-1) whose validation fold each pooled (phenotyped) sample is in,
    for ``over: folds``: group-aware (a group never straddles two folds), balanced on
    ``phenotype`` (:func:`seq2pheno.split.assign_folds` with the seed ``seed``)."""
    from .split import assign_folds

    return assign_folds(np.asarray(phenotype, dtype=np.float64), np.asarray(groups), k=int(members),
                        seed=int(seed))[0] - 1


__all__ = ["ENSEMBLE_SCHEMA", "parse_ensemble", "member_seed", "combine", "member_agreement",
           "fold_members"]
