"""The workflow runs on a real Slurm through profiles/slurm, and gives what a local run gives.

Needs the one-node test cluster of tests/slurm/start.sh (munge, slurmctld, slurmd with a GPU
GRES backed by /dev/null): start it first, as root, with `bash tests/slurm/start.sh`. Without
it these tests FAIL (they do not skip), so a CI that forgot to start Slurm goes red.

    bash tests/slurm/start.sh && python -m pytest -m slurm tests/test_slurm.py

What is checked (docs/cluster.md explains the set-up):
- every job of the tiny end-to-end config (tests/configs/tiny.yaml) except the local target
  rule went through sbatch: one "submitted with SLURM jobid" line per job in snakemake's log,
  each id known to slurmctld (`scontrol show job`, kept a day by MinJobAge) and to the job
  completion log (/var/log/slurm/jobcomp.log), COMPLETED, named with this run's id;
- the GPU rules of the profile (train_gpu, interpret) were submitted with `--gpus=1` to the
  GPU partition and Slurm allocated them the GRES (TresPerJob=gres:gpu:1), and no other job
  asked for a GPU;
- the outputs equal a local run's: the same split.tsv byte for byte, metrics.json within 1e-6;
- a job killed by Slurm at its time limit is reported with its Slurm log path and retried
  with the `attempt`-scaled runtime (a toy workflow, about two minutes).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "profiles" / "slurm"
TINY = "tests/configs/tiny.yaml"
JOBCOMP_LOG = Path("/var/log/slurm/jobcomp.log")

# Under `pytest -n 2 --dist loadgroup` the tiny-workflow tests share one worker (and one run);
# the time-limit test goes to another, beside them.
pytestmark = pytest.mark.slurm
WORKFLOW_GROUP = pytest.mark.xdist_group("slurm_workflow")

# Test-only executor settings, on top of profiles/slurm (docs/cluster.md, "The test cluster"):
# job status from squeue (no slurmdbd on the test cluster), quick first status check, keep the
# logs of successful jobs so the test can read them.
SLURM_TEST_ARGS = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
    "--verbose",  # logs every sbatch call
]

START_HINT = (
    "the local test Slurm is not running: start it with `bash tests/slurm/start.sh` "
    "(as root; it installs slurmctld, slurmd, munge from Debian and starts them), then rerun"
)


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def node_info() -> dict:
    """Fail (not skip) unless slurmctld answers and node localhost can take jobs."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        pytest.fail(f"Slurm client commands not found; {START_HINT}", pytrace=False)
    ping = _run(["scontrol", "ping"], timeout=30)
    if "UP" not in ping.stdout:
        said = " ".join(ln.strip() for ln in (ping.stdout + ping.stderr).splitlines()
                        if "Slurmctld" in ln or "error" in ln.lower())
        pytest.fail(f"slurmctld does not answer ({said or 'no reply'}); {START_HINT}",
                    pytrace=False)
    node = _run(["scontrol", "show", "node", "-o", "localhost"], timeout=30)
    fields = dict(re.findall(r"(\w+)=(\S*)", node.stdout))
    state = fields.get("State", "")
    if node.returncode or not re.match(r"(IDLE|MIXED|ALLOCATED|COMPLETING)", state):
        pytest.fail(f"node localhost is {state or 'unknown'!r}, not idle; {START_HINT}",
                    pytrace=False)
    if "gpu" not in fields.get("Gres", ""):
        pytest.fail(f"node localhost declares no GPU GRES ({fields.get('Gres')}); {START_HINT}",
                    pytrace=False)
    return fields


