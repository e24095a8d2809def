"""The per-rule conda environments (envs/*.yaml) stay true to requirements.txt and the code.

(a) Drift: envs/generate.py, run now on requirements.txt, gives the committed files byte for
    byte, and every pin in them is the version in requirements.txt.
(b) Coverage: for every rule in rules/*.smk that runs a script, its `conda:` file lists every
    third-party distribution imported by the script and by the seq2pheno modules the script
    reaches (imports followed statically with ast, function-level imports included; imports
    guarded by `try/except ImportError` or `if TYPE_CHECKING:` are optional and not counted).

`snakemake --sdm conda` itself cannot run here (no conda channel is reachable), so these
static checks are the guarantee; see docs/cluster.md.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ENVS = REPO / "envs"
LIBRARY = "seq2pheno"

# Distributions a family needs although no script imports them: Keras needs a backend.
IMPLIED = {"keras": {"tensorflow-cpu|jax"}}   # the CPU envs' backend, or the GPU envs' (JAX)
# Keras backends other than TensorFlow: imported only when a user sets KERAS_BACKEND to
# them (seq2pheno.backend, seq2pheno.ism); the environments provide TensorFlow, the tested
# default (DESIGN.md), so these imports are not asked of them.
OTHER_KERAS_BACKENDS = {"jax", "torch"}


def _load_generator():
    spec = importlib.util.spec_from_file_location("envs_generate", ENVS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()
canonical = generate.canonical


# ---- (a) drift ----------------------------------------------------------------------------


def test_env_files_equal_a_fresh_generation():
    expected = generate.generate()
    committed = {p.name: p.read_text() for p in ENVS.glob("*.yaml")}
    assert sorted(committed) == sorted(expected), (
        f"envs/ holds {sorted(committed)}, generate.py makes {sorted(expected)}"
    )
    stale = [name for name, text in expected.items() if committed[name] != text]
    assert not stale, (
        f"envs/{', envs/'.join(stale)} drifted from requirements.txt or from the mapping in "
        "envs/generate.py: run `python envs/generate.py` and commit the result"
    )


def _env_pins(path: Path) -> dict[str, str]:
    """canonical name -> version for every pinned package of an env file (conda or pip)."""
    doc = yaml.safe_load(path.read_text())
    pins = {}
    for dep in doc["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==?\s*(\S+))?", entry.strip())
            assert m, f"{path.name}: cannot read dependency {entry!r}"
            pins[canonical(m.group(1))] = m.group(2)
    return pins


@pytest.mark.parametrize("family", sorted(generate.FAMILIES))
def test_env_pins_equal_requirements(family):
    path = ENVS / f"{family}.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["name"] == f"seq2pheno-{family}"
    assert doc["channels"][:2] == ["conda-forge", "bioconda"]
    requirements = generate.read_requirements()
    for name, version in _env_pins(path).items():
        if name in ("python", "pip"):
            continue
        assert name in requirements, f"envs/{family}.yaml lists {name}, not in requirements.txt"
        assert version == requirements[name][1], (
            f"envs/{family}.yaml pins {name}=={version}, requirements.txt {requirements[name][1]}"
        )


def test_gpu_requirements_keep_the_cpu_pins():
    """requirements-gpu.txt = requirements.txt, same pins, plus the JAX CUDA backend."""
    cpu = generate.read_requirements()
    gpu = generate.read_requirements(generate.REQUIREMENTS_GPU)
    changed = {n: (v, gpu.get(n, (None, "missing"))[1]) for n, (_, v) in cpu.items()
               if gpu.get(n, (None, None))[1] != v}
    assert not changed, f"requirements-gpu.txt differs from requirements.txt: {changed}"
    extra = set(gpu) - set(cpu)
    assert {"jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt"} <= extra
    assert gpu["jax"][1] == gpu["jaxlib"][1] == gpu["jax-cuda12-plugin"][1], "jax versions differ"
    assert not {n for n in extra if n.startswith("tensorflow")}, "the GPU backend is JAX"


@pytest.mark.parametrize("family", sorted(generate.GPU_FAMILIES))
def test_gpu_env_pins_equal_requirements_gpu(family):
    path = ENVS / f"{family}-gpu.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["name"] == f"seq2pheno-{family}-gpu"
    assert doc["variables"] == {"KERAS_BACKEND": "jax"}
    gpu = generate.read_requirements(generate.REQUIREMENTS_GPU)
    cpu = generate.read_requirements()
    pins = {n: v for n, v in _env_pins(path).items() if n not in ("python", "pip")}
    for name, version in pins.items():
        assert name in gpu, f"envs/{family}-gpu.yaml lists {name}, not in requirements-gpu.txt"
        assert version == gpu[name][1], (
            f"envs/{family}-gpu.yaml pins {name}=={version}, requirements-gpu.txt {gpu[name][1]}"
        )
    assert set(gpu) - set(cpu) <= set(pins), "the GPU env lacks part of the JAX CUDA backend"
    assert not {n for n in pins if n.startswith("tensorflow")}, "a GPU env runs Keras on JAX"
    cpu_top = {canonical(t) for t in generate.FAMILIES[family]} - {"tensorflow-cpu"}
    assert cpu_top <= set(pins), f"envs/{family}-gpu.yaml lacks {sorted(cpu_top - set(pins))}"


# ---- (b) coverage: rules -> scripts -> imports ------------------------------------------

_RULE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
_DIRECTIVE = re.compile(r"^\s+(conda|script|run|shell|notebook|wrapper)\s*:\s*(.*)$")


def parse_rules(smk_files) -> dict[str, dict]:
    """rule name -> {file, conda, script, kind} read from the text of .smk files.

    `kind` is the rule's action (script, shell, run, notebook, wrapper or None).
    """
    rules = {}
    for smk in smk_files:
        text = Path(smk).read_text()
        starts = [(m.start(), m.group(1)) for m in _RULE.finditer(text)]
        for i, (start, name) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
            body = text[start:end].splitlines()[1:]
            info = {"file": Path(smk), "conda": None, "script": None, "kind": None}
            for j, line in enumerate(body):
                if line and not line[0].isspace() and not line.lstrip().startswith("#"):
                    break  # back at top level: the rule ended
                m = _DIRECTIVE.match(line)
                if not m:
                    continue
                key, rest = m.groups()
                value = rest.strip() or (body[j + 1].strip() if j + 1 < len(body) else "")
                string = re.fullmatch(r"""[rf]?(["'])(.*)\1,?""", value)
                if key == "conda":
                    info["conda"] = string.group(2) if string else value
                else:
                    info["kind"] = key
                    if key == "script":
                        info["script"] = string.group(2) if string else value
            rules[name] = info
    return rules


def _is_optional(node: ast.AST, parents: dict) -> bool:
    """True when an import sits in try/except ImportError or under `if TYPE_CHECKING`."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = []
                if handler.type is None:
                    names = ["BaseException"]
                elif isinstance(handler.type, ast.Tuple):
                    names = [ast.unparse(e) for e in handler.type.elts]
                else:
                    names = [ast.unparse(handler.type)]
                if any(n.split(".")[-1] in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            if child in parent.body:
                return True
        child, parent = parent, parents.get(parent)
    return False


class Module:
    """One Python file, read once: its imports, definitions and name bindings."""

    def __init__(self, path: Path):
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.parents = {c: n for n in ast.walk(self.tree) for c in ast.iter_child_nodes(n)}
        self.package_dir = REPO / LIBRARY
        self.in_library = self.package_dir in path.parents
        # the module's package inside the library, as parts ('models' for seq2pheno/models/x.py)
        self.package_parts = path.parent.relative_to(self.package_dir).parts if self.in_library else ()
        # top-level functions and classes: name -> node
        self.defs = {
            n.name: n
            for n in self.tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }
        # names bound at module level by imports: name -> binding (see _bindings)
        self.bindings = {}
        for node in self._walk(self.tree, skip_defs=True):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not self.optional(node):
                self.bindings.update(self._bindings(node)[1])

    @staticmethod
    def _walk(root, *, skip_defs):
        """ast.walk, optionally not entering function and class bodies below root."""
        todo = [root]
        while todo:
            node = todo.pop()
            yield node
            for child in ast.iter_child_nodes(node):
                if skip_defs and isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                ):
                    continue
                todo.append(child)

    def optional(self, node) -> bool:
        return _is_optional(node, self.parents)

    def library_file(self, dotted: str) -> Path | None:
        """The file of library module `dotted` (relative to the package; '' = package)."""
        if not dotted:
            return self.package_dir / "__init__.py"
        file = self.package_dir.joinpath(*dotted.split(".")).with_suffix(".py")
        if file.exists():
            return file
        init = self.package_dir.joinpath(*dotted.split(".")) / "__init__.py"
        return init if init.exists() else None

    def _bindings(self, node):
        """(external top-level names, {bound name: ("mod", file) | ("obj", file, name)},
        library module files imported) for one import statement."""
        external, bound, files = set(), {}, set()

        def module(dotted):
            file = self.library_file(dotted)
            if file is not None:
                files.add(self.package_dir / "__init__.py")
                files.add(file)
            return file

        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == LIBRARY:
                    file = module(rest)
                    if alias.asname and file:
                        bound[alias.asname] = ("mod", file)
                else:
                    external.add(top)
            return external, bound, files
        if node.level:
            assert self.in_library, f"{self.path}: relative import outside {LIBRARY}/"
            up = len(self.package_parts) - (node.level - 1)
            assert up >= 0, f"{self.path}: relative import beyond {LIBRARY}/"
            base = ".".join([*self.package_parts[:up], *([node.module] if node.module else [])])
        else:
            top, _, base = (node.module or "").partition(".")
            if top != LIBRARY:
                if top != "__future__":
                    external.add(top)
                return external, bound, files
        base_file = module(base)
        for alias in node.names:
            sub = f"{base}.{alias.name}" if base else alias.name
            sub_file = self.library_file(sub)
            name = alias.asname or alias.name
            if sub_file is not None and (
                sub_file.name != "__init__.py" or sub_file.parent.name == alias.name
            ):
                module(sub)
                bound[name] = ("mod", sub_file)
            elif base_file is not None:
                bound[name] = ("obj", base_file, alias.name)
        return external, bound, files


_MODULES: dict[Path, Module] = {}


def module_of(path: Path) -> Module:
    if path not in _MODULES:
        _MODULES[path] = Module(path)
    return _MODULES[path]


def _resolve(binding, seen=()):
    """A binding -> the unit (file, top-level name or None for the module) it denotes."""
    if binding[0] == "mod":
        return (binding[1], None)
    _, file, name = binding
    mod = module_of(file)
    if name in mod.defs:
        return (file, name)
    if name in mod.bindings and (file, name) not in seen:
        return _resolve(mod.bindings[name], seen + ((file, name),))
    return None  # a variable, or a name the module does not define statically


def reached_imports(script: Path) -> tuple[set[str], set[Path]]:
    """Top-level module names imported by the code a script can run, and the library files
    that code lives in.

    Units of code are a module's top level, or one of its top-level functions or classes
    (a class with all its methods). The script reaches its own top level and functions; a
    unit reaches the top level of every module it imports, and every library function or
    class it names (``steps.train_cnn``, ``load_ridge``, ``Dataset``). Imports inside a
    function count only when that function is reached, so a hub module whose functions
    import their dependencies lazily asks each rule's env only for what its step uses.
    """
    external: set[str] = set()
    script_mod = module_of(script)
    todo = [(script, None), *((script, name) for name in script_mod.defs)]
    seen: set = set()
    while todo:
        unit = todo.pop()
        if unit is None or unit in seen:
            continue
        seen.add(unit)
        file, name = unit
        mod = module_of(file)
        if name is not None:
            todo.append((file, None))  # calling a function runs its module first
        root = mod.tree if name is None else mod.defs[name]
        local = dict(mod.bindings)
        for node in Module._walk(root, skip_defs=name is None):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not mod.optional(node):
                ext, bound, files = mod._bindings(node)
                external |= ext
                local.update(bound)
                todo.extend((f, None) for f in files)
        for node in Module._walk(root, skip_defs=name is None):
            target = None
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in local:
                    target = _resolve(local[node.id])
                elif node.id in mod.defs:
                    target = (file, node.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and local.get(node.value.id, ("",))[0] == "mod"
            ):
                target = _resolve(("obj", local[node.value.id][1], node.attr))
                if target is None:  # maybe a submodule: pkg.sub
                    base = module_of(local[node.value.id][1])
                    rel = local[node.value.id][1].relative_to(base.package_dir).with_suffix("")
                    parts = [p for p in rel.parts if p != "__init__"] + [node.attr]
                    sub = base.library_file(".".join(parts)) if base.in_library else None
                    target = (sub, None) if sub is not None else None
            todo.append(target)
    files = {file for file, _ in seen} - {script}
    return external, files


@lru_cache(maxsize=None)
def _module_to_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def distributions_for(modules) -> tuple[set[str], list[str]]:
    """(canonical distribution names, module names no installed distribution provides)."""
    mapping = _module_to_distributions()
    dists, unknown = set(), []
    for module in sorted(modules):
        if module in sys.stdlib_module_names or module == LIBRARY:
            continue
        if module in OTHER_KERAS_BACKENDS:
            continue
        providers = [canonical(d) for d in mapping.get(module, [])]
        providers = [d for d in providers if d != LIBRARY]
        if not providers:
            unknown.append(module)
            continue
        # several distributions may provide one module name (e.g. tensorflow and
        # tensorflow-cpu both ship `tensorflow`): any one of them satisfies the import.
        dists.add("|".join(sorted(set(providers))))
    for dist in list(dists):
        dists |= IMPLIED.get(dist, set())
    return dists, unknown


def _smk_files():
    return sorted((REPO / "rules").glob("*.smk"))


def _script_rules():
    if not _smk_files():
        return []
    return sorted(n for n, info in parse_rules(_smk_files()).items() if info["kind"] == "script")


def test_rules_directory_parses_and_scripts_exist():
    files = _smk_files()
    assert files, "rules/*.smk not found"
    rules = parse_rules(files)
    assert rules, "no rule found in rules/*.smk"
    for name, info in rules.items():
        if info["kind"] == "script":
            script = (info["file"].parent / info["script"]).resolve()
            assert script.exists(), f"rule {name}: script {info['script']} not found"


def test_every_python_rule_names_a_generated_env():
    rules = parse_rules(_smk_files())
    families = {f"{f}.yaml" for f in generate.FAMILIES} | {f"{f}-gpu.yaml" for f in generate.GPU_FAMILIES}
    for name, info in rules.items():
        if info["kind"] not in ("script", "notebook"):
            continue
        assert info["conda"], f"rule {name} ({info['file'].name}) runs Python but has no conda:"
        env = (info["file"].parent / info["conda"]).resolve()
        assert env.parent == ENVS and env.name in families, (
            f"rule {name}: conda: {info['conda']} is not one of envs/{{{','.join(sorted(families))}}}"
        )


@pytest.mark.parametrize("rule", _script_rules())
def test_rule_env_lists_every_imported_distribution(rule):
    info = parse_rules(_smk_files())[rule]
    script = (info["file"].parent / info["script"]).resolve()
    env_path = (info["file"].parent / info["conda"]).resolve()
    modules, library_files = reached_imports(script)
    needed, unknown = distributions_for(modules)
    assert not unknown, (
        f"rule {rule}: {script.relative_to(REPO)} (with {len(library_files)} seq2pheno modules) "
        f"imports {unknown}, which no installed distribution provides: install and pin it in "
        "requirements.txt"
    )
    listed = set(_env_pins(env_path))
    if env_path.stem.endswith("-gpu"):
        # a GPU env runs Keras on JAX: the TensorFlow code paths (seq2pheno.ism's XLA chunk
        # function) are taken only under KERAS_BACKEND=tensorflow
        needed = {"tensorflow-cpu|jax" if d == "tensorflow-cpu" else d for d in needed}
    missing = sorted(d for d in needed if not set(d.split("|")) & listed)
    reached = ", ".join(sorted(str(p.relative_to(REPO)) for p in library_files))
    assert not missing, (
        f"rule {rule}: envs/{env_path.name} lacks {missing}, imported by "
        f"{script.relative_to(REPO)} or the modules it reaches ({reached}); add them to the "
        f"`{env_path.stem}` family in envs/generate.py and run `python envs/generate.py`"
    )


# ---- the checker itself, on a toy workflow --------------------------------------------------


def test_checker_follows_imports_through_the_library(tmp_path, monkeypatch):
    pkg = tmp_path / LIBRARY
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from . import b\nimport numpy as np\n"
        "def g():\n    return b.f()\n"
        "def unused():\n    import matplotlib\n"
    )
    (pkg / "b.py").write_text(
        "import json\n"
        "def f():\n    import yaml\n    from .c import C\n    return C()\n"
        "def never():\n    import pysam\n"
        "try:\n    import jax\nexcept ImportError:\n    jax = None\n"
    )
    (pkg / "c.py").write_text(
        "class C:\n    def fit(self):\n        import sklearn.linear_model\n"
    )
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "s.py").write_text("from seq2pheno import a\nfrom seq2pheno.b import json\na.g()\n")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.smk").write_text(
        'rule s:\n    output: "o"\n    conda:\n        "../envs/model.yaml"\n'
        '    script:\n        "../scripts/s.py"\n\n'
        'rule t:\n    output: "p"\n    shell: "touch {output}"\n'
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    _MODULES.clear()
    try:
        parsed = parse_rules([rules / "x.smk"])
        assert parsed["s"]["conda"] == "../envs/model.yaml"
        assert parsed["s"]["script"] == "../scripts/s.py"
        assert parsed["t"]["kind"] == "shell" and parsed["t"]["conda"] is None
        modules, files = reached_imports(scripts / "s.py")
        assert {p.name for p in files} == {"__init__.py", "a.py", "b.py", "c.py"}
        # reached: module tops, a.g -> b.f (lazy yaml) -> class C with its methods
        assert {"numpy", "json", "yaml", "sklearn"} <= modules
        # not reached: unused functions, optional (try/except ImportError) imports
        assert not {"matplotlib", "pysam", "jax"} & modules
        dists, unknown = distributions_for(modules)
        assert {"numpy", "pyyaml", "scikit-learn"} <= dists and not unknown
    finally:
        _MODULES.clear()
