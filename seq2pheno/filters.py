"""First-layer convolution filters as motifs: activations, PWMs, MEME files, influence.

The first layer of a seq2pheno CNN is a ``Conv1D`` reading the one-hot input directly, so
each of its filters scans the sequence for a short pattern. This module

* computes the filters' activations (:func:`filter_activations`);
* stacks the input windows where a filter reaches :data:`HIT_FRACTION` of its highest
  activation into a position frequency matrix
  (:func:`filter_pwms`, Kelley et al. 2016, Basset) and exports them in the MEME minimal
  motif format (:func:`write_meme`, :func:`read_meme`) for Tomtom or tangermeme;
* measures each filter's influence on the predictions by nullification
  (:func:`filter_influence`): its output is replaced by its mean activation over the set,
  and the increase in MSE and the drop in R^2 against the observed phenotype are recorded.

Arrays: one-hot ``x`` float32 ``N x L x 4`` (A, C, G, T; array or memmap); activations
``N x L' x F`` in the filter's output units (after its activation function); a PFM is
``k x 4`` (rows: the k kernel taps, 5'->3'; columns A, C, G, T; rows sum to 1).
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import pandas as pd

from .atomic import write_text

__all__ = ["HIT_FRACTION", "first_conv_layer", "filter_activations", "filter_pwms", "write_meme",
           "read_meme", "filter_influence"]

_ALPHABET = "ACGT"
#: A window is a filter's hit where it reaches this fraction of the filter's highest activation
#: over the set (:func:`filter_pwms`).
HIT_FRACTION = 0.7
_IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise",
                    "AlphaDropout", "InputLayer")


def _np(t) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(t))


def _first_conv_index(model) -> int | None:
    """Index in ``model.layers`` of the first-layer Conv1D (identity layers skipped)."""
    import keras

    for i, layer in enumerate(model.layers):
        if type(layer).__name__ in _IDENTITY_LAYERS:
            continue
        return i if isinstance(layer, keras.layers.Conv1D) else None
    return None


def first_conv_layer(model):
    """The Conv1D layer that reads the input (after identity layers), or None.

    For a reverse-complement-averaged network (``reverse_complement: average``, or a network
    trained on random strands) the first Conv1D of its core (activations and PWMs then read
    the given strand; :func:`filter_influence` nullifies the filter on both strands)."""
    i = _first_conv_index(model)
    if i is None:
        averaged = _strand_average(model)
        return None if averaged is None else first_conv_layer(averaged[0])
    return model.layers[i]


def _conv_geometry(conv, length: int) -> tuple[int, int, int, int, int]:
    """(kernel k, stride, dilation, left padding, output length) of ``conv`` on ``length``."""
    k, s, d = conv.kernel_size[0], conv.strides[0], conv.dilation_rate[0]
    span = (k - 1) * d + 1
    if conv.padding == "same":
        n_out = -(-length // s)
        pad_left = max((n_out - 1) * s + span - length, 0) // 2
    elif conv.padding == "causal":
        n_out, pad_left = (length - 1) // s + 1, span - 1
    else:
        n_out, pad_left = (length - span) // s + 1, 0
    return k, s, d, pad_left, n_out


def filter_activations(model, x, *, batch_size: int = 256) -> np.ndarray:
    """Activations of the first-layer Conv1D filters, (N, L', F) float32.

    ``x`` (N, L, 4) float32 one-hot (array or memmap). Values are the layer's outputs
    (after its activation function), in batches of ``batch_size`` sequences.
    Raises ValueError when the model's first layer is not a Conv1D.
    """
    conv = first_conv_layer(model)
    if conv is None:
        raise ValueError("the model's first layer is not a Conv1D: no filters to read")
    out = []
    for s in range(0, len(x), batch_size):
        xb = np.asarray(x[s:s + batch_size], dtype=np.float32)
        out.append(_np(conv(xb)).astype(np.float32))
    if not out:
        return np.zeros((0, 0, conv.filters), dtype=np.float32)
    return np.concatenate(out)


def _chunk_rows(model, conv, L: int, batch_size: int, memory_mb: float | None,
                factor: float = 3.0) -> int:
    """Sequences per chunk: a chunk's first-layer activations (and ``factor`` times them for
    copies and the rest of the model) within ``memory_mb`` of working memory."""
    from .ism import activation_floats, rows_per_chunk

    k, s, d, pad_left, n_out = _conv_geometry(conv, L)
    per_seq = 4.0 * (factor * n_out * conv.filters + 3 * L * 4)
    if model is not None:
        per_seq += 4.0 * 2 * activation_floats(model)
    return rows_per_chunk(per_seq, memory_mb, cap=batch_size)


def _activation_chunks(conv, x, step: int):
    """(start, xb, activations (B, L', F) float32) of ``x`` in chunks of ``step`` sequences."""
    for s in range(0, len(x), step):
        xb = np.asarray(x[s:s + step], dtype=np.float32)
        yield s, xb, _np(conv(xb)).astype(np.float32)


def filter_pwms(model, x, *, threshold_fraction: float = HIT_FRACTION, min_hits: int = 10,
                top_n: int = 5, batch_size: int = 256, memory_mb: float | None = None
                ) -> list[dict]:
    """Position frequency matrices of the first-layer filters (kernel longer than 1).

    For filter f, every input window whose activation exceeds ``threshold_fraction`` x the
    filter's maximum activation over the set ``x`` (N, L, 4) is a hit; the hits' one-hot
    windows are summed and normalised per row into a PFM (k x 4, rows sum to 1; padding
    outside the sequence counts as nothing). A filter with fewer than ``min_hits`` hits,
    or that never exceeds 0, is uninformative.

    The default 0.7 is stricter than Basset's 0.5: with 0.5 a filter's hits include many
    windows that only half match it, and the PFM is blurred toward the background. On the
    planted-CTCF cohort of ``benchmarks/planted_motif.py`` (motif_cnn, 300 test sequences)
    the best CTCF filter's JASPAR q-value went from 0.07, not significant, to 5e-4 (22 of the
    23 significant filter matches CTCF), and on a second training from 0.009 to 5e-4; the
    filters of two untrained networks matched nothing at either threshold.

    Returns one dict per filter: ``filter`` (int), ``n_hits`` (int), ``pfm`` (k x 4 float64),
    ``informative`` (bool), ``top_positions`` (the ``top_n`` input positions, 0-based
    window starts, where the filter's mean activation over sequences is highest, best
    first), ``max_activation`` and ``threshold`` (activation units). Empty list when the
    first layer is not a Conv1D with kernel_size > 1.

    The activations are streamed in chunks of sequences sized to ``memory_mb`` (MB of working
    memory): one pass for each filter's maximum and mean by position, one for the hits.
    """
    conv = first_conv_layer(model)
    if conv is None or conv.kernel_size[0] <= 1:
        return []
    N, L = x.shape[0], x.shape[1]
    k, s, d, pad_left, n_out = _conv_geometry(conv, L)
    F = int(conv.filters)
    step = _chunk_rows(None, conv, L, batch_size, memory_mb)
    max_act = np.full(F, -np.inf)
    sum_by_pos = np.zeros((n_out, F))
    for _, _, a in _activation_chunks(conv, x, step):                 # pass 1
        max_act = np.maximum(max_act, a.max(axis=(0, 1)) if a.size else -np.inf)
        sum_by_pos += a.sum(axis=0, dtype=np.float64)
    max_act = np.where(np.isfinite(max_act), max_act, 0.0)
    threshold = threshold_fraction * max_act
    counts = np.zeros((F, k, 4))
    n_hits = np.zeros(F, dtype=np.int64)
    span = (k - 1) * d + 1
    off = span - pad_left                 # xpad index of padded-input position 0
    taps = np.arange(k) * d
    for _, xb, a in _activation_chunks(conv, x, step):                # pass 2
        xpad = np.zeros((len(xb), L + 2 * span, 4), dtype=np.float32)
        xpad[:, off + pad_left:off + pad_left + L] = xb
        for f in range(F):
            if max_act[f] <= 0:
                continue
            seq, t = np.nonzero(a[:, :, f] > threshold[f])
            n_hits[f] += len(seq)
            for c0 in range(0, len(seq), 65536):
                sq, tt = seq[c0:c0 + 65536], t[c0:c0 + 65536]
                cols = off + tt[:, None] * s + taps[None, :]
                counts[f] += xpad[sq[:, None], cols].sum(axis=0)
    mean_by_pos = sum_by_pos / N if N else sum_by_pos
    result = []
    for f in range(F):
        rows = counts[f].sum(axis=1, keepdims=True)
        pfm = np.where(rows > 0, counts[f] / np.where(rows > 0, rows, 1.0), 0.25)
        order = np.argsort(-mean_by_pos[:, f], kind="stable")[:top_n]
        top = [int(max(0, p * s - pad_left)) for p in order]
        result.append({"filter": f, "n_hits": int(n_hits[f]), "pfm": pfm,
                       "informative": bool(n_hits[f] >= min_hits and max_act[f] > 0),
                       "top_positions": top, "max_activation": float(max_act[f]),
                       "threshold": float(threshold[f])})
    return result


def write_meme(path: str | os.PathLike, pwms: Iterable[dict],
               background=(0.25, 0.25, 0.25, 0.25)) -> int:
    """Write the informative PWMs to ``path`` in the MEME minimal motif format (version 4).

    Each motif is ``MOTIF filter_<i>`` with ``letter-probability matrix: alength= 4 w= k
    nsites= <n_hits> E= 0``. The file is written to a temporary name and renamed, so a
    failure never leaves a half-written file. Returns the number of motifs written.
    """
    bg = [float(b) for b in background]
    if len(bg) != 4:
        raise ValueError(f"background needs 4 frequencies (A, C, G, T), got {background!r}")
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies",
             " ".join(f"{b} {v:.6g}" for b, v in zip(_ALPHABET, bg)), ""]
    n = 0
    for pwm in pwms:
        if not pwm.get("informative", True):
            continue
        pfm = np.asarray(pwm["pfm"], dtype=np.float64)
        lines.append(f"MOTIF filter_{int(pwm['filter'])}")
        lines.append(f"letter-probability matrix: alength= 4 w= {pfm.shape[0]} "
                     f"nsites= {int(pwm.get('n_hits', 0))} E= 0")
        lines.extend(" " + " ".join(f"{v:.6f}" for v in row) for row in pfm)
        lines.append("")
        n += 1
    write_text("\n".join(lines) + "\n", path)
    return n


def read_meme(path: str | os.PathLike) -> list[dict]:
    """Parse a MEME minimal-format file (DNA) into a list of motifs.

    Each motif: ``name`` (the MOTIF identifier), ``filter`` (int for ``filter_<i>`` names,
    else None), ``pfm`` (w x 4 float64, columns A, C, G, T), ``nsites`` (int or None).
    Raises :class:`seq2pheno.errors.InputError` on a malformed matrix.
    """
    from seq2pheno.errors import InputError

    motifs: list[dict] = []
    with open(path) as fh:
        lines = fh.read().splitlines()
    i = 0
    current = None
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise InputError(path, "MOTIF line without an identifier", line=i + 1)
            name = parts[1]
            fid = None
            if name.startswith("filter_") and name[7:].isdigit():
                fid = int(name[7:])
            current = {"name": name, "filter": fid, "pfm": None, "nsites": None}
            motifs.append(current)
        elif line.startswith("letter-probability matrix"):
            if current is None:
                raise InputError(path, "letter-probability matrix before any MOTIF", line=i + 1)
            fields = line.split(":", 1)[1].replace("=", " = ").split()
            info = {}
            for j in range(len(fields) - 2):
                if fields[j + 1] == "=":
                    info[fields[j]] = fields[j + 2]
            width = int(info.get("w", 0))
            current["nsites"] = int(float(info["nsites"])) if "nsites" in info else None
            rows = []
            j = i + 1
            while j < len(lines) and len(rows) < (width or 10 ** 9):
                text = lines[j].strip()
                if not text:
                    if width:
                        j += 1
                        continue
                    break
                try:
                    row = [float(v) for v in text.split()]
                except ValueError:
                    if width:
                        raise InputError(path, f"expected {width} rows of 4 probabilities",
                                         line=j + 1) from None
                    break
                if len(row) != 4:
                    raise InputError(path, f"expected 4 probabilities per row, got {len(row)}",
                                     line=j + 1)
                rows.append(row)
                j += 1
            current["pfm"] = np.array(rows, dtype=np.float64).reshape(-1, 4)
            i = j
            continue
        i += 1
    return motifs


def _forward(layers, h: np.ndarray, batch_size: int) -> np.ndarray:
    """Run ``h`` through ``layers`` (inference mode) in batches; output flattened (M,)."""
    out = []
    for s in range(0, len(h), batch_size):
        z = h[s:s + batch_size]
        for layer in layers:
            z = layer(z, training=False)
        out.append(_np(z).reshape(len(h[s:s + batch_size]), -1)[:, 0])
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _strand_average(model):
    """(core, the layers after the average) of a reverse-complement-averaged network, or None."""
    layers = [layer for layer in model.layers if type(layer).__name__ not in _IDENTITY_LAYERS]
    if layers and type(layers[0]).__name__ == "ReverseComplementAverage":
        return layers[0].core, layers[1:]
    return None


class _ReverseComplements:
    """Rows of ``x`` (N, L, 4) read as their reverse complements (x[:, ::-1, ::-1])."""

    def __init__(self, x):
        self.x, self.shape = x, x.shape

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, key) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(self.x[key], dtype=np.float32)[:, ::-1, ::-1])