def copy_workflow(dest: Path) -> Path:
    """The workflow's files in a fresh directory, so results and .snakemake never collide."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "results", ".snakemake", "__pycache__", ".pytest_cache", "*.egg-info",
    )
    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
    return dest


def cancel_jobs_of(workdir: Path) -> None:
    """scancel the Slurm jobs still queued or running from workdir (after a killed run)."""
    out = _run(["squeue", "-h", "-o", "%i %Z"], timeout=30)
    ids = [line.split()[0] for line in out.stdout.splitlines()
           if len(line.split()) == 2 and Path(line.split()[1]) == workdir]
    if ids:
        _run(["scancel", *ids], timeout=30)


def snakemake(workdir: Path, *args, timeout=1500) -> subprocess.CompletedProcess:
    """Run snakemake in workdir; its output is also kept in workdir/snakemake.out.

    On a timeout, snakemake gets SIGINT first, so that it cancels its Slurm jobs itself;
    whatever is left is cancelled here.
    """
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"),
               TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "snakemake", *args]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:  # timeout or KeyboardInterrupt: stop the run and its jobs
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        (workdir / "snakemake.out").write_text(out or "")
        if shutil.which("squeue"):
            cancel_jobs_of(workdir)
        raise
    (workdir / "snakemake.out").write_text(out)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def job_records(log: str) -> dict:
    """From a --verbose snakemake log: Slurm submissions by job id.

    Returns {slurm_jobid: {"rule", "call", "log"}}. Each "submitted with SLURM jobid" line is
    paired with the earliest pending "sbatch call: ..." line of the same rule (the rule is in
    the call's --comment and in the job's log path, rule_<name>/...), so submissions that
    interleave still pair correctly.
    """
    records, pending = {}, []
    for line in log.splitlines():
        call = re.search(r"sbatch call: (sbatch .*)$", line)
        if call:
            rule = re.search(r"--comment '?rule_([A-Za-z0-9_]+?)(?:_wildcards_[^' ]*)?'? ", call.group(1))
            assert rule, f"no rule in the sbatch comment: {call.group(1)}"
            pending.append((rule.group(1), call.group(1)))
            continue
        sub = re.search(r"has been submitted with SLURM jobid (\d+) \(log: (.*)\)\.", line)
        if sub:
            rule = re.search(r"rule_([^/]+)/", sub.group(2))
            assert rule, f"no rule in the Slurm log path: {line}"
            match = next((i for i, (r, _) in enumerate(pending) if r == rule.group(1)), None)
            assert match is not None, f"a submission without an sbatch call of its rule before it: {line}"
            _, call = pending.pop(match)
            records[sub.group(1)] = {"rule": rule.group(1), "call": call, "log": sub.group(2)}
    return records


def scontrol_job(jobid: str) -> dict:
    out = _run(["scontrol", "show", "job", "-o", jobid], timeout=30)
    assert out.returncode == 0, f"scontrol does not know Slurm job {jobid}: {out.stderr}"
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout))


def jobcomp_records() -> dict:
    """Slurm job id -> fields, from the job completion log of tests/slurm/start.sh."""
    if not JOBCOMP_LOG.exists():
        return {}
    out = {}
    for line in JOBCOMP_LOG.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            out.setdefault(fields["JobId"], []).append(fields)
    return out


def gpu_rules_of_profile() -> set[str]:
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    return {rule for rule, res in profile.get("set-resources", {}).items()
            if int(res.get("gpu", 0) or 0) > 0}


def assert_close(a, b, path="", tol=1e-6):
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}", tol)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]", tol)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not (
        isinstance(a, bool) or isinstance(b, bool)
    ):
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), f"{path}: {a} != {b}"
        else:
            assert abs(a - b) <= tol * max(1.0, abs(a), abs(b)), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# ---- the tiny workflow: Slurm vs local -----------------------------------------------------


class _Once:
    """A module-wide run made on first use, inside a test (so a missing Slurm is a FAILED
    test, not a fixture ERROR), and shared by the tests that inspect it."""

    def __init__(self, make):
        self.make, self.result = make, None

    def __call__(self):
        if self.result is None:
            self.result = self.make()
        return self.result


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """One copy of the workflow, taken once: both runs start from the same files."""
    return _Once(lambda: copy_workflow(tmp_path_factory.mktemp("snapshot") / "wf"))


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, snapshot):
    def make():
        node = node_info()
        cpus = int(node.get("CPUTot", "1"))
        workdir = tmp_path_factory.mktemp("slurm") / "wf"
        shutil.copytree(snapshot(), workdir, symlinks=True)
        proc = snakemake(
            workdir, "--profile", str(PROFILE), "--configfile", TINY,
            # The test node may have fewer CPUs than a rule's threads (train_gpu asks 4).
            "--max-threads", str(cpus),
            *SLURM_TEST_ARGS,
        )
        return workdir, proc

    return _Once(make)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, snapshot):
    def make():
        workdir = tmp_path_factory.mktemp("local") / "wf"
        shutil.copytree(snapshot(), workdir, symlinks=True)
        proc = snakemake(workdir, "--profile", str(REPO / "profiles" / "default"),
                         "--cores", "2", "--configfile", TINY)
        return workdir, proc

    return _Once(make)


def _tail(workdir: Path, n=60) -> str:
    return "\n".join((workdir / "snakemake.out").read_text().splitlines()[-n:])


@WORKFLOW_GROUP
def test_every_job_went_through_sbatch(slurm_run):
    node_info()
    workdir, proc = slurm_run()
    assert proc.returncode == 0, f"snakemake --profile profiles/slurm failed:\n{_tail(workdir)}"
    log = proc.stdout + proc.stderr
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    # jobs snakemake ran: "rule X:" / "checkpoint X:" blocks are remote jobs,
    # "localrule X:" / "localcheckpoint X:" ran inside snakemake itself
    remote = re.findall(r"^(?:rule|checkpoint) (\w+):$", log, re.M)
    records = job_records(log)
    assert remote, "snakemake ran no job"
    assert sorted(r["rule"] for r in records.values()) == sorted(remote), (
        f"jobs without a Slurm submission: snakemake ran {sorted(remote)}, "
        f"sbatch got {sorted(r['rule'] for r in records.values())}"
    )
    assert {"train_gpu", "evaluate", "report"} <= set(remote)
    comp = jobcomp_records()
    for jobid, rec in records.items():
        job = scontrol_job(jobid)
        assert job["JobName"] == run_id, f"job {jobid}: name {job['JobName']}, run {run_id}"
        assert job["JobState"] == "COMPLETED", f"job {jobid} ({rec['rule']}): {job['JobState']}"
        assert any(c["Name"] == run_id and c["JobState"] == "COMPLETED" for c in comp.get(jobid, [])), (
            f"job {jobid} ({rec['rule']}) is not in {JOBCOMP_LOG} as COMPLETED"
        )
        assert Path(rec["log"]).exists(), f"job {jobid}: no Slurm log at {rec['log']}"


@WORKFLOW_GROUP
def test_gpu_rules_asked_for_a_gpu_and_no_others(slurm_run):
    node_info()
    workdir, proc = slurm_run()
    assert proc.returncode == 0, f"snakemake --profile profiles/slurm failed:\n{_tail(workdir)}"
    records = job_records(proc.stdout + proc.stderr)
    gpu_rules = gpu_rules_of_profile()
    assert "train_gpu" in gpu_rules, "profiles/slurm does not send train_gpu to a GPU"
    trained = [j for j, r in records.items() if r["rule"] == "train_gpu"]
    assert trained, "no train_gpu job was submitted"
    for jobid, rec in records.items():
        job = scontrol_job(jobid)
        tres = job.get("TresPerJob", "") + job.get("TresPerNode", "")
        if rec["rule"] in gpu_rules:
            assert "--gpus=1" in rec["call"], f"{rec['rule']} job {jobid}: {rec['call']}"
            assert " -p gpu" in rec["call"] and job["Partition"] == "gpu", (
                f"{rec['rule']} job {jobid} ran in partition {job['Partition']}, not gpu"
            )
            assert "gres:gpu:1" in tres or "gres/gpu:1" in tres, (
                f"{rec['rule']} job {jobid}: Slurm holds no GPU request (TresPerJob={tres})"
            )
        else:
            assert "--gpus" not in rec["call"] and "--gres" not in rec["call"], (
                f"{rec['rule']} job {jobid} asked for a GPU: {rec['call']}"
            )
            assert "gpu" not in tres, f"{rec['rule']} job {jobid}: TRES {tres}"
            assert job["Partition"] == "cpu", f"{rec['rule']} job {jobid}: {job['Partition']}"


@WORKFLOW_GROUP
def test_slurm_outputs_equal_local_outputs(slurm_run, local_run):
    node_info()
    sdir, sproc = slurm_run()
    ldir, lproc = local_run()
    assert sproc.returncode == 0, f"the Slurm run failed:\n{_tail(sdir)}"
    assert lproc.returncode == 0, f"the local run failed:\n{_tail(ldir)}"
    splits = sorted((ldir / "results").glob("*/split/split.tsv"))
    metrics = sorted((ldir / "results").glob("*/models/*/metrics.json"))
    assert splits and metrics, "the local run wrote no split.tsv or metrics.json"
    for path in splits:
        rel = path.relative_to(ldir)
        assert (sdir / rel).read_bytes() == path.read_bytes(), f"{rel} differs"
    for path in metrics:
        rel = path.relative_to(ldir)
        assert_close(json.loads(path.read_text()), json.loads((sdir / rel).read_text()), str(rel))
    assert sorted(p.relative_to(sdir) for p in (sdir / "results").glob("*/report.html")) == \
        sorted(p.relative_to(ldir) for p in (ldir / "results").glob("*/report.html"))


# ---- a job killed at its time limit --------------------------------------------------------

TIMEOUT_SNAKEFILE = """
rule all:
    input: "results/slow.txt"

