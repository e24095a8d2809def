"""Run the workflow on a benchmark's config: the real jobs, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_workflow(work: Path, config: dict, targets: list[str], cores: int = 2) -> float:
    """Write ``config`` to ``work``/config.yaml and run Snakemake there on ``targets``
    (``--cores cores``); returns the wall seconds. Finished jobs are not run again."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    start = time.perf_counter()
    subprocess.run([snakemake, *targets, "-s", str(ROOT / "Snakefile"), "--directory", str(work),
                    "--configfile", str(work / "config.yaml"), "--cores", str(cores), "--quiet", "rules"],
                   check=True)
    return time.perf_counter() - start