def _mse_r2(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    resid = y - pred
    mse = float(np.mean(resid ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return mse, r2


def filter_influence(model, x, y, *, batch_size: int = 256, memory_mb: float | None = None
                     ) -> pd.DataFrame:
    """Influence of each first-layer filter by nullification (Basset).

    Filter f's output is replaced by its mean activation over the whole set ``x``
    (N, L, 4) (all sequences and positions), the rest of the model is rerun, and the
    predictions (original phenotype scale) are compared with ``y`` (N,) observed
    phenotypes (original scale). Works for any first-layer Conv1D (kernel 1 included).

    Returns a DataFrame, one row per filter, sorted by ``rank``: ``filter``,
    ``loss_increase`` (MSE nullified - MSE baseline, phenotype units squared), ``r2_drop``
    (R^2 baseline - R^2 nullified), ``mse``, ``r2`` (with the filter nullified),
    ``baseline_mse``, ``baseline_r2``, ``mean_activation``, ``rank`` (1 = largest loss
    increase). Sequences are streamed in chunks sized to ``memory_mb`` (MB of working memory):
    one pass for the mean activations, one for the nullified predictions. A
    reverse-complement-averaged network reads both strands of every sequence: the filter is
    nullified on both (its mean activation taken over both) and the two strands' outputs are
    averaged as the network does.
    """
    from .ism import ColumnView, selected_network

    selected = selected_network(model)
    if selected is not None:       # a screened network: its filters read the selected positions
        positions, rest = selected
        return filter_influence(rest, ColumnView(x, positions), y, batch_size=batch_size,
                                memory_mb=memory_mb)
    averaged = _strand_average(model)
    net, outer = (model, []) if averaged is None else averaged
    idx = _first_conv_index(net)
    if idx is None:
        raise ValueError("the model's first layer is not a Conv1D: no filters to nullify")
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"y has {len(y)} values for {len(x)} sequences")
    conv = net.layers[idx]
    rest = net.layers[idx + 1:]
    strands = (x,) if averaged is None else (x, _ReverseComplements(x))
    N, L = x.shape[0], x.shape[1]
    F = int(conv.filters)
    # chunks of sequences: one chunk's activations (per strand), a copy, and the rest of the model's
    step = max(1, _chunk_rows(model, conv, L, batch_size, memory_mb) // len(strands))
    total = np.zeros(F)
    count = 0
    for strand in strands:                                           # the mean activations
        for _, _, a in _activation_chunks(conv, strand, step):
            total += a.sum(axis=(0, 1), dtype=np.float64)
            count += a.shape[0] * a.shape[1]
    means = (total / count if count else np.zeros(F)).astype(np.float32)

    def predict(acts: list) -> np.ndarray:
        out = np.mean([_forward(rest, a, step) for a in acts], axis=0)
        return out if not outer else _forward(outer, out[:, None].astype(np.float32), step)

    base_pred = np.zeros(N)
    pred = np.zeros((F, N))
    for s0 in range(0, N, step):
        acts = [_np(conv(np.asarray(strand[s0:s0 + step], dtype=np.float32))).astype(np.float32)
                for strand in strands]
        n = len(acts[0])
        base_pred[s0:s0 + n] = predict(acts)
        for f in range(F):
            saved = [a[:, :, f].copy() for a in acts]
            for a in acts:
                a[:, :, f] = means[f]
            pred[f, s0:s0 + n] = predict(acts)
            for a, kept in zip(acts, saved):
                a[:, :, f] = kept
    base_mse, base_r2 = _mse_r2(y, base_pred)
    rows = []
    for f in range(F):
        mse, r2 = _mse_r2(y, pred[f])
        rows.append({"filter": f, "loss_increase": mse - base_mse, "r2_drop": base_r2 - r2,
                     "mse": mse, "r2": r2, "baseline_mse": base_mse, "baseline_r2": base_r2,
                     "mean_activation": float(means[f])})
    df = pd.DataFrame(rows, columns=["filter", "loss_increase", "r2_drop", "mse", "r2",
                                     "baseline_mse", "baseline_r2", "mean_activation"])
    df["rank"] = df["loss_increase"].rank(ascending=False, method="first").astype(int)
    return df.sort_values("rank").reset_index(drop=True)
