"""The conda envs (envs/*.yaml, for --software-deployment-method conda) against the code the rules run.

Each env must parse, pin exactly the versions pyproject.toml pins, and list every third-party
package that the jobs using it import: the library modules a rule runs (their whole import
closure inside noisefa), the notebook papermill executes, and the rule's own executables.
"""

import ast
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

from noisefa.sources import closure

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"
RULES = REPO / "workflow" / "rules"
LIB = REPO / "workflow"
ENV_FILES = {"ENV": ENVS / "noisefa.yaml", "REPORT_ENV": ENVS / "report.yaml"}  # names used in common.smk
EXECUTABLES = {"papermill": {"papermill", "ipykernel"}, "jupyter nbconvert": {"nbconvert"}}  # shell tool -> packages
PROVIDED_BY = {"ipython": "ipykernel"}  # imported, but installed (and versioned) by the package that runs the kernel


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements):
    """{normalised name: version or None} from 'name==1.2' / 'name' strings."""
    out = {}
    for req in requirements:
        name, _, version = req.partition("==")
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", name.strip()), f"unsupported requirement syntax: {req!r}"
        out[_norm(name.strip())] = version.strip() or None
    return out


def _env(path):
    spec = yaml.safe_load(path.read_text())
    deps = spec["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    conda = [d for d in deps if isinstance(d, str)]
    return spec, conda, _pins(pip)


PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PROJECT_PINS = _pins(PYPROJECT["dependencies"])


def _rules():
    """{rule: (env variable name, shell text)} parsed from workflow/rules/*.smk."""
    rules = {}
    for smk in sorted(RULES.glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            conda = re.search(r"^\s+conda:\s*\n\s+(\w+)", block, flags=re.M)
            shell = re.search(r"^\s+shell:\s*\n(.*)", block, flags=re.M | re.S)
            rules[name] = (conda.group(1) if conda else None, shell.group(1) if shell else "")
    # figure rules are generated from the figure registry by one loop in figures.smk: its one conda:
    # line is theirs, and each runs its registered module
    from noisefa.figures.registry import FIGURES

    loop = (RULES / "figures.smk").read_text()
    env = re.search(r"^\s+conda:\s*\n\s+(\w+)", loop, flags=re.M)
    for fig in FIGURES.values():
        rules[fig.rule] = (env.group(1) if env else None, f"python -m noisefa.figures.{fig.module} --out x")
    return rules


def _import_nodes(tree, lazy):
    """Import statements of a module; with lazy=False only those that run when it is imported."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if lazy or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def _third_party(texts, lazy=True):
    """Distributions (normalised) that these Python sources import."""
    dists = packages_distributions()
    found = set()
    for text in texts:
        for node in _import_nodes(ast.parse(text), lazy):
            if isinstance(node, ast.Import):
                tops = {a.name.split(".")[0] for a in node.names}
            elif not node.level:
                tops = {node.module.split(".")[0]}
            else:
                continue
            for top in tops - set(sys.stdlib_module_names) - {"noisefa", "__future__"}:
                assert top in dists, f"cannot tell which package provides `import {top}`"
                found.update(_norm(d) for d in dists[top])
        if "parquet" in text:  # pandas reads and writes parquet through pyarrow, never imported by name
            found.add("pyarrow")
    return found


def _strip_magics(cell):
    return "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))


def _needs(shell):
    """Packages a rule's command needs: every import (lazy ones too) of the noisefa modules it runs,
    its executables, and for papermill the notebooks' imports plus what importing their noisefa
    modules imports (module level only: the notebook imports the dataset registry, it does not
    download datasets)."""
    texts = [(LIB / f).read_text() for m in re.findall(r"python -m (noisefa(?:\.\w+)+)", shell) for f in closure(m)]
    needs = set().union(*(pkgs for tool, pkgs in EXECUTABLES.items() if re.search(rf"(^|[\s\"']){tool}\b", shell)))
    if "papermill" in shell:
        for nb in sorted((REPO / "workflow" / "notebooks").glob("*.ipynb")):
            cells = [_strip_magics(c) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
            texts += cells
            imported = {n.module for c in cells for n in ast.walk(ast.parse(c)) if isinstance(n, ast.ImportFrom)}
            modules = [(LIB / f).read_text() for m in sorted(imported) if m.startswith("noisefa") for f in closure(m)]
            needs |= _third_party(modules, lazy=False)
    return needs | _third_party(texts)


@pytest.mark.parametrize("path", sorted(ENVS.glob("*.yaml")), ids=lambda p: p.name)
def test_env_parses_and_pins_what_pyproject_pins(path):
    spec, conda, pins = _env(path)
    assert spec.get("channels") and "pip" in conda
    python = next(d for d in conda if d.startswith("python"))
    minimum = PYPROJECT["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[-1].split("."))) >= tuple(map(int, minimum.split("."))), python
    for name, version in pins.items():
        if version is not None or name in PROJECT_PINS:
            assert name in PROJECT_PINS, f"{path.name} pins {name}, which pyproject.toml does not"
            assert version == PROJECT_PINS[name], f"{path.name}: {name}=={version}, pyproject.toml: {PROJECT_PINS[name]}"


def test_every_rule_names_one_of_the_envs():
    rules = _rules()
    assert {"train", "pretrain", "aggregate", "notebook"} <= set(rules)
    for rule, (env, shell) in rules.items():
        assert env in ENV_FILES, f"rule {rule}: conda: {env}"
        assert shell, f"rule {rule} has no shell command"


@pytest.mark.parametrize("env_name", sorted(ENV_FILES))
def test_env_lists_what_its_rules_import(env_name):
    _, _, pins = _env(ENV_FILES[env_name])
    rules = {r: shell for r, (env, shell) in _rules().items() if env == env_name}
    assert rules
    for rule, shell in rules.items():
        missing = {p for p in _needs(shell) if p not in pins and PROVIDED_BY.get(p) not in pins}
        assert not missing, f"rule {rule} (conda: {env_name}) needs {sorted(missing)}, not in {ENV_FILES[env_name].name}"


def test_the_checks_see_the_imports():
    """Guard against a vacuous pass: the training rules need torch, the notebook pandas and papermill."""
    rules = _rules()
    assert {"torch", "pandas", "pyarrow"} <= _needs(rules["train"][1])
    assert {"papermill", "ipykernel", "pandas", "scipy"} <= _needs(rules["notebook"][1])
    assert {"matplotlib", "seaborn"} <= _needs(rules["figure_learning_curves"][1])
