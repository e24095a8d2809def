"""Keras backend set-up for a workflow step: thread counts, determinism, device report.

Call :func:`configure` before the first ``import keras`` of the process.
"""

from __future__ import annotations

import os
import shutil
import subprocess


def configure(threads: int = 1, *, deterministic: bool = True) -> None:
    """Pin the backend's thread pools to ``threads`` and ask for deterministic kernels.

    TensorFlow is the default backend; a user's ``KERAS_BACKEND`` (jax, torch) is respected.
    """
    threads = str(max(1, int(threads)))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if deterministic:
        os.environ["TF_DETERMINISTIC_OPS"] = "1"
        os.environ.setdefault("XLA_FLAGS", "--xla_gpu_deterministic_ops=true")


def describe_devices() -> list[str]:
    """Lines saying which backend runs and on which devices (nvidia-smi when present)."""
    import keras

    lines = [f"keras {keras.__version__}, backend {keras.backend.backend()}"]
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf  # device listing only; models use keras.ops

            lines.append("devices: " + ", ".join(d.name for d in tf.config.list_logical_devices()))
        elif backend == "jax":
            import jax

            lines.append("devices: " + ", ".join(str(d) for d in jax.devices()))
        elif backend == "torch":
            import torch

            lines.append(f"devices: cuda available = {torch.cuda.is_available()}")
    except Exception as err:  # a device listing must never stop training
        lines.append(f"devices: could not list ({err})")
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
        lines.extend(out.stdout.strip().splitlines() or ["nvidia-smi: no GPU listed"])
    else:
        lines.append("nvidia-smi not found: training on the CPU")
    return lines
