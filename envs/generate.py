#!/usr/bin/env python3
"""Write envs/<family>.yaml, one conda environment per rule family, from requirements.txt.

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
    "data": ("numpy", "pandas", "pysam", "PyYAML", "msprime", "tskit"),
    "curate": ("numpy", "pandas", "scipy", "scikit-learn", "PyYAML"),
    # Keras needs a backend at run time: TensorFlow is the tested one (DESIGN.md).
    # pysam: predict_new reads the VCF of new genotypes.
    "model": (
        "numpy", "pandas", "scipy", "scikit-learn", "keras", "tensorflow_cpu", "pysam", "PyYAML",
    ),
    "interpret": (
        "numpy", "pandas", "scipy", "scikit-learn", "keras", "tensorflow_cpu",
        "logomaker", "matplotlib", "PyYAML",
    ),
    "report": ("numpy", "pandas", "scipy", "matplotlib", "logomaker", "PyYAML"),
}


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


def closure(top: tuple[str, ...], pins: dict[str, tuple[str, str]]) -> list[str]:
    """The top-level distributions and all their dependencies, as canonical names."""
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
        stack.extend((dep, name) for dep in dependencies(pins[name][0]))
    return sorted(seen)


def render(family: str, pins: dict[str, tuple[str, str]]) -> str:
    top = FAMILIES[family]
    top_canon = sorted({canonical(t) for t in top})
    deps = [n for n in closure(top, pins) if n not in top_canon]
    lines = [
        "# Generated by envs/generate.py from requirements.txt: do not edit by hand.",
        "# Regenerate with `python envs/generate.py` after changing requirements.txt.",
        f"# Rule family `{family}`: the rules whose `conda:` names envs/{family}.yaml.",
        f"name: seq2pheno-{family}",
        "channels:",
        *(f"  - {c}" for c in CHANNELS),
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
        "      # imported by the family's scripts and the seq2pheno modules they reach",
        *(f"      - {pins[n][0]}=={pins[n][1]}" for n in top_canon),
        "      # their dependencies, pinned as in requirements.txt",
        *(f"      - {pins[n][0]}=={pins[n][1]}" for n in deps),
    ]
    return "\n".join(lines) + "\n"


def generate(pins: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """file name -> text, for every family."""
    pins = read_requirements() if pins is None else pins
    return {f"{family}.yaml": render(family, pins) for family in FAMILIES}


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
