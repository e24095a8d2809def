"""In-silico mutagenesis (ISM) and gradient x input saliency.

ISM substitutes every base of every interpreted sequence by each nucleotide and records
``delta = f(mutant) - f(reference)`` on the model's output scale (the original phenotype
scale for seq2pheno models, which end with the ``to_phenotype_scale`` Rescaling layer).
Arrays: one-hot input ``x`` is ``float32``, shape ``N x L x 4`` (channels A, C, G, T; rows may
come from a memory map); deltas are ``N x L x 4`` in phenotype units, exactly 0 where the
substitution is an identity edit (the reference base).

Fast, exact ISM (:func:`ism`) follows fastISM (Nair et al. 2022): a substitution at position
``i`` changes only the outputs of the local layers (Conv1D, pooling, pointwise activations)
whose receptive field covers ``i``. Those few outputs are recomputed on small windows, layer
by layer, with the reference activations around them; the first Dense layer after
``Flatten`` is linear in its input, so its pre-activation changes by ``W[changed rows] . delta``
(cost ``O(window x filters x units)`` instead of ``O(L x filters x units)``), and only the
small remainder of the network (the first Dense's activation and every later layer) is
evaluated per mutant, in large batches. Identity edits are skipped (as tangermeme does).
Models outside that family fall back to :func:`naive_ism` (one forward pass per mutant),
with a log line saying why.

When the layers before the first Dense are affine (linear convolutions, average pooling,
as in the ``default`` preset), a substitution changes the pre-activation by a fixed vector
per (position, base), tabulated once. If the layers after it are Dense / Activation /
Rescaling / dropout, each chunk of sequences is then evaluated by one function compiled by
the Keras backend (TensorFlow: XLA ``jit_compile``; JAX: ``jax.jit``) that forms the mutant
pre-activations from that table and runs the remainder, fused: no mutants x units array is
stored. Other plans, and other backends, run the same steps in numpy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["ism", "ism_chunks", "naive_ism", "supports_fast_ism", "position_importance",
           "global_map", "saliency", "saliency_importance", "importance_table", "compare_importance",
           "rss_mb", "working_mb", "budget_bytes", "activation_floats"]

_EYE = np.eye(4, dtype=np.float32)
#: The three other bases of each base, in the order (b + 1, b + 2, b + 3) mod 4.
_OTHERS = (np.arange(4)[:, None] + np.arange(1, 4)[None, :]) % 4
#: Elements (float32) of the largest intermediate array of one fast-ISM chunk (~64 MB).
_ELEMENT_BUDGET = 16_000_000
#: Mutant rows pushed through the layers after the first Dense at once (cache-sized).
_HEAD_BLOCK = 4096
#: Elements (float32) of the window temporaries of one block of positions (~4 MB).
_LOCAL_BLOCK = 1_000_000


def _keras():
    import keras

    return keras


def _np(t) -> np.ndarray:
    return np.asarray(_keras().ops.convert_to_numpy(t))


def _weight(v) -> np.ndarray:
    """A Keras variable's value as a float32 numpy array."""
    return np.array(v.numpy() if hasattr(v, "numpy") else _np(v), dtype=np.float32)


# ---- memory budget ----------------------------------------------------------------------
# Every step of the interpretation (ISM, saliency, filters, epistasis) takes ``memory_mb``: the
# working memory (MB) its intermediate arrays may use beyond what the process already holds.
# :func:`working_mb` turns a bound on the job's peak RSS (config interpret.memory_mb) into it.

#: Working memory (MB) of a step called without ``memory_mb``.
DEFAULT_WORKING_MB = 512
#: Fraction of the working memory one step's largest arrays are sized to (the rest: copies,
#: the backend's own temporaries, allocator slack).
_BUDGET_FRACTION = 0.35
#: The smallest working memory a step plans for (MB), however little is left.
_MIN_WORKING_MB = 16


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux /proc; else the peak so far)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2 ** 20 if sys.platform == "darwin" else 1024)


def working_mb(limit_mb: float, reserve_mb: float = 0.0) -> float:
    """Working memory left under a peak-RSS bound ``limit_mb``: the bound minus the RSS now
    minus ``reserve_mb`` (outputs the caller will hold), at least :data:`_MIN_WORKING_MB`."""
    return max(float(limit_mb) - rss_mb() - float(reserve_mb), _MIN_WORKING_MB)


def budget_bytes(memory_mb: float | None) -> int:
    """Bytes the largest arrays of one chunk may take under a working memory of ``memory_mb``."""
    mb = DEFAULT_WORKING_MB if memory_mb is None else max(float(memory_mb), _MIN_WORKING_MB)
    return int(mb * _BUDGET_FRACTION * 2 ** 20)


def activation_floats(model) -> int:
    """Floats of one input row's activations through every layer of ``model`` (its input
    included): what a forward pass holds per row at most, a gradient about twice that."""
    total = 0
    try:
        total += int(np.prod([d for d in model.inputs[0].shape[1:]]))
    except (AttributeError, IndexError, TypeError, ValueError):
        pass
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "core"):                      # a reverse-complement average
            total += 2 * activation_floats(layer.core)
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        shapes = shape if isinstance(shape, list) else [shape]
        for sh in shapes:
            try:
                total += int(np.prod([int(d) for d in tuple(sh)[1:]]))
            except (TypeError, ValueError):
                pass
    return max(total, 1)


