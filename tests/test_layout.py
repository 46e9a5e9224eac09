"""The library's layout (noisefa/__init__.py): subpackages by concern, each importing only those
above it, and no import cycle between modules."""

import pkgutil
import subprocess
import sys

import noisefa
from noisefa.sources import PACKAGE_DIR, imports_of, module_file

# The order of noisefa/__init__.py's docstring: a module may import its own layer and those before.
LAYERS = {"": 0, "data": 1, "nets": 2, "pipeline": 3, "analysis": 4, "figures": 5, "stages": 5, "tools": 5}


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(noisefa.__path__, "noisefa.") if not m.ispkg)


def graph() -> dict[str, set[str]]:
    """{module: the noisefa modules it imports} (packages resolved to their modules)."""
    known = set(modules())
    return {m: {i for i in imports_of(module_file(m), m) if i in known} for m in known}


def layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 2 else ""
    return sub, LAYERS[sub]


def layer_violations(g: dict[str, set[str]]) -> list[str]:
    """Imports of a later layer, or of another package of the same layer (figures, stages, tools)."""
    bad = []
    for m, deps in g.items():
        (sub, lm) = layer(m)
        for d in deps:
            (dsub, ld) = layer(d)
            if ld > lm or (ld == lm and dsub != sub):
                bad.append(f"{m} imports {d}")
    return sorted(bad)


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in g.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_every_module_lives_in_a_known_layer():
    assert all(layer(m)[0] in LAYERS for m in modules())
    assert (PACKAGE_DIR / "nets" / "stack.py").exists()


def test_no_module_imports_a_later_layer():
    assert layer_violations(graph()) == []


def test_no_import_cycle_between_modules():
    assert cycles(graph()) == []


def test_the_checks_catch_a_bad_import_and_a_cycle():
    g = graph()
    g["noisefa.nets.engine"] = g["noisefa.nets.engine"] | {"noisefa.analysis.claims"}
    g["noisefa.stages.train"] = g["noisefa.stages.train"] | {"noisefa.figures.style"}
    assert layer_violations(g) == [
        "noisefa.nets.engine imports noisefa.analysis.claims",
        "noisefa.stages.train imports noisefa.figures.style",
    ]
    # the cycle issue 24 removed: the rules' code naming the model that imports it
    g["noisefa.nets.feedback"] = g["noisefa.nets.feedback"] | {"noisefa.nets.model"}
    assert ["noisefa.nets.feedback", "noisefa.nets.model"] in cycles(g)


# The jobs that read tables and draw: they start ~1.3 s faster without torch (28 such jobs in the
# quick config), and an edit of the networks' code reruns none of them. Figures 2 and 6 read weight
# trajectories (tensors), so they and their projection import torch.
# The registry of figures is read by the Snakefile (which plans), not by a job.
READS_TENSORS = {"noisefa.figures.figure2", "noisefa.figures.figure6", "noisefa.figures.trajectories"}
NOT_A_JOB = {"noisefa.figures.registry"}
TABLE_STAGES = ["aggregate", "claims", "compare", "family_study", "mechanism", "protocols", "table1"]


def torch_free_modules() -> list[str]:
    drawn = [m for m in modules() if layer(m)[0] in ("analysis", "figures") and m not in READS_TENSORS | NOT_A_JOB]
    return drawn + [f"noisefa.stages.{s}" for s in TABLE_STAGES] + ["noisefa.nets.learning_rules", "noisefa.data.transforms"]


def imports_torch(mods: list[str]) -> bool:
    code = f"import sys\nfor m in {mods!r}:\n    __import__(m)\nprint('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return r.stdout.strip() == "True"


def test_the_analysis_figure_and_table_jobs_import_no_torch():
    assert not imports_torch(torch_free_modules())
    assert imports_torch(["noisefa.figures.figure2"])  # the check sees torch where it is imported
