#!/usr/bin/env python3
"""Write envs/<family>.yaml, one conda environment per rule family, from requirements.txt.

The families that run Keras also get a GPU variant, envs/<family>-gpu.yaml, from
requirements-gpu.txt: the same packages with TensorFlow replaced by JAX with CUDA 12, and
KERAS_BACKEND=jax set in the environment (README.md, "GPU install").

requirements.txt is the one source of truth for versions: every package an environment
lists, the family's top-level packages and everything they depend on, is pinned there and
copied here with the same version. Only the mapping below (which top-level packages each
family imports) is written by hand; tests/test_envs.py checks it against the imports of
each rule's script and of the seq2pheno modules that script reaches, and checks that the
committed files equal a fresh generation byte for byte.

    python envs/generate.py            # rewrite envs/*.yaml
    python envs/generate.py --check    # exit 1 and name the files that are out of date

Dependencies are followed through the installed packages' metadata (the venv that
`make install` built from requirements.txt), with their environment markers evaluated for
Linux and Python 3.11, the platform the pins were made on. A dependency missing from
requirements.txt stops the generation: add it there first.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ENVS = Path(__file__).resolve().parent
REPO = ENVS.parent
REQUIREMENTS = REPO / "requirements.txt"
REQUIREMENTS_GPU = REPO / "requirements-gpu.txt"

# Python of the environments: the version the pins in requirements.txt were resolved on.
PYTHON = "3.11"
CHANNELS = ("conda-forge", "bioconda", "nodefaults")
# Installer tools that pip freeze leaves out of requirements.txt: conda's `pip` package
# brings them, so a dependency on them is not followed.
INSTALLER_TOOLS = frozenset({"pip", "wheel"})

# The hand-written part: rule family -> the top-level distributions its rules' scripts
# import (or need at run time). Names as in requirements.txt. Which rule uses which family is
# said by each rule's `conda:` in rules/*.smk; tests/test_envs.py checks that each family
# lists every distribution its rules' scripts import.
FAMILIES: dict[str, tuple[str, ...]] = {
    # bed-reader: the plink source reads .bed files (seq2pheno/markers.py)
    "data": ("numpy", "pandas", "pysam", "PyYAML", "msprime", "tskit", "bed-reader"),
    "curate": ("numpy", "pandas", "pyarrow", "numba", "scipy", "scikit-learn", "PyYAML"),
    # jsonschema: model specs are validated by the registry of kinds (seq2pheno/models/).
    # Keras needs a backend at run time: TensorFlow is the tested one (DESIGN.md).
    # pysam: predict_new reads the VCF of new genotypes.
    # optuna: hyperparameter search workers (seq2pheno/search.py).
    "model": (
        "numpy", "pandas", "scipy", "scikit-learn", "keras", "tensorflow_cpu", "pysam", "PyYAML",
        "lightgbm", "jsonschema", "optuna",
    ),
    # pyjaspar (bundled JASPAR SQLite), memelite (Tomtom) and modisco-lite (TF-MoDISco):
    # naming the motifs of filters and ISM maps (seq2pheno/motifs.py).
    "interpret": (
        "numpy", "pandas", "scipy", "scikit-learn", "keras", "tensorflow_cpu",
        "logomaker", "matplotlib", "PyYAML", "jsonschema", "lightgbm",
        "pyjaspar", "memelite", "modisco-lite",
    ),
    "report": ("numpy", "pandas", "scipy", "matplotlib", "logomaker", "PyYAML", "jsonschema",
               "scikit-learn", "lightgbm", "keras"),
}


# GPU variants: family -> the CPU family's packages with these swapped. The CPU backend is
# dropped; the GPU backend is every package requirements-gpu.txt adds to requirements.txt
# (jax[cuda12] as pip resolved it), taken as pinned there without reading its metadata (it is
# not installed by a plain `make install`), plus the packages of requirements.txt that jax
# and jaxlib require (their metadata, jax 0.10.2), whose own dependencies are followed.
GPU_FAMILIES = ("model", "interpret")
CPU_BACKEND = "tensorflow_cpu"
GPU_BACKEND_TOP = ("jax", "jax-cuda12-plugin")
GPU_BACKEND_SHARED = ("ml_dtypes", "numpy", "opt_einsum", "scipy")
GPU_VARIABLES = {"KERAS_BACKEND": "jax"}


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name (``PyYAML`` -> ``pyyaml``, ``a_b`` -> ``a-b``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path = REQUIREMENTS) -> dict[str, tuple[str, str]]:
    """canonical name -> (name as written, version) for every ``name==version`` line."""
    pins: dict[str, tuple[str, str]] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        if not m:
            raise SystemExit(f"{path.name}:{lineno}: expected `name==version`, got {raw!r}")
        pins[canonical(m.group(1))] = (m.group(1), m.group(2))
    return pins


def _marker_env() -> dict[str, str]:
    env = default_environment()
    env.update(
        python_version=PYTHON,
        python_full_version=f"{PYTHON}.0",
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_machine="x86_64",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        extra="",
    )
    return env


def dependencies(dist: str) -> list[str]:
    """Canonical names of the run-time dependencies of an installed distribution."""
    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        raise SystemExit(
            f"envs/generate.py: {dist} is pinned in requirements.txt but not installed; "
            "run `make install` first"
        ) from None
    env = _marker_env()
    out = []
    for spec in requires:
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate(env):
            out.append(canonical(req.name))
    return out


def closure(top: tuple[str, ...], pins: dict[str, tuple[str, str]],
            leaves: frozenset[str] = frozenset()) -> list[str]:
    """The top-level distributions and all their dependencies, as canonical names.

    ``leaves`` (canonical names) are taken as they are: their dependencies are not followed.
    """
    seen: dict[str, str] = {}  # canonical name -> who needs it (for the error message)
    stack = [(canonical(t), "the mapping in envs/generate.py") for t in top]
    while stack:
        name, parent = stack.pop()
        if name in seen or (name in INSTALLER_TOOLS and name not in pins):
            continue
        if name not in pins:
            raise SystemExit(
                f"envs/generate.py: {name} (needed by {parent}) is not pinned in "
                "requirements.txt; pin it there (pip freeze) and rerun"
            )
        seen[name] = parent
        if name not in leaves:
            stack.extend((dep, name) for dep in dependencies(pins[name][0]))
    return sorted(seen)


def gpu_top(family: str, gpu_pins: dict[str, tuple[str, str]]) -> tuple[tuple[str, ...], frozenset]:
    """(top-level packages, GPU-only packages) of the GPU variant of ``family``."""
    cpu_pins = read_requirements(REQUIREMENTS)
    extra = frozenset(n for n in gpu_pins if n not in cpu_pins)
    missing = [t for t in GPU_BACKEND_TOP if canonical(t) not in extra]
    if missing:
        raise SystemExit(f"envs/generate.py: {missing} not pinned in requirements-gpu.txt")
    top = tuple(t for t in FAMILIES[family] if canonical(t) != canonical(CPU_BACKEND))
    return top + GPU_BACKEND_TOP, extra


def render(family: str, pins: dict[str, tuple[str, str]], *, gpu: bool = False) -> str:
    if gpu:
        top, extra = gpu_top(family, pins)
        # the GPU-only packages all belong to the backend; jax's shared deps are followed
        found = closure(top + GPU_BACKEND_SHARED, pins, leaves=extra) + sorted(extra)
        found = sorted(set(found))
        name, source = f"{family}-gpu", "requirements-gpu.txt"
        what = f"the GPU variant of envs/{family}.yaml (Keras on JAX with CUDA 12)"
    else:
        top = FAMILIES[family]
        found = closure(top, pins)
        name, source = family, "requirements.txt"
        what = f"the rules whose `conda:` names envs/{family}.yaml"
    top_canon = sorted({canonical(t) for t in top})
    deps = [n for n in found if n not in top_canon]
    lines = [
        f"# Generated by envs/generate.py from {source}: do not edit by hand.",
        f"# Regenerate with `python envs/generate.py` after changing {source}.",
        f"# Rule family `{family}`: {what}.",
        f"name: seq2pheno-{name}",
        "channels:",
        *(f"  - {c}" for c in CHANNELS),
        *(["variables:", *(f"  {k}: {v}" for k, v in GPU_VARIABLES.items())] if gpu else []),
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
        "      # imported by the family's scripts and the seq2pheno modules they reach",
        *(f"      - {pins[n][0]}=={pins[n][1]}" for n in top_canon),
        f"      # their dependencies, pinned as in {source}",
        *(f"      - {pins[n][0]}=={pins[n][1]}" for n in deps),
    ]
    return "\n".join(lines) + "\n"


def generate(pins: dict[str, tuple[str, str]] | None = None,
             gpu_pins: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """file name -> text, for every family and every GPU variant."""
    pins = read_requirements() if pins is None else pins
    gpu_pins = read_requirements(REQUIREMENTS_GPU) if gpu_pins is None else gpu_pins
    files = {f"{family}.yaml": render(family, pins) for family in FAMILIES}
    files.update({f"{family}-gpu.yaml": render(family, gpu_pins, gpu=True)
                  for family in GPU_FAMILIES})
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for name, text in generate().items():
        path = ENVS / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text)
    if args.check:
        if stale:
            print(f"out of date: {', '.join(stale)}; run `python envs/generate.py`")
            return 1
        print("envs/*.yaml are up to date")
    else:
        print(f"wrote {', '.join(stale) or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