def rows_per_chunk(bytes_per_row: float, memory_mb: float | None, cap: int | None = None) -> int:
    """Rows (sequences or mutants) per chunk so that ``bytes_per_row`` each fit the budget."""
    n = max(1, int(budget_bytes(memory_mb) // max(float(bytes_per_row), 1.0)))
    return n if cap is None else max(1, min(n, int(cap)))


def _rows(x, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``x`` (array or memmap) as a float32 array."""
    return np.ascontiguousarray(np.asarray(x[start:stop], dtype=np.float32))


_NUMPY_ACTIVATIONS: dict | None = None
_BLAS_CONTROLLER = None


def _blas_controller():
    """A threadpoolctl controller, made once (finding the libraries takes milliseconds)."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER


def _gelu(a: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x), as Keras computes it; erf from the backend (vectorised)."""
    ops = _keras().ops
    e = np.array(_np(ops.erf(a * np.float32(1.0 / np.sqrt(2.0)))), dtype=np.float32)
    e += np.float32(1.0)
    e *= a
    e *= np.float32(0.5)
    return e


def _numpy_activations() -> dict:
    """Numpy versions of Keras' built-in activations at their default arguments (the form
    ``Dense(activation="name")`` uses), keyed by the Keras function object."""
    global _NUMPY_ACTIVATIONS
    if _NUMPY_ACTIVATIONS is None:
        from scipy import special

        ka = _keras().activations
        f32 = np.float32

        def softplus(a):
            return np.logaddexp(f32(0), a)

        table = {
            "linear": lambda a: a,
            "relu": lambda a: np.maximum(a, f32(0)),
            "gelu": _gelu,
            "sigmoid": special.expit,
            "tanh": np.tanh,
            "softplus": softplus,
            "softsign": lambda a: a / (f32(1) + np.abs(a)),
            "elu": lambda a: np.where(a > 0, a, np.expm1(a)),
            "selu": lambda a: f32(1.0507009873554805) * np.where(
                a > 0, a, f32(1.6732632423543772) * np.expm1(a)),
            "silu": lambda a: a * special.expit(a),
            "swish": lambda a: a * special.expit(a),
            "exponential": np.exp,
            "relu6": lambda a: np.clip(a, f32(0), f32(6)),
            "leaky_relu": lambda a: np.where(a > 0, a, f32(0.2) * a),
            "mish": lambda a: a * np.tanh(softplus(a)),
        }
        _NUMPY_ACTIVATIONS = {getattr(ka, name): fn for name, fn in table.items()
                              if hasattr(ka, name)}
    return _NUMPY_ACTIVATIONS


def _activate(fn: Callable | None, a: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Apply a Keras activation to a float32 numpy array, keeping its dtype.

    Built-in activations run in numpy (the same formulas as the backend, to float32
    rounding); anything else goes through Keras. ``inplace``: the caller owns ``a``.
    """
    if fn is None:
        return a
    name = getattr(fn, "__name__", "")
    if name == "linear":
        return a
    if name == "relu":
        return np.maximum(a, np.float32(0), out=a if inplace else None)
    impl = _numpy_activations().get(fn)
    if impl is not None:
        return np.asarray(impl(a), dtype=a.dtype)
    return _np(fn(a)).astype(a.dtype, copy=False)


def _is_linear(fn: Callable | None) -> bool:
    return fn is None or getattr(fn, "__name__", "") == "linear"


def _is_identity(layer) -> bool:
    """Dropout and noise layers: the identity at inference."""
    kl = _keras().layers
    return type(layer) in (kl.Dropout, kl.GaussianNoise, kl.GaussianDropout, kl.AlphaDropout)


def _identity_edits(xb: np.ndarray) -> np.ndarray:
    """(B, L, 4) bool: True where setting position i to base b leaves ``xb`` unchanged."""
    return np.all(xb[:, :, None, :] == _EYE[None, None, :, :], axis=-1)


def _is_one_hot(a: np.ndarray) -> bool:
    """True when every row ``a[..., :]`` (4 channels) is one-hot (one 1, three 0s)."""
    rows = a.size // 4
    # exactly `rows` nonzeros and no zero row sum: one nonzero per row, equal to its sum 1
    return (np.count_nonzero(a) == rows
            and bool(np.all(a.reshape(rows, 4) @ np.ones(4, a.dtype) == 1)))


def _alternatives(xb: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Substitutions to evaluate at ``positions`` of ``xb`` (B, L, 4).

    Returns ``alt`` (P, B, A) int base indices and ``valid`` (P, B, A) bool (False for an
    identity edit). When every row at those positions is one-hot, A = 3 (the three other
    bases, identity edits skipped); otherwise A = 4 (every base; ``N`` or heterozygous
    rows have four real edits).
    """
    sub = xb[:, positions, :]                                        # (B, P, 4)
    B, P = sub.shape[:2]
    if _is_one_hot(sub):
        return _OTHERS[sub.argmax(axis=-1).T], np.ones((P, B, 3), dtype=bool)
    alt = np.broadcast_to(np.arange(4), (P, B, 4)).copy()
    valid = ~np.all(np.moveaxis(sub, 0, 1)[:, :, None, :] == _EYE[None, None], axis=-1)
    return alt, valid


# ----------------------------------------------------------------------------------------
# The fast path: a plan of the model's local layers and first Dense
# ----------------------------------------------------------------------------------------

class _Unsupported(Exception):
    """The model is outside the family the fast path handles; the message says why."""


@dataclass
class _Local:
    """One local layer before Flatten, in explicit-padding form.

    ``op`` maps a padded input window ``(..., w, c_in)`` to ``n`` outputs ``(..., n, c_out)``;
    output ``t`` reads padded inputs ``t*stride + j*dilation`` for ``j < size``.
    """

    kind: str                  # "conv" | "max" | "avg" | "act" | "bn"
    size: int
    stride: int
    dilation: int
    pad_left: int
    pad_right: int
    n_in: int
    n_out: int
    kernel: np.ndarray | None = None      # (size, c_in, c_out) float32
    bias: np.ndarray | None = None        # (c_out,) float32
    activation: Callable | None = None
    counts: np.ndarray | None = None      # avg pooling: real inputs per output, (n_out,)
    # per-position geometry, filled by the plan: affected outputs [lo, hi), computed
    # outputs [start, start + n)
    lo: np.ndarray = field(default=None, repr=False)
    hi: np.ndarray = field(default=None, repr=False)
    start: np.ndarray = field(default=None, repr=False)
    n: int = 1
    c_in: int = 0
    c_out: int = 0

    @property
    def span(self) -> int:
        return (self.size - 1) * self.dilation + 1

    @property
    def pad_value(self) -> float:
        return -np.inf if self.kind == "max" else 0.0

    def window(self, n: int) -> int:
        """Padded input positions that ``n`` consecutive outputs read."""
        return (n - 1) * self.stride + self.span

    def pad(self, a: np.ndarray) -> np.ndarray:
        """Pad ``a`` (B, n_in, C) on the position axis as the layer does."""
        if self.pad_left == 0 and self.pad_right == 0:
            return a
        widths = [(0, 0)] * a.ndim
        widths[-2] = (self.pad_left, self.pad_right)
        return np.pad(a, widths, constant_values=self.pad_value)

    def op(self, w: np.ndarray, n: int, counts: np.ndarray | None) -> np.ndarray:
        """Outputs ``(..., n, c_out)`` of padded windows ``w`` ``(..., window(n), c_in)``."""
        s, d = self.stride, self.dilation
        stop = lambda j: j * d + s * (n - 1) + 1  # noqa: E731
        if self.kind == "act":
            return _activate(self.activation, w)
        if self.kind == "bn":            # inference-mode BatchNormalization: an affine map
            return w * self.kernel + self.bias
        if self.kind == "conv":
            out = None
            for j in range(self.size):
                tap = w[..., j * d:stop(j):s, :]
                # one 2-D GEMM (a stack of tiny matmuls is far slower)
                term = (tap.reshape(-1, tap.shape[-1]) @ self.kernel[j]).reshape(
                    tap.shape[:-1] + (self.kernel.shape[2],))
                out = term if out is None else out + term
            if self.bias is not None:
                out = out + self.bias
            return _activate(self.activation, out)
        if self.kind == "max":
            out = w[..., 0:stop(0):s, :]
            for j in range(1, self.size):
                out = np.maximum(out, w[..., j:stop(j):s, :])
            return out
        # average pooling: zero padding, divided by the number of real inputs
        out = w[..., 0:stop(0):s, :].copy()
        for j in range(1, self.size):
            out = out + w[..., j:stop(j):s, :]
        return out / counts


def _same_padding(n_in: int, span: int, stride: int) -> tuple[int, int, int]:
    n_out = -(-n_in // stride)
    total = max((n_out - 1) * stride + span - n_in, 0)
    return n_out, total // 2, total - total // 2


def _geometry(padding: str, n_in: int, span: int, stride: int) -> tuple[int, int, int]:
    if padding == "valid":
        return (n_in - span) // stride + 1, 0, 0
    if padding == "same":
        return _same_padding(n_in, span, stride)
    if padding == "causal":
        return (n_in - 1) // stride + 1, span - 1, 0
    raise _Unsupported(f"padding {padding!r}")


def _local_layer(layer, n_in: int, c_in: int) -> _Local | None:
    """The explicit form of one layer before Flatten; None for identity layers (Dropout)."""
    keras = _keras()
    kl = keras.layers
    kind = type(layer)
    if kind in (kl.Dropout, kl.SpatialDropout1D, kl.GaussianDropout, kl.GaussianNoise,
                kl.AlphaDropout):
        return None
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _Unsupported(f"layer {layer.name!r} is not channels_last")
    if kind is kl.Conv1D:
        if getattr(layer, "groups", 1) != 1:
            raise _Unsupported(f"grouped convolution {layer.name!r}")
        k, s, d = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        if s > 1 and d > 1:
            raise _Unsupported(f"stride and dilation both > 1 in {layer.name!r}")
        span = (k - 1) * d + 1
        n_out, pl, pr = _geometry(layer.padding, n_in, span, s)
        kernel = _weight(layer.kernel)
        bias = _weight(layer.bias) if layer.use_bias else None
        return _Local("conv", k, s, d, pl, pr, n_in, n_out, kernel, bias, layer.activation)
    if kind in (kl.MaxPooling1D, kl.AveragePooling1D):
        p, s = layer.pool_size[0], layer.strides[0]
        n_out, pl, pr = _geometry(layer.padding, n_in, p, s)
        loc = _Local("max" if kind is kl.MaxPooling1D else "avg", p, s, 1, pl, pr, n_in, n_out)
        if loc.kind == "avg":
            real = np.pad(np.ones(n_in, np.float32), (pl, pr))
            loc.counts = np.array([real[t * s:t * s + p].sum() for t in range(n_out)],
                                  dtype=np.float32)
        return loc
    if kind is kl.Activation:
        return _Local("act", 1, 1, 1, 0, 0, n_in, n_in, activation=layer.activation)
    if kind is kl.BatchNormalization:
        if layer.axis not in (-1, 2, [-1], [2]):
            raise _Unsupported(f"BatchNormalization {layer.name!r} not over channels")
        var = _weight(layer.moving_variance).astype(np.float64)
        mean = _weight(layer.moving_mean).astype(np.float64)
        gamma = _weight(layer.gamma).astype(np.float64) if layer.scale else 1.0
        beta = _weight(layer.beta).astype(np.float64) if layer.center else 0.0
        scale = gamma / np.sqrt(var + float(layer.epsilon))
        shift = beta - mean * scale
        return _Local("bn", 1, 1, 1, 0, 0, n_in, n_in, kernel=scale.astype(np.float32),
                      bias=np.broadcast_to(shift, scale.shape).astype(np.float32))
    raise _Unsupported(f"layer {layer.name!r} ({kind.__name__}) before Flatten")


def _split_and_fold(local: list[_Local]) -> list[_Local]:
    """Conv activations as separate ``act`` steps (each convolution then is linear: its
    output changes by the convolution of its input's change), and an inference-mode
    BatchNormalization right after a (linear) convolution folded into its kernel and bias."""
    out: list[_Local] = []
    for loc in local:
        if loc.kind == "bn" and out and out[-1].kind == "conv" and out[-1].activation is None:
            conv = out[-1]
            conv.kernel = (conv.kernel * loc.kernel).astype(np.float32)
            bias = conv.bias if conv.bias is not None else np.zeros(conv.kernel.shape[2],
                                                                    np.float32)
            conv.bias = (bias * loc.kernel + loc.bias).astype(np.float32)
            continue
        if loc.kind == "conv" and not _is_linear(loc.activation):
            act = _Local("act", 1, 1, 1, 0, 0, loc.n_out, loc.n_out, activation=loc.activation,
                         c_in=loc.c_out, c_out=loc.c_out)
            loc.activation = None
            out.extend([loc, act])
            continue
        if loc.kind == "conv":
            loc.activation = None
        if loc.kind == "act" and _is_linear(loc.activation):
            continue
        out.append(loc)
    return out


@dataclass(frozen=True)
class _Step:
    """One step of the head (the layers after the first Dense's kernel), on (M, n) rows.

    ``kind``: "act" (``activation`` only), "dense" (``h @ arrays[0] + arrays[1]``, then
    ``activation``), "scale" (``h * arrays[0] + arrays[1]``: Rescaling) or "layer" (any
    other Keras layer, called as is).
    """

    kind: str
    activation: Callable | None = None
    arrays: tuple = ()
    layer: object = None


#: Compiled chunk evaluators by (backend, head structure, one-hot); each compiles once
#: per input shape.
_COMPILED: dict = {}


def _run_head(structure: tuple, h, weights: tuple):
    """Backend ops: model outputs (M,) from first-Dense pre-activations ``h`` (M, units).

    ``structure``: ``(kind, activation)`` of each :class:`_Step` (no "layer" steps);
    ``weights``: their arrays, concatenated in order.
    """
    ops = _keras().ops
    k = 0
    for kind, act in structure:
        if kind == "dense":
            h = ops.matmul(h, weights[k]) + weights[k + 1]
            k += 2
        elif kind == "scale":
            h = h * weights[k] + weights[k + 1]
            k += 2
        if act is not None:
            h = act(h)
    return ops.reshape(h, (-1,))


def _chunk_deltas(structure: tuple, one_hot: bool, x, ref_pre, effect, *weights):
    """Backend ops: the ISM deltas (B, L, 4) float32 of sequences ``x`` (B, L, 4) float32.

    ``ref_pre`` (B, U) float32: first-Dense pre-activations of ``x``; ``effect`` (L, 4, U)
    float32 (:meth:`_FastISM.effect_table`). Each substitution puts a row ``t`` at
    position i: the three other bases (``one_hot``: every row of ``x`` is one-hot; the
    rows are ``x`` rolled by 1, 2, 3 channels) or each of the four bases. Its
    pre-activation ``ref_pre[s] + sum_c (t - x[s, i])[c] E[i, c]`` is formed inside the
    compiled function (never stored); the delta goes to channel argmax(t), 0 for identity
    edits.
    """
    ops = _keras().ops
    targets = ([ops.roll(x, k, axis=-1) for k in (1, 2, 3)] if one_hot
               else [ops.convert_to_tensor(_EYE[c]) for c in range(4)])
    coef = ops.stack([t - x for t in targets], axis=2)                      # (B, L, A, 4)
    pre = ref_pre[:, None, None, :]
    for c in range(4):
        pre = pre + coef[..., c:c + 1] * effect[None, :, None, c, :]        # (B, L, A, U)
    f = _run_head(structure, ops.reshape(pre, (-1, ref_pre.shape[-1])), weights)
    f_ref = _run_head(structure, ref_pre, weights)
    d = ops.reshape(f, coef.shape[:3]) - f_ref[:, None, None]               # (B, L, A)
    d = ops.where(ops.any(coef != 0, axis=-1), d, 0.0)
    return sum(t * d[..., a:a + 1] for a, t in enumerate(targets))


def _compiled_chunk_deltas(structure: tuple, one_hot: bool) -> Callable | None:
    """:func:`_chunk_deltas` for ``structure``, compiled whole by the Keras backend
    (TensorFlow: XLA ``jit_compile``; JAX: ``jax.jit``); None on other backends."""
    backend = _keras().backend.backend()
    key = (backend, structure, one_hot)
    if key not in _COMPILED:
        fn = lambda *args: _chunk_deltas(structure, one_hot, *args)  # noqa: E731
        if backend == "tensorflow":
            import tensorflow as tf

            _COMPILED[key] = tf.function(fn, jit_compile=True)
        elif backend == "jax":
            import jax

            _COMPILED[key] = jax.jit(fn)
        else:
            _COMPILED[key] = None
    return _COMPILED[key]


class _FastISM:
    """Exact windowed ISM plan for ``Sequential([local layers..., Flatten, Dense, rest...])``.

    Raises :class:`_Unsupported` for any other model.
    """

    def __init__(self, model):
        keras = _keras()
        kl = keras.layers
        if not isinstance(model, keras.Sequential):
            raise _Unsupported("not a keras.Sequential model")
        in_shape = tuple(model.inputs[0].shape) if model.inputs else None
        if in_shape is None or len(in_shape) != 3 or in_shape[1] is None:
            raise _Unsupported(f"input shape {in_shape} is not (batch, L, channels)")
        out_shape = tuple(model.outputs[0].shape)
        if out_shape[1:] != (1,):
            raise _Unsupported(f"output shape {out_shape} is not (batch, 1)")
        self.length, self.channels = int(in_shape[1]), int(in_shape[2])
        if self.channels != 4:
            raise _Unsupported(f"input has {self.channels} channels, not 4")
        layers = list(model.layers)
        n, c = self.length, self.channels
        self.local: list[_Local] = []
        i = 0
        flat = (kl.Flatten, kl.GlobalMaxPooling1D, kl.GlobalAveragePooling1D)
        while i < len(layers) and type(layers[i]) not in flat:
            loc = _local_layer(layers[i], n, c)
            if loc is not None:
                loc.c_in = c
                if loc.kind == "conv":
                    if loc.kernel.shape[1] != c:
                        raise _Unsupported(f"layer {layers[i].name!r}: kernel/input mismatch")
                    c = loc.kernel.shape[2]
                loc.c_out = c
                if loc.n_out < 1:
                    raise _Unsupported(f"layer {layers[i].name!r} has no output positions")
                self.local.append(loc)
                n = loc.n_out
            i += 1
        if i == len(layers):
            raise _Unsupported("no Flatten layer")
        self.local = _split_and_fold(self.local)
        #: None (Flatten), "max" or "avg": global pooling over positions before the Dense
        self.global_pool = {kl.Flatten: None, kl.GlobalMaxPooling1D: "max",
                            kl.GlobalAveragePooling1D: "avg"}[type(layers[i])]
        if self.global_pool is not None and (
                getattr(layers[i], "keepdims", False)
                or getattr(layers[i], "data_format", "channels_last") != "channels_last"):
            raise _Unsupported(f"global pooling {layers[i].name!r} with keepdims or "
                               f"channels_first")
        i += 1
        while i < len(layers) and _is_identity(layers[i]):
            i += 1
        if i == len(layers) or type(layers[i]) is not kl.Dense:
            raise _Unsupported("Flatten is not followed by Dense")
        dense = layers[i]
        kernel = _weight(dense.kernel)
        width = c if self.global_pool else n * c
        if kernel.shape[0] != width:
            raise _Unsupported(f"Dense {dense.name!r} expects {kernel.shape[0]} inputs, "
                               f"the plan gives {width}")
        self.n_last, self.c_last = n, c
        self.units = kernel.shape[1]
        self.kernel = kernel                                  # (n*c or c, units)
        if self.global_pool is None:
            self.kernel3 = kernel.reshape(n, c, self.units)   # (n, c, units)
        self.bias = (_weight(dense.bias).astype(np.float64) if dense.use_bias
                     else np.zeros(self.units))
        self.dense_activation = dense.activation
        self.rest = layers[i + 1:]
        self._plan_geometry()
        # input -> first Dense pre-activation is affine when every local layer is (linear
        # convolutions, average pooling, linear activations): then a substitution's effect
        # is a fixed vector per (position, base), tabulated once in ``self._effect``
        self.affine = self.global_pool != "max" and all(
            loc.kind in ("avg", "bn") or (loc.kind in ("conv", "act")
                                          and _is_linear(loc.activation))
            for loc in self.local)
        self._effect: np.ndarray | None = None

    def effect_table(self) -> np.ndarray:
        """Affine plans only: (L, 4, units) change of the first Dense's pre-activation when
        a zero input row becomes base b (the pre-activation is ``sum E[i, x_i] + const``)."""
        if self._effect is None:
            if not self.local and self.global_pool is None:
                self._effect = self.kernel3.copy()
            else:
                zero = np.zeros((1, self.length, 4), dtype=np.float32)
                alt = np.broadcast_to(np.arange(4), (self.length, 1, 4))
                ref = self.reference(zero)
                blocks = []
                step = self.position_block(4)
                for p0 in range(0, self.length, step):
                    pos = np.arange(p0, min(self.length, p0 + step))
                    blocks.append(self._window_deltas(ref, pos, alt[pos])[:, 0])
                self._effect = np.concatenate(blocks).astype(np.float32)
        return self._effect

    def _plan_geometry(self) -> None:
        """Per input position: affected and computed output ranges of every local layer."""
        a = np.arange(self.length)
        b = a + 1
        for loc in self.local:
            lo = np.maximum(-((-(a + loc.pad_left - loc.span + 1)) // loc.stride), 0)
            hi = np.minimum((b - 1 + loc.pad_left) // loc.stride + 1, loc.n_out)
            hi = np.maximum(hi, lo)
            loc.lo, loc.hi = lo, hi
            loc.n = int(max(1, min(loc.n_out, (hi - lo).max())))
            loc.start = np.clip(lo, 0, loc.n_out - loc.n)
            a, b = lo, hi
        self.last_start = self.local[-1].start if self.local else np.arange(self.length)
        self.last_n = self.local[-1].n if self.local else 1

    def affected(self, p: int) -> list[tuple[int, int]]:
        """Affected output range ``[lo, hi)`` of each local layer for a substitution at ``p``."""
        return [(int(loc.lo[p]), int(loc.hi[p])) for loc in self.local]

    def disjoint(self, p: int, q: int) -> bool:
        """True when substitutions at p and q never meet in a local layer (additive at Dense)."""
        if p == q or self.global_pool == "max":     # a global max couples every position
            return False
        if self.affine:                  # an affine first stage adds any two changes
            return True
        for (a0, a1), (b0, b1) in zip(self.affected(p), self.affected(q)):
            if a0 < a1 and b0 < b1 and a0 < b1 and b0 < a1:
                return False
        return True

    def position_block(self, mutants_per_position: int) -> int:
        """Positions per block so that a block's temporaries stay cache-sized."""
        per_mutant = max([loc.window(loc.n) * loc.c_in + loc.n * loc.c_out
                          for loc in self.local] + [self.units])
        rows = max(1, mutants_per_position)
        return max(1, min(_HEAD_BLOCK // rows, _LOCAL_BLOCK // (rows * per_mutant)))

    def chunk_sequences(self, n_positions: int, batch_size: int, whole: bool = False,
                        element_budget: int | None = None) -> int:
        """Sequences per chunk: about ``batch_size`` mutants, reference activations bounded
        by ``element_budget`` float32 elements (default :data:`_ELEMENT_BUDGET`).

        ``whole``: every mutant of a chunk is evaluated at once (the compiled path), so
        its activations after the first Dense count against the memory budget too.
        """
        budget = _ELEMENT_BUDGET if element_budget is None else max(1, int(element_budget))
        per_seq = sum(loc.n_in * loc.c_in + loc.n_out * loc.c_out for loc in self.local)
        per_seq += 8 * n_positions
        if whole:
            widths = [self.units] + [step.arrays[0].shape[1] for step in self.head_steps()
                                     if step.kind == "dense"]
            per_seq += 4 * n_positions * sum(widths)
        # the deltas of a chunk (float64 B x L x 4) and its mutant outputs count too
        per_seq += 2 * 4 * n_positions + 2 * 3 * n_positions
        by_memory = max(1, budget // max(per_seq, 1))
        by_batch = max(1, batch_size // max(4 * n_positions, 1))
        return max(1, min(by_memory, by_batch))

    def reference(self, xb: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Reference activations of sequences ``xb`` (B, L, 4) float32.

        Returns (padded, last, ref_pre, xb, outs, pool): ``padded[l]`` is local layer l's
        padded input (B, P_l, C_l); ``last`` the last local layer's output (B, n_last,
        c_last); ``ref_pre`` the first Dense's pre-activation (B, units) float64; ``outs[l]``
        local layer l's output; ``pool``: None (Flatten), ``(pooled,)`` (global average) or
        ``(pooled, prefix, suffix)`` (global max: running maxima from either side).
        """
        padded, outs = [], []
        h = xb
        for loc in self.local:
            hp = loc.pad(h)
            padded.append(hp)
            counts = None if loc.counts is None else loc.counts[:, None]
            h = loc.op(hp, loc.n_out, counts)
            outs.append(h)
        pool = None
        if self.global_pool == "avg":
            flat = h.mean(axis=1, dtype=np.float64).astype(np.float32)
            pool = (flat,)
        elif self.global_pool == "max":
            flat = h.max(axis=1)
            # running maxima from the left (prefix[:, j] = max h[:, :j]) and from the right
            # (suffix[:, j] = max h[:, j:]), -inf for empty ranges
            ninf = np.full((len(xb), 1, h.shape[2]), -np.inf, np.float32)
            prefix = np.concatenate([ninf, np.maximum.accumulate(h, axis=1)], axis=1)
            suffix = np.concatenate([np.maximum.accumulate(h[:, ::-1], axis=1)[:, ::-1], ninf],
                                    axis=1)
            pool = (flat, prefix, suffix)
        else:
            flat = h.reshape(len(xb), -1)
        ref_pre = (flat @ self.kernel).astype(np.float64) + self.bias
        return padded, h, ref_pre, xb, outs, pool

    def pre_deltas(self, ref: tuple, positions: np.ndarray, alt: np.ndarray,
                   offset: np.ndarray | None = None) -> np.ndarray:
        """Change of the first Dense's pre-activation per substitution.

        ``ref``: :meth:`reference` of the sequences (B of them); ``positions`` (P,) int;
        ``alt`` (P, B, A) int: the bases put at each position (see :func:`_alternatives`).
        Returns ``dpre`` (P, B, A, units) float32 (C-contiguous): the pre-activation of
        the mutant of sequence s that puts base ``alt[p, s, a]`` at ``positions[p]`` is
        ``ref_pre[s] + dpre[p, s, a]``; with ``offset`` (B, units) float32 given,
        ``offset[s]`` is added (pass ``ref_pre`` to get the mutants' pre-activations).
        Keep P x B x A to a few thousand for speed.
        """
        if self.affine:
            return self._affine_deltas(ref, positions, alt, offset)
        dpre = self._window_deltas(ref, positions, alt)
        if offset is not None:
            dpre += offset[None, :, None, :]
        return dpre

    def _affine_deltas(self, ref: tuple, positions: np.ndarray, alt: np.ndarray,
                       offset: np.ndarray | None) -> np.ndarray:
        """:meth:`pre_deltas` for affine plans: E[i, b] - sum_c x[i, c] E[i, c] (+ offset)."""
        eff = self.effect_table()[positions]                                # (P, 4, U)
        rows = np.moveaxis(ref[3][:, positions, :], 0, 1)                   # (P, B, 4)
        base = -np.matmul(rows, eff)                                        # (P, B, U)
        if offset is not None:
            base += offset[None, :, :]
        dpre = eff[np.arange(len(positions))[:, None, None], alt]           # (P, B, A, U)
        dpre += base[:, :, None, :]
        return dpre

    def _window_deltas(self, ref: tuple, positions: np.ndarray, alt: np.ndarray) -> np.ndarray:
        """:meth:`pre_deltas` by recomputing the local layers on windows (any plan).

        Convolutions (linear here: activations are separate steps) with stride 1 add the
        convolution of their input's *change* to their reference outputs: one GEMM of the
        changed input rows with every tap, shifted into place (cost: changed rows x taps,
        not outputs x taps). Other layers are recomputed on their window with the
        reference activations around it.
        """
        padded, last, _, xb, outs, pool = ref
        B = last.shape[0]
        P = len(positions)
        A = alt.shape[2]
        # the input "layer": the substitution itself
        prev_start = positions
        prev_n = 1
        mut = _EYE[alt][:, :, :, None, :]                                     # (P, B, A, 1, 4)
        dmut = mut - np.moveaxis(xb[:, positions, :], 0, 1)[:, :, None, None, :]
        for li, (loc, hp) in enumerate(zip(self.local, padded)):
            start = loc.start[positions]
            n = loc.n
            if loc.kind == "conv" and loc.stride == 1:
                if dmut is None:
                    dmut = mut - self._ref_cols(outs[li - 1], prev_start, prev_n)
                mut = self._conv_delta(loc, outs[li], dmut, prev_start, prev_n, start, n)
                dmut = None
                prev_start, prev_n = start, n
                continue
            if loc.kind in ("act", "bn") and n == prev_n and np.array_equal(start, prev_start):
                mut = loc.op(mut, n, None)      # pointwise: the same window, no reference
                dmut = None
                continue
            w = loc.window(n)
            idx = start[:, None] * loc.stride + np.arange(w)[None, :]          # (P, w)
            ref_win = np.moveaxis(hp[:, idx, :], 0, 1)                         # (P, B, w, C)
            win = np.empty((P, B, A, w, ref_win.shape[-1]), dtype=np.result_type(ref_win, mut))
            # the changed rows prev_start + m sit at window rows rel0 + m: per group of
            # positions with one offset, reference rows around one block of changed rows
            rel0 = prev_start + loc.pad_left - start * loc.stride
            for r in np.unique(rel0):
                g = np.flatnonzero(rel0 == r)
                sel = slice(None) if len(g) == P else g
                a, b = max(int(r), 0), min(int(r) + prev_n, w)
                wg = win if len(g) == P else np.empty((len(g),) + win.shape[1:], win.dtype)
                rg = ref_win[sel][:, :, None]
                wg[:, :, :, :a] = rg[:, :, :, :a]
                wg[:, :, :, b:] = rg[:, :, :, b:]
                if a < b:
                    wg[:, :, :, a:b] = mut[sel][:, :, :, a - int(r):b - int(r)]
                else:
                    wg[:, :, :, a:b] = rg[:, :, :, a:b]
                if len(g) != P:
                    win[g] = wg
            counts = None
            if loc.counts is not None:
                counts = loc.counts[start[:, None] + np.arange(n)][:, None, None, :, None]
            mut = loc.op(win, n, counts)                                       # (P, B, A, n, C')
            dmut = None
            prev_start, prev_n = start, n
        # change of the last local output over its computed window
        cols = prev_start[:, None] + np.arange(prev_n)[None, :]                # (P, n)
        ref_cols = np.moveaxis(last[:, cols, :], 0, 1)[:, :, None]             # (P, B, 1, n, C)
        if self.global_pool == "avg":
            delta = (mut - ref_cols).sum(axis=3) / np.float32(self.n_last)     # (P, B, A, C)
            dpre = delta.reshape(P, B * A, self.c_last).astype(np.float32) @ self.kernel
            return dpre.reshape(P, B, A, self.units)
        if self.global_pool == "max":
            flat, prefix, suffix = pool
            stop = np.minimum(cols[:, -1] + 1, self.n_last)
            outside = np.maximum(np.moveaxis(prefix[:, cols[:, 0], :], 0, 1),
                                 np.moveaxis(suffix[:, stop, :], 0, 1))        # (P, B, C)
            pooled = np.maximum(mut.max(axis=3), outside[:, :, None])          # (P, B, A, C)
            delta = pooled - flat[None, :, None, :]
            dpre = delta.reshape(P, B * A, self.c_last).astype(np.float32) @ self.kernel
            return dpre.reshape(P, B, A, self.units)
        delta = (mut - ref_cols).reshape(P, B * A, prev_n * self.c_last)
        w_win = self.kernel3[cols].reshape(P, prev_n * self.c_last, self.units)
        dpre = np.matmul(delta.astype(np.float32, copy=False), w_win)          # (P, B*A, units)
        return dpre.reshape(P, B, A, self.units)

    @staticmethod
    def _ref_cols(out: np.ndarray, start: np.ndarray, n: int) -> np.ndarray:
        """Reference outputs ``out`` (B, n_out, C) at ``start[p] + t`` (t < n), as
        (P, B, 1, n, C)."""
        cols = start[:, None] + np.arange(n)[None, :]
        return np.moveaxis(out[:, cols, :], 0, 1)[:, :, None]

    def _conv_delta(self, loc: _Local, ref_out: np.ndarray, dmut, prev_start, prev_n,
                    start, n) -> np.ndarray:
        """Mutant outputs (P, B, A, n, C') of a linear stride-1 convolution over outputs
        ``start[p] + t``: reference outputs plus the convolution of the input's change.

        ``dmut`` (P, B, A, prev_n, C): change of the input rows ``prev_start[p] + m``.
        """
        P, B, A = dmut.shape[:3]
        c_in, c_out = loc.kernel.shape[1], loc.kernel.shape[2]
        d = dmut.reshape(P, B * A, prev_n * c_in).astype(np.float32, copy=False)
        ref = self._ref_cols(ref_out, start, n)                                 # (P, B, 1, n, C')
        out = np.empty((P, B, A, n, c_out), dtype=np.float32)
        # padded input index of changed row 0, relative to the first computed output: the
        # same for all but a few positions near the ends (groups of equal offset). Each group
        # is one GEMM of the changed rows with the banded kernel that maps them to the n
        # outputs: (B*A, prev_n*C) @ (prev_n*C, n*C')
        rel0 = prev_start + loc.pad_left - start
        for r in np.unique(rel0):
            g = np.flatnonzero(rel0 == r)
            band = self._band(loc, int(r), prev_n, n)
            delta = np.matmul(d if len(g) == P else d[g], band).reshape(len(g), B, A, n, c_out)
            delta += ref if len(g) == P else ref[g]
            if len(g) == P:
                out = delta
            else:
                out[g] = delta
        return out

    @staticmethod
    def _band(loc: _Local, r: int, prev_n: int, n: int) -> np.ndarray:
        """(prev_n*C, n*C') float32: changed input row m reaches output t through tap
        j = (r + m - t) / dilation (0 <= j < size); cached per layer and offset."""
        cache = loc.__dict__.setdefault("_bands", {})
        key = (r, prev_n, n)
        if key not in cache:
            c_in, c_out = loc.kernel.shape[1], loc.kernel.shape[2]
            band = np.zeros((prev_n, c_in, n, c_out), dtype=np.float32)
            for m in range(prev_n):
                for t in range(n):
                    j, rem = divmod(r + m - t, loc.dilation)
                    if rem == 0 and 0 <= j < loc.size:
                        band[m, :, t, :] = loc.kernel[j]
            cache[key] = band.reshape(prev_n * c_in, n * c_out)
        return cache[key]

    def head_steps(self) -> list[_Step]:
        """The first Dense's activation and every later layer, in order, as :class:`_Step`s.

        Dense, Activation and Rescaling layers become arithmetic steps; dropout and noise
        layers (the identity at inference) are left out; any other layer is kept as is.
        """
        kl = _keras().layers
        steps = [_Step("act", self.dense_activation)]
        for layer in self.rest:
            kind = type(layer)
            if _is_identity(layer):
                continue
            if kind is kl.Dense:
                bias = (_weight(layer.bias) if layer.use_bias
                        else np.zeros(layer.units, dtype=np.float32))
                steps.append(_Step("dense", layer.activation, (_weight(layer.kernel), bias)))
            elif kind is kl.Activation:
                steps.append(_Step("act", layer.activation))
            elif kind is kl.Rescaling:
                scale, offset = (np.asarray(_np(v) if hasattr(v, "shape") else v,
                                            dtype=np.float32)
                                 for v in (layer.scale, layer.offset))
                steps.append(_Step("scale", None, (scale, offset)))
            else:
                steps.append(_Step("layer", None, layer=layer))
        return steps

    def _numpy_head(self) -> list[Callable[[np.ndarray], np.ndarray]]:
        """:meth:`head_steps` as numpy functions on float32 (M, units) arrays (one GEMM per
        Dense; a kept Keras layer is called through Keras)."""
        fns: list[Callable[[np.ndarray], np.ndarray]] = []
        for step in self.head_steps():
            if step.kind == "dense":
                def dense(h, w=step.arrays[0], b=step.arrays[1], act=step.activation):
                    z = h @ w
                    z += b
                    return _activate(act, z, inplace=True)
                fns.append(dense)
            elif step.kind == "act":
                fns.append(lambda h, act=step.activation: _activate(act, h, inplace=True))
            elif step.kind == "scale":
                fns.append(lambda h, a=step.arrays[0], o=step.arrays[1]: h * a + o)
            else:
                # a copy: the next steps work in place
                fns.append(lambda h, layer=step.layer: np.array(
                    _np(layer(h, training=False)), dtype=np.float32))
        return fns

    def head(self, pre: np.ndarray, batch_size: int = 65536, *, inplace: bool = False
             ) -> np.ndarray:
        """Model output (M,) float32 from first-Dense pre-activations ``pre`` (M, units).

        ``inplace``: ``pre`` is a float32 array the caller gives up (it is overwritten).
        """
        if not hasattr(self, "_steps"):
            self._steps = self._numpy_head()
        out = np.empty(len(pre), dtype=np.float32)
        for s in range(0, len(pre), batch_size):
            h = pre[s:s + batch_size]
            if not (inplace and h.dtype == np.float32):
                h = np.array(h, dtype=np.float32)   # a copy: the steps work in place
            for step in self._steps:
                h = step(h)
            out[s:s + len(h)] = h.reshape(len(h), -1)[:, 0]
        return out

    def compiled_deltas(self) -> Callable | None:
        """The compiled form of :meth:`deltas`, or None where there is none.

        Available for affine plans whose head has only Dense, Activation, Rescaling and
        identity layers, on the TensorFlow and JAX backends: all mutants of a chunk in
        one compiled call (compiled once per shape: keep the number of sequences fixed).
        """
        steps = self.head_steps()
        if (not self.affine or any(step.kind == "layer" for step in steps)
                or _keras().backend.backend() not in ("tensorflow", "jax")):
            return None
        structure = tuple((step.kind, step.activation) for step in steps)
        weights = [a for step in steps for a in step.arrays]
        effect = self.effect_table()

        def run(xb: np.ndarray) -> np.ndarray:
            fn = _compiled_chunk_deltas(structure, _is_one_hot(xb))
            ref_pre = self.reference(xb)[2].astype(np.float32)
            return _np(fn(xb, ref_pre, effect, *weights)).astype(np.float64)
        return run

    def deltas(self, xb: np.ndarray) -> np.ndarray:
        """ISM deltas (B, L, 4) float64 of sequences ``xb`` (B, L, 4) in numpy (any plan),
        in blocks of positions that stay in cache."""
        B, L, _ = xb.shape
        positions = np.arange(L)
        alt, valid = _alternatives(xb, positions)                           # (L, B, A)
        ref = self.reference(xb)
        ref32 = ref[2].astype(np.float32)
        f = np.empty(alt.shape, dtype=np.float32)
        # blocks of positions small enough to stay in cache from the first layer to the
        # output (large temporaries cost more in page faults than in arithmetic)
        step = self.position_block(B * alt.shape[2])
        for p0 in range(0, L, step):
            blk = self.pre_deltas(ref, positions[p0:p0 + step], alt[p0:p0 + step], ref32)
            f[p0:p0 + step] = self.head(blk.reshape(-1, self.units), inplace=True
                                        ).reshape(blk.shape[:3])
        d = f.astype(np.float64)
        d -= self.head(ref[2]).astype(np.float64)[None, :, None]
        if not valid.all():
            d[~valid] = 0.0
        out = np.zeros((B, L, 4))
        np.put_along_axis(out, np.moveaxis(alt, 0, 1), np.moveaxis(d, 0, 1), axis=2)
        return out


class _RCAveragePlan:
    """Exact ISM of ``Sequential([ReverseComplementAverage(core), Rescaling...])``.

    The model is ``g(x) = scale * (f(x) + f(rc(x))) / 2 + offset`` with ``rc(x) =
    x[:, ::-1, ::-1]``. Putting base b at position i of x puts base 3 - b at position
    L - 1 - i of rc(x), so ``delta_g(x)[i, b] = scale * (delta_f(x)[i, b]
    + delta_f(rc(x))[L-1-i, 3-b]) / 2``: two exact ISMs of the core (its own plan).
    """

    def __init__(self, model, wrapper, rest):
        kl = _keras().layers
        self.inner = _FastISM(wrapper.core)
        self.length = self.inner.length
        self.scale, self.offset = np.float64(1.0), np.float64(0.0)
        for layer in rest:
            if _is_identity(layer):
                continue
            if type(layer) is not kl.Rescaling:
                raise _Unsupported(f"layer {layer.name!r} after the reverse-complement "
                                   f"average (only Rescaling is allowed)")
            sc = np.asarray(_np(layer.scale) if hasattr(layer.scale, "shape") else layer.scale,
                            dtype=np.float64).reshape(-1)
            if sc.size != 1:
                raise _Unsupported(f"Rescaling {layer.name!r} is not a scalar")
            self.scale *= sc[0]

    def chunk_sequences(self, n_positions: int, batch_size: int, whole: bool = False,
                        element_budget: int | None = None) -> int:
        return max(1, self.inner.chunk_sequences(n_positions, batch_size, whole, element_budget) // 2)

    @property
    def units(self) -> int:
        return self.inner.units

    @property
    def local(self) -> list:
        return self.inner.local

    def disjoint(self, p: int, q: int) -> bool:
        """True when p and q are disjoint for the core on both strands (at p, q of x and at
        L-1-p, L-1-q of rc(x)): epistasis is linear in the network, so the model's is the mean
        of the core's on the two strands, each from the windowed path
        (:func:`seq2pheno.interactions.pairwise_epistasis`)."""
        last = self.length - 1
        return self.inner.disjoint(p, q) and self.inner.disjoint(last - p, last - q)

    def _combine(self, run, xb: np.ndarray) -> np.ndarray:
        """The two strands' ISMs side by side in two threads (numpy and the compiled chunk
        release the GIL), as the naive path's forward passes use the machine's threads."""
        from concurrent.futures import ThreadPoolExecutor

        rc = np.ascontiguousarray(xb[:, ::-1, ::-1])
        with ThreadPoolExecutor(2) as pool:
            fwd, rev = pool.map(run, (xb, rc))
        return (0.5 * self.scale) * (fwd + rev[:, ::-1, ::-1])

    def deltas(self, xb: np.ndarray) -> np.ndarray:
        return self._combine(self.inner.deltas, xb)

    def compiled_deltas(self) -> Callable | None:
        run = self.inner.compiled_deltas()
        return None if run is None else (lambda xb: self._combine(run, xb))


def _make_plan(model):
    """The fast-ISM plan of ``model``: :class:`_FastISM`, or :class:`_RCAveragePlan` for
    a reverse-complement-averaged network. Raises :class:`_Unsupported`."""
    keras = _keras()
    if isinstance(model, keras.Sequential):
        layers = [layer for layer in model.layers if not _is_identity(layer)]
        if layers and type(layers[0]).__name__ == "ReverseComplementAverage":
            return _RCAveragePlan(model, layers[0], layers[1:])
    return _FastISM(model)


def supports_fast_ism(model) -> tuple[bool, str]:
    """Whether :func:`ism` can use the exact windowed path for ``model``, and why not."""
    try:
        _make_plan(model)
    except _Unsupported as err:
        return False, str(err)
    return True, "ok"


class ColumnView:
    """Rows of ``x`` restricted to ``positions``: ``view[a:b] = x[a:b][:, positions]``."""

    def __init__(self, x, positions: np.ndarray):
        self.x, self.positions = x, np.asarray(positions, dtype=np.int64)
        self.shape = (x.shape[0], len(self.positions), x.shape[2])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        return np.asarray(self.x[key])[:, self.positions]


def selected_network(model):
    """(positions, the network after its ``select_positions`` layer) for a screened network
    (:func:`seq2pheno.models.cnn.build_cnn` with ``screen``), else None. A mutation at any
    other position does not change the prediction, so ISM there is exactly 0."""
    keras = _keras()
    if not isinstance(model, keras.Sequential) or not model.layers:
        return None
    first = model.layers[0]
    if type(first).__name__ != "SelectPositions":
        return None
    positions = np.asarray(first.positions, dtype=np.int64)
    rest = keras.Sequential([keras.Input(shape=(len(positions), int(model.input_shape[-1])))]
                            + list(model.layers[1:]), name=f"{model.name}_selected")
    return positions, rest


def _plan_or_none(model, log: logging.Logger | None, what: str):
    try:
        return _make_plan(model)
    except _Unsupported as err:
        if log is not None:
            log.info("%s: model outside the windowed family (%s); using naive batched "
                     "forward passes", what, err)
        return None


# ----------------------------------------------------------------------------------------
# Public ISM functions
# ----------------------------------------------------------------------------------------

def _predict(model, xb: np.ndarray, batch_size: int) -> np.ndarray:
    """Model output (M,) float64 for inputs ``xb`` (M, L, 4), in batches."""
    out = []
    for s in range(0, len(xb), batch_size):
        out.append(np.asarray(model.predict_on_batch(xb[s:s + batch_size])).reshape(-1))
    if not out:
        return np.zeros(0)
    return np.concatenate(out).astype(np.float64)


def _naive_chunks(model, x, batch_size: int, log: logging.Logger | None,
                  memory_mb: float | None):
    """:func:`naive_ism` chunk by chunk: yields (start, deltas (B, L, 4) float64).

    A chunk is a few sequences, or one; its mutants are built and predicted in blocks whose
    inputs and activations fit the budget (a sequence of L positions has 3 L mutants of
    L x 4 each: 3 L^2 x 4 floats, too many to hold at once for large L)."""
    N, L, _ = x.shape
    per_mutant = 4.0 * (L * 4 + activation_floats(model)) * 2
    block = rows_per_chunk(per_mutant, memory_mb, cap=batch_size)
    per_chunk = rows_per_chunk(8.0 * L * 4 * 4, memory_mb, cap=max(1, block // (3 * L)))
    for s in range(0, N, per_chunk):
        xb = _rows(x, s, s + per_chunk)
        deltas = np.zeros((len(xb), L, 4), dtype=np.float64)
        f_ref = _predict(model, xb, block)
        ident = _identity_edits(xb)
        seq, pos, base = np.nonzero(~ident)
        for m0 in range(0, len(seq), block):
            sq, ps, bs = seq[m0:m0 + block], pos[m0:m0 + block], base[m0:m0 + block]
            mutants = xb[sq]
            mutants[np.arange(len(sq)), ps] = _EYE[bs]
            deltas[sq, ps, bs] = _predict(model, mutants, block) - f_ref[sq]
            del mutants
        if log is not None:
            log.info("naive ISM: %d/%d sequences", min(s + per_chunk, N), N)
        yield s, deltas


def naive_ism(model, x, batch_size: int = 4096, log: logging.Logger | None = None,
              memory_mb: float | None = None) -> np.ndarray:
    """Reference ISM: one full forward pass per non-identity single-base mutant.

    ``x``: (N, L, 4) float32 one-hot (array or memmap). Mutants of several sequences are
    predicted together in batches of at most ``batch_size``, fewer where their inputs and
    activations would not fit ``memory_mb`` (working memory, MB; see :func:`budget_bytes`).
    Returns deltas (N, L, 4) float64 in the model's output units (0 at identity edits).
    """
    N, L, _ = x.shape
    deltas = np.zeros((N, L, 4), dtype=np.float64)
    for s, d in _naive_chunks(model, x, batch_size, log, memory_mb):
        deltas[s:s + len(d)] = d
    return deltas


def ism(model, x, *, batch_size: int = 262144, log: logging.Logger | None = None,
        compiled: bool = True, memory_mb: float | None = None) -> np.ndarray:
    """Exact in-silico mutagenesis of every single-base substitution.

    ``x``: (N, L, 4) float32 one-hot (array or memmap; an ``N`` base 0.25 per channel and
    heterozygous 0.5/0.5 rows are allowed: each of the 4 bases is then a real edit).
    Returns deltas (N, L, 4) float64 = f(mutant) - f(reference) in the model's output
    units (the original phenotype scale for seq2pheno models), 0 at the reference base.

    Uses the windowed path (see the module docstring) for Sequential CNNs of Conv1D /
    pooling / Activation / Dropout -> Flatten -> Dense -> anything; any other model falls
    back to :func:`naive_ism` with a log line (forwarding at most 8192 mutants at once).
    ``batch_size`` bounds the number of mutants per chunk of sequences (chunks of equal
    size); ``memory_mb`` the working memory (MB) of a chunk's intermediate arrays (default
    :data:`DEFAULT_WORKING_MB`; the returned deltas come on top: stream them with
    :func:`ism_chunks` instead when N x L x 4 is large).
    ``compiled``: evaluate each chunk in one call compiled by the backend where the plan
    allows it (:meth:`_FastISM.compiled_deltas`); False forces numpy. Progress (sequences
    done / total) goes to ``log.info``.
    """
    N, L = x.shape[0], x.shape[1]
    deltas = np.zeros((N, L, 4), dtype=np.float64)
    for s, d in ism_chunks(model, x, batch_size=batch_size, log=log, compiled=compiled,
                           memory_mb=memory_mb):
        deltas[s:s + len(d)] = d
    return deltas


def ism_chunks(model, x, *, batch_size: int = 262144, log: logging.Logger | None = None,
               compiled: bool = True, memory_mb: float | None = None):
    """:func:`ism` chunk by chunk of sequences: yields (start, deltas (B, L, 4) float64) in
    order, each chunk's intermediates within ``memory_mb`` (MB of working memory)."""
    if len(x.shape) != 3 or x.shape[2] != 4:
        raise ValueError(f"x must be one-hot N x L x 4, got shape {tuple(x.shape)}")
    selected = selected_network(model)
    if selected is not None:          # a screened network: ISM of the rest on its positions
        positions, rest = selected
        for s, d in ism_chunks(rest, ColumnView(x, positions), batch_size=batch_size, log=log,
                               compiled=compiled, memory_mb=memory_mb):
            full = np.zeros((len(d), x.shape[1], 4), dtype=np.float64)
            full[:, positions] = d
            yield s, full
        return
    plan = _plan_or_none(model, log, "ISM")
    if plan is None:
        yield from _naive_chunks(model, x, min(batch_size, 8192), log, memory_mb)
        return
    if x.shape[1] != plan.length:
        raise ValueError(f"x has {x.shape[1]} positions, the model expects {plan.length}")
    run = plan.compiled_deltas() if compiled else None
    if log is not None:
        log.info("ISM: mutants evaluated %s", "by one compiled call per chunk" if run
                 else "in numpy")
    # the GEMMs here are small (cache-sized blocks): BLAS threads only add contention
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield from _fast_ism(plan, run or plan.deltas, run is not None, x, batch_size, log,
                             budget_bytes(memory_mb) // 4)


def _fast_ism(plan: _FastISM, run: Callable, whole: bool, x, batch_size: int,
              log: logging.Logger | None, element_budget: int | None = None):
    """:func:`ism_chunks` in equal chunks of sequences, ``run`` (:meth:`_FastISM.deltas` or
    its compiled form) on each; ``whole``: ``run`` is compiled (all of a chunk's mutants at
    once, the last chunk filled up to the others' size: one compiled shape). Yields (start,
    deltas) per chunk."""
    N, L, _ = x.shape
    n_chunks = max(1, -(-N // plan.chunk_sequences(L, batch_size, whole, element_budget)))
    per_chunk = max(1, -(-N // n_chunks))
    next_report = 0
    for s in range(0, N, per_chunk):
        xb = _rows(x, s, s + per_chunk)
        B = len(xb)
        if whole and B < per_chunk:       # filled with copies of its first sequence
            xb = np.concatenate([xb, np.repeat(xb[:1], per_chunk - B, axis=0)])
        d = run(xb)[:B]
        done = min(s + per_chunk, N)
        if log is not None and (done >= next_report or done == N):
            log.info("ISM: %d/%d sequences", done, N)
            next_report = done + max(1, N // 20)
        yield s, d


def position_importance(deltas: np.ndarray) -> np.ndarray:
    """Importance per position (L,): mean |delta| over sequences and the 3 alternative bases.

    ``deltas`` (N, L, 4) from :func:`ism`; the reference base's 0 is excluded by dividing
    the sum over the 4 bases by 3. Units: phenotype units.
    """
    d = np.abs(np.asarray(deltas, dtype=np.float64))
    return d.sum(axis=(0, 2)) / (3.0 * d.shape[0])


def global_map(deltas: np.ndarray) -> np.ndarray:
    """Global attribution map (L, 4): mean signed delta over sequences, per position and base.

    Positive: putting that base at that position raises the phenotype on average (relative
    to each sequence's own base); phenotype units.
    """
    return np.asarray(deltas, dtype=np.float64).mean(axis=0)


def importance_table(importance: np.ndarray, features=None):
    """``ism.tsv`` as a DataFrame: ``position``, ``importance``, ``rank`` (1 = most important).

    ``features``: optional ``data/features.tsv`` DataFrame (one row per position); its
    ``chrom`` and ``pos`` columns are carried over when present (genotype cohorts).
    """
    import pandas as pd

    imp = np.asarray(importance, dtype=np.float64)
    order = np.argsort(-imp, kind="stable")
    rank = np.empty(len(imp), dtype=np.int64)
    rank[order] = np.arange(1, len(imp) + 1)
    df = pd.DataFrame({"position": np.arange(len(imp)), "importance": imp, "rank": rank})
    if features is not None:
        for col in ("chrom", "pos", "ref", "alt"):
            if col in features.columns:
                df.insert(len(df.columns) - 2, col, features[col].to_numpy()[:len(imp)])
    return df


# ----------------------------------------------------------------------------------------
# Saliency: gradient x input
# ----------------------------------------------------------------------------------------

def _input_gradient(model, xb: np.ndarray) -> np.ndarray:
    """d sum(model(xb)) / d xb (B, L, 4): the one backend-specific function of the module."""
    keras = _keras()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(xb)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = keras.ops.sum(model(xt, training=False))
        return np.asarray(tape.gradient(out, xt))
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(lambda z: jnp.sum(model(z, training=False)))(jnp.asarray(xb)))
    if backend == "torch":
        import torch

        xt = torch.tensor(xb, requires_grad=True)
        model(xt, training=False).sum().backward()
        return xt.grad.detach().cpu().numpy()
    raise NotImplementedError(f"saliency is not implemented for the {backend!r} backend")


def saliency(model, x, *, batch_size: int = 256, memory_mb: float | None = None) -> np.ndarray:
    """Gradient x input (N, L, 4) float64, one backward pass per batch of sequences.

    The gradient is of the model's output (original phenotype scale) with respect to the
    one-hot input; multiplied by the input, it is nonzero at the present base only.
    Units: phenotype units per unit of one-hot input. A batch has at most ``batch_size``
    sequences, fewer where its activations and their gradients would not fit ``memory_mb``
    (MB of working memory).
    """
    out = np.zeros(x.shape, dtype=np.float64)
    for s, g in saliency_chunks(model, x, batch_size=batch_size, memory_mb=memory_mb):
        out[s:s + len(g)] = g
    return out


def saliency_chunks(model, x, *, batch_size: int = 256, memory_mb: float | None = None):
    """:func:`saliency` batch by batch: yields (start, gradient x input (B, L, 4) float64)."""
    N, L = x.shape[0], x.shape[1]
    # a backward pass holds the activations, their gradients and the backend's temporaries
    per_seq = 4.0 * (4 * activation_floats(model) + 8 * L * 4)
    step = rows_per_chunk(per_seq, memory_mb, cap=batch_size)
    for s in range(0, N, step):
        xb = _rows(x, s, s + step)
        yield s, _input_gradient(model, xb) * xb


def saliency_importance(sal: np.ndarray) -> np.ndarray:
    """Saliency importance per position (L,): mean over sequences of |sum over bases|."""
    return np.abs(np.asarray(sal, dtype=np.float64).sum(axis=2)).mean(axis=0)


def compare_importance(a: np.ndarray, b: np.ndarray) -> dict:
    """Agreement of two per-position importances (L,): Spearman and Pearson correlation."""
    from scipy import stats

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.std() == 0 or b.std() == 0:
        return {"spearman_r": float("nan"), "pearson_r": float("nan")}
    return {"spearman_r": float(stats.spearmanr(a, b).statistic),
            "pearson_r": float(stats.pearsonr(a, b).statistic)}
