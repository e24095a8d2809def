"""Keras backend set-up for a workflow step: thread counts, determinism, device report.

Call :func:`configure` before the first ``import keras`` of the process, and
:func:`check_gpu` at the start of a job that asked for a GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import metadata

# Environment variables set in a job that a cluster scheduler started (Slurm, PBS/Torque,
# LSF, Flux, Grid Engine).
CLUSTER_JOB_VARS = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "FLUX_JOB_ID", "SGE_TASK_ID")
# Distributions that give JAX a GPU: installed by `make install GPU=1` (requirements-gpu.txt).
JAX_GPU_PLUGINS = ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-rocm60-plugin")
GPU_FALLBACKS = ("error", "cpu")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def default_backend() -> str:
    """``jax`` in a GPU install (a JAX GPU plugin is installed), else ``tensorflow``."""
    return "jax" if any(_version(p) for p in JAX_GPU_PLUGINS) else "tensorflow"


def configure(threads: int = 1, *, deterministic: bool = True) -> None:
    """Pin the backend's thread pools to ``threads`` and ask for deterministic kernels.

    TensorFlow is the default backend, JAX in a GPU install (requirements-gpu.txt, whose
    CUDA support is a JAX plugin); a user's ``KERAS_BACKEND`` (jax, torch) is respected.
    """
    threads = str(max(1, int(threads)))
    os.environ.setdefault("KERAS_BACKEND", default_backend())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if deterministic:
        os.environ["TF_DETERMINISTIC_OPS"] = "1"
        os.environ.setdefault("XLA_FLAGS", "--xla_gpu_deterministic_ops=true")


def threads() -> int:
    """The thread count :func:`configure` pinned for this job (``OMP_NUM_THREADS``; 1 unset)."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


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
        lines.extend(nvidia_smi_gpus() or ["nvidia-smi: no GPU listed"])
    else:
        lines.append("nvidia-smi not found")
    return lines


def nvidia_smi_gpus() -> list[str]:
    """One line per GPU the driver shows: ``nvidia-smi: GPU 0: NVIDIA H200, 143771 MiB``."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, check=False, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    lines = []
    for row in out.stdout.strip().splitlines():
        parts = [p.strip() for p in row.split(",")]
        if len(parts) == 3:
            lines.append(f"nvidia-smi: GPU {parts[0]}: {parts[1]}, {parts[2]}")
    return lines


def backend_label() -> str:
    """The Keras backend and the packages that decide whether it can use a GPU."""
    name = os.environ.get("KERAS_BACKEND") or default_backend()
    if name == "tensorflow":
        for dist in ("tensorflow", "tensorflow-cpu"):
            if _version(dist):
                cpu_only = ", a CPU-only build" if dist == "tensorflow-cpu" else ""
                return f"tensorflow ({dist} {_version(dist)}{cpu_only})"
        return "tensorflow (not installed)"
    if name == "jax":
        plugins = [f"{p} {_version(p)}" for p in JAX_GPU_PLUGINS if _version(p)]
        return f"jax (jax {_version('jax')}, {', '.join(plugins) or 'no GPU plugin'})"
    if name == "torch":
        return f"torch ({_version('torch')})"
    return name


def _gib(n_bytes) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def gpu_devices() -> list[str]:
    """The GPUs the Keras backend sees, one line each with the model (and memory when known).

    An empty list: the backend computes on the CPU.
    """
    import keras

    backend = keras.backend.backend()
    found = []
    try:
        if backend == "tensorflow":
            import tensorflow as tf  # device listing only; models use keras.ops

            for dev in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(dev)
                found.append(f"{dev.name}: {details.get('device_name', 'GPU')}")
        elif backend == "jax":
            import jax

            for dev in jax.devices():
                if dev.platform != "gpu":
                    continue
                line = f"{dev}: {getattr(dev, 'device_kind', 'GPU')}"
                try:
                    limit = (dev.memory_stats() or {}).get("bytes_limit")
                except Exception:  # memory_stats is optional in PJRT plugins
                    limit = None
                found.append(line + (f", {_gib(limit)} usable" if limit else ""))
        elif backend == "torch":
            import torch

            for i in range(torch.cuda.device_count()):
                prop = torch.cuda.get_device_properties(i)
                found.append(f"cuda:{i}: {prop.name}, {_gib(prop.total_memory)}")
    except Exception:  # a backend without any GPU support may raise here: no GPU
        return found
    return found


def _ancestor_cmdlines(limit: int = 20) -> list[list[str]]:
    """Command lines of this process and its ancestors (Linux /proc; empty elsewhere)."""
    out, pid = [], os.getpid()
    for _ in range(limit):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                out.append([a.decode(errors="replace") for a in fh.read().split(b"\0") if a])
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])  # field 4: the parent
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
    return out


def cluster_job(environ=None, cmdlines=None) -> str | None:
    """What shows this process is a job a cluster executor submitted, or None on one machine.

    A scheduler's job variable (``SLURM_JOB_ID=123``), or a snakemake ancestor started in
    remote-job mode (``snakemake --mode remote``: how every remote executor runs a job).
    """
    environ = os.environ if environ is None else environ
    for var in CLUSTER_JOB_VARS:
        if environ.get(var):
            return f"{var}={environ[var]}"
    cmdlines = _ancestor_cmdlines() if cmdlines is None else cmdlines
    for argv in cmdlines:
        if not any("snakemake" in a for a in argv[:3]):
            continue
        for i, arg in enumerate(argv):
            if arg == "--mode=remote" or (arg == "--mode" and argv[i + 1:i + 2] == ["remote"]):
                return "snakemake --mode remote"
    return None


def check_gpu(requested, fallback: str = "error", log=None, *, environ=None) -> list[str]:
    """Log the devices the backend sees; stop a cluster job that asked for a GPU and got none.

    ``requested``: the job's ``resources.gpu``; ``fallback``: the config's
    ``resources.gpu_fallback`` (``error`` or ``cpu``). A cluster job (:func:`cluster_job`)
    that asked for GPUs while the backend sees none logs one line and exits 1 (SystemExit),
    unless ``fallback`` is ``cpu``; on one machine the job runs on the CPU and says so.
    Returns the GPUs the backend sees (empty: the CPU).
    """
    import logging

    log = log or logging.getLogger("seq2pheno")
    environ = os.environ if environ is None else environ
    requested = int(requested or 0)
    if fallback not in GPU_FALLBACKS:
        raise ValueError(f"gpu_fallback must be one of {GPU_FALLBACKS}, not {fallback!r}")
    for line in describe_devices():
        log.info("%s", line)
    gpus = gpu_devices()
    for line in gpus:
        log.info("backend GPU %s", line)
    if gpus:
        log.info("running on %d GPU(s) (asked for %d)", len(gpus), requested)
        return gpus
    if requested <= 0:
        log.info("running on the CPU (no GPU asked for)")
        return gpus
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    said = (f"asked for {requested} GPU(s), the backend sees none: "
            f"CUDA_VISIBLE_DEVICES={'(unset)' if visible is None else repr(visible)}, "
            f"backend {backend_label()}")
    where = cluster_job(environ)
    if where is None:
        log.warning("%s; running on the CPU (one machine, not a cluster job)", said)
    elif fallback == "cpu":
        log.warning("%s; running on the CPU (cluster job %s, resources.gpu_fallback: cpu)",
                    said, where)
    else:
        log.error("%s (cluster job %s); set `resources: {gpu_fallback: cpu}` in the config "
                  "to run on the CPU instead", said, where)
        raise SystemExit(1)
    return gpus
