"""Which library files a stage runs: the import closure of a module inside noisefa.

Rules list these as inputs, so editing a file reruns exactly the jobs whose code
imports it (a plotting helper never retrains a network).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "noisefa":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.exists():
            return cand
    return None


def _package_inits(module: str) -> list[Path]:
    parts = module.split(".")
    return [PACKAGE_DIR.joinpath(*parts[1:i], "__init__.py") for i in range(1, len(parts))]


@cache  # every stage's closure parses the same few dozen files: once each per process
def imports_of(path: Path, module: str) -> frozenset[str]:
    pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)  # `from . import x`
    return frozenset(m for m in found if m.split(".")[0] == "noisefa")


@cache
def closure(module: str) -> tuple[str, ...]:
    """Sorted files (relative to the repository's workflow/ dir) that ``module`` imports."""
    seen: set[Path] = set()
    todo = [module]
    done_modules: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in done_modules:
            continue
        done_modules.add(mod)
        path = module_file(mod)
        if path is None:
            continue
        seen.add(path)
        seen.update(p for p in _package_inits(mod) if p.exists())
        todo.extend(imports_of(path, mod))
    root = PACKAGE_DIR.parent
    return tuple(sorted(str(p.relative_to(root)) for p in seen))
