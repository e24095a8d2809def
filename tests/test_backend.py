"""seq2pheno.backend: the backend default, cluster-job detection and the GPU check at job start.

The device lists are monkeypatched: these tests need neither a GPU nor a Keras import.
"""

from __future__ import annotations

import logging

import pytest

from seq2pheno import backend

DEVICE_LINES = ["keras 3.x, backend tensorflow", "devices: /device:CPU:0"]
H200 = ["cuda:0: NVIDIA H200, 139.8 GiB usable"]


@pytest.fixture
def devices(monkeypatch):
    """Set the GPUs the backend 'sees'; the device report and backend name are fixed."""
    seen = []
    monkeypatch.setattr(backend, "describe_devices", lambda: list(DEVICE_LINES))
    monkeypatch.setattr(backend, "gpu_devices", lambda: list(seen))
    monkeypatch.setattr(backend, "backend_label", lambda: "tensorflow (tensorflow-cpu 2.21.0)")
    monkeypatch.setattr(backend, "_ancestor_cmdlines", lambda limit=20: [["python", "x.py"]])
    return seen


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="test_backend")
    return logging.getLogger("test_backend")


SLURM = {"SLURM_JOB_ID": "4242", "CUDA_VISIBLE_DEVICES": ""}
LOCAL = {"HOME": "/root"}


def _messages(caplog, level=None):
    return [r.getMessage() for r in caplog.records if level is None or r.levelname == level]


def test_a_gpu_seen_is_named_and_used(devices, log, caplog):
    devices.extend(H200)
    assert backend.check_gpu(1, "error", log, environ=SLURM) == H200
    text = "\n".join(_messages(caplog))
    assert "devices: /device:CPU:0" in text, "the device report is logged"
    assert "NVIDIA H200, 139.8 GiB" in text
    assert "running on 1 GPU(s) (asked for 1)" in text


def test_cluster_job_without_gpu_stops_with_one_line(devices, log, caplog):
    with pytest.raises(SystemExit) as stop:
        backend.check_gpu(2, "error", log, environ=SLURM)
    assert stop.value.code == 1
    errors = _messages(caplog, "ERROR")
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith(
        "asked for 2 GPU(s), the backend sees none: CUDA_VISIBLE_DEVICES='', "
        "backend tensorflow (tensorflow-cpu 2.21.0)"
    )
    assert "SLURM_JOB_ID=4242" in errors[0] and "gpu_fallback: cpu" in errors[0]


def test_cluster_job_with_cpu_fallback_runs_on_the_cpu(devices, log, caplog):
    assert backend.check_gpu(1, "cpu", log, environ=SLURM) == []
    warnings = _messages(caplog, "WARNING")
    assert len(warnings) == 1
    assert "asked for 1 GPU(s), the backend sees none" in warnings[0]
    assert "running on the CPU" in warnings[0] and "gpu_fallback: cpu" in warnings[0]
    assert not _messages(caplog, "ERROR")


@pytest.mark.parametrize("fallback", ["error", "cpu"])
def test_one_machine_runs_on_the_cpu_and_says_so(devices, log, caplog, fallback):
    assert backend.check_gpu(1, fallback, log, environ=LOCAL) == []
    warnings = _messages(caplog, "WARNING")
    assert len(warnings) == 1
    assert "CUDA_VISIBLE_DEVICES=(unset)" in warnings[0]
    assert "running on the CPU (one machine, not a cluster job)" in warnings[0]


@pytest.mark.parametrize("environ", [SLURM, LOCAL])
def test_no_gpu_asked_for_never_stops(devices, log, caplog, environ):
    assert backend.check_gpu(0, "error", log, environ=environ) == []
    assert "running on the CPU (no GPU asked for)" in _messages(caplog)
    assert not _messages(caplog, "WARNING") and not _messages(caplog, "ERROR")


def test_snakemake_remote_job_counts_as_a_cluster_job(devices, log, monkeypatch):
    remote = [["python", "x.py"], ["/bin/sh", "-c", "..."],
              ["/venv/bin/python", "/venv/bin/snakemake", "--mode", "remote", "--cores", "4"]]
    monkeypatch.setattr(backend, "_ancestor_cmdlines", lambda limit=20: remote)
    with pytest.raises(SystemExit):
        backend.check_gpu(1, "error", log, environ=LOCAL)
    assert backend.check_gpu(1, "cpu", log, environ=LOCAL) == []


def test_bad_fallback_is_refused(devices, log):
    with pytest.raises(ValueError, match="gpu_fallback"):
        backend.check_gpu(1, "gpu", log, environ=LOCAL)


@pytest.mark.parametrize(
    "environ, cmdlines, expected",
    [
        ({"SLURM_JOB_ID": "7"}, [], "SLURM_JOB_ID=7"),
        ({"PBS_JOBID": "8.pbs"}, [], "PBS_JOBID=8.pbs"),
        ({"SLURM_JOB_ID": ""}, [], None),
        ({}, [["python", "-m", "snakemake", "--mode", "remote"]], "snakemake --mode remote"),
        ({}, [["snakemake", "--mode=remote"]], "snakemake --mode remote"),
        ({}, [["snakemake", "--mode", "subprocess"]], None),  # a local job
        ({}, [["grep", "--mode", "remote"]], None),
        ({}, [], None),
    ],
)
def test_cluster_job_detection(environ, cmdlines, expected):
    assert backend.cluster_job(environ, cmdlines) == expected


def test_ancestor_cmdlines_start_with_this_process():
    import sys

    cmdlines = backend._ancestor_cmdlines()
    if not cmdlines:
        pytest.skip("no /proc here")
    assert any("pytest" in a or a == sys.executable for a in cmdlines[0])


def test_gpu_install_defaults_to_jax(monkeypatch):
    versions = {}
    monkeypatch.setattr(backend, "_version", lambda dist: versions.get(dist))
    assert backend.default_backend() == "tensorflow"
    versions["jax-cuda12-plugin"] = "0.10.2"
    assert backend.default_backend() == "jax"
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)  # configure sets it; undone after the test
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS", "TF_NUM_INTEROP_THREADS", "TF_DETERMINISTIC_OPS"):
        monkeypatch.setenv(var, "1")  # restored after the test; configure overwrites them
    backend.configure(2)
    import os

    assert os.environ["KERAS_BACKEND"] == "jax"
    versions["jax"] = "0.10.2"
    assert backend.backend_label() == "jax (jax 0.10.2, jax-cuda12-plugin 0.10.2)"


def test_user_backend_is_respected(monkeypatch):
    monkeypatch.setattr(backend, "_version",
                        lambda dist: "1" if dist == "jax-cuda12-plugin" else None)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS", "TF_NUM_INTEROP_THREADS", "TF_DETERMINISTIC_OPS"):
        monkeypatch.setenv(var, "1")
    backend.configure(1)
    import os

    assert os.environ["KERAS_BACKEND"] == "tensorflow"


def test_nvidia_smi_rows_are_named_with_memory(monkeypatch):
    import subprocess

    monkeypatch.setattr(backend.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    out = subprocess.CompletedProcess([], 0, stdout="0, NVIDIA H200, 143771 MiB\n", stderr="")
    monkeypatch.setattr(backend.subprocess, "run", lambda *a, **k: out)
    assert backend.nvidia_smi_gpus() == ["nvidia-smi: GPU 0: NVIDIA H200, 143771 MiB"]