rule slow:
    output: "results/slow.txt"
    resources:
        runtime=lambda wc, attempt: 1 * attempt,       # minutes: Slurm's smallest time limit
        nap=lambda wc, attempt: 600 if attempt == 1 else 1,
    shell: "sleep {resources.nap}; echo {resources.nap} > {output}"
"""


@pytest.mark.xdist_group("slurm_timeout")
def test_time_limit_kill_is_reported_with_its_log_and_retried(tmp_path):
    node_info()
    (tmp_path / "Snakefile").write_text(TIMEOUT_SNAKEFILE)
    proc = snakemake(tmp_path, "--profile", str(PROFILE), *SLURM_TEST_ARGS, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the retry did not rescue the job:\n{_tail(tmp_path)}"
    failed = re.search(r"SLURM-job '(\d+)' failed, SLURM status is: 'TIMEOUT'", log)
    assert failed, f"no TIMEOUT report:\n{_tail(tmp_path)}"
    slurm_log = re.search(r"log: (\S+/slurm_logs/rule_slow/%s\.log)" % failed.group(1), log)
    assert slurm_log, f"the TIMEOUT report names no Slurm log:\n{_tail(tmp_path)}"
    assert "DUE TO TIME LIMIT" in Path(slurm_log.group(1)).read_text()
    assert "Trying to restart job" in log
    assert (tmp_path / "results" / "slow.txt").read_text().strip() == "1"
    assert scontrol_job(failed.group(1))["JobState"] == "TIMEOUT"


@pytest.mark.xdist_group("slurm_timeout")
def test_a_gpu_job_that_sees_no_gpu_stops_with_one_line(tmp_path, snapshot):
    """The test cluster's GPU is /dev/null: without `gpu_fallback: cpu` a train_gpu job must stop
    with the one line that names the request, CUDA_VISIBLE_DEVICES and the backend."""
    node_info()
    workdir = tmp_path / "wf"
    shutil.copytree(snapshot(), workdir, symlinks=True)
    config = yaml.safe_load((REPO / TINY).read_text())
    config["resources"]["gpu_fallback"] = "error"
    config["cohorts"] = {"tiny_sim": config["cohorts"]["tiny_sim"]}
    (workdir / "strict.yaml").write_text(yaml.safe_dump(config))
    target = "results/tiny_sim/folds/holdout/models/seed_cnn/model.keras"
    proc = snakemake(workdir, target, "--profile", str(PROFILE), "--configfile", "strict.yaml",
                     "--max-threads", str(int(node_info().get("CPUTot", "1"))), "--retries", "0",
                     *SLURM_TEST_ARGS, timeout=900)
    assert proc.returncode != 0, "a GPU job without a GPU trained anyway"
    logs = list((workdir / "results/tiny_sim/logs/train").glob("seed_cnn_holdout.log"))
    assert logs, f"no training log:\n{_tail(workdir)}"
    text = logs[0].read_text()
    assert re.search(r"asked for 1 GPU\(s\), the backend sees none: CUDA_VISIBLE_DEVICES=", text), text[-2000:]
    assert not (workdir / target).exists()
