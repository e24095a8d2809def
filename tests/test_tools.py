"""scripts/ensure_tools.sh: missing system tools are installed (root, apt-get) or named in one line.

apt-get never runs for real here: the script's decision is tested with a PATH that lacks the
tools, a fake uid (ENSURE_TOOLS_UID) and a fake or absent apt-get (ENSURE_TOOLS_APT).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "ensure_tools.sh"
BASH = shutil.which("bash")
TEST_TOOLS = ["plink2", "bcftools", "bgzip", "tabix"]
INSTALL = "apt-get update -qq && apt-get install -y -qq --no-install-recommends plink2 bcftools tabix"


def _executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def bare_bin(tmp_path):
    """A PATH directory holding none of the tools (the script needs only bash builtins)."""
    d = tmp_path / "bin"
    d.mkdir()
    return d


def ensure(tools, bin_dir, *, uid, apt=None):
    env = {"PATH": str(bin_dir), "ENSURE_TOOLS_UID": str(uid),
           "ENSURE_TOOLS_APT": str(apt) if apt else "no-such-apt-get"}
    return subprocess.run([BASH, str(SCRIPT), *tools], capture_output=True, text=True, env=env,
                          timeout=60)


def test_nothing_to_do_when_all_tools_are_there(bare_bin, tmp_path):
    for tool in TEST_TOOLS:
        _executable(bare_bin / tool)
    calls = tmp_path / "apt_calls"
    apt = _executable(tmp_path / "apt", f"#!{BASH}\necho \"$*\" >> {calls}\n")
    proc = ensure(TEST_TOOLS, bare_bin, uid=0, apt=apt)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    assert not calls.exists(), "apt-get ran although nothing was missing"


def test_not_root_stops_with_one_line_naming_the_command(bare_bin):
    proc = ensure(TEST_TOOLS, bare_bin, uid=1000)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "plink2 bcftools bgzip tabix not found" in lines[0]
    assert INSTALL in lines[0]


def test_root_without_apt_get_stops_with_one_line(bare_bin):
    proc = ensure(TEST_TOOLS, bare_bin, uid=0)  # ENSURE_TOOLS_APT names no command
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "apt-get is not available" in lines[0] and "plink2 bcftools tabix" in lines[0]


def test_only_the_missing_packages_are_named(bare_bin):
    _executable(bare_bin / "plink2")
    _executable(bare_bin / "bcftools")
    proc = ensure(TEST_TOOLS, bare_bin, uid=1000)
    assert proc.returncode != 0
    assert "bgzip tabix not found" in proc.stderr
    assert "--no-install-recommends tabix'" in proc.stderr  # bgzip and tabix: one package


def test_root_with_apt_get_installs_the_packages(bare_bin, tmp_path):
    calls = tmp_path / "apt_calls"
    # A fake apt-get: records its arguments; `install` puts the tools on PATH.
    apt = _executable(tmp_path / "apt", (
        f"#!{BASH}\n"
        f"echo \"$*\" >> {calls}\n"
        "if [ \"$1\" = install ]; then\n"
        f"  for t in {' '.join(TEST_TOOLS)}; do printf '#!/bin/sh\\n' > {bare_bin}/$t; "
        f"{shutil.which('chmod')} +x {bare_bin}/$t; done\n"
        "fi\n"
    ))
    proc = ensure(TEST_TOOLS, bare_bin, uid=0, apt=apt)
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().splitlines() == [
        "update -qq",
        "install -y -qq --no-install-recommends plink2 bcftools tabix",
    ]


def test_root_with_apt_get_that_does_not_provide_the_tool_fails(bare_bin, tmp_path):
    apt = _executable(tmp_path / "apt")
    proc = ensure(["bgzip"], bare_bin, uid=0, apt=apt)
    assert proc.returncode != 0
    assert "bgzip still not found after installing tabix" in proc.stderr


def test_make_checks_the_tools_before_testing_and_installing():
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    env = dict(os.environ)
    for target, tools in (("test", "plink2 bcftools bgzip tabix"), ("install", "bgzip tabix")):
        out = subprocess.run(["make", "-n", "-C", str(REPO), target], capture_output=True,
                             text=True, env=env, timeout=60).stdout.splitlines()
        ensure_lines = [i for i, ln in enumerate(out) if "scripts/ensure_tools.sh" in ln]
        assert ensure_lines, f"make {target} does not run scripts/ensure_tools.sh"
        assert out[ensure_lines[0]].rstrip().endswith(tools)
        if target == "test":
            pytest_lines = [i for i, ln in enumerate(out) if "pytest" in ln]
            assert ensure_lines[0] < pytest_lines[0], "tools are checked after the tests start"
