"""The package's layout: layers that import only downwards, no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import autoal

PACKAGE = Path(autoal.__file__).parent

#: Subpackages from the bottom layer up: a module may import from its own layer and the layers below it.
LAYERS = ["errors", "common", "data", "store", "vision", "graph", "learners", "multiannotator", "query", "annotation",
          "results", "rounds", "server", "labelstudio", "cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set:
    """Every autoal module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autoal"):
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists()
                          else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("autoal"))
    return found


def graph() -> dict:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_sits_in_a_layer():
    loose = [m for m in graph() if layer(m) is None and m != "autoal"]
    assert not loose, f"modules outside the layers {LAYERS}: {loose}"


def test_no_import_runs_up_a_layer():
    upward = [f"{m} -> {t}" for m, targets in graph().items() for t in targets
              if layer(m) is not None and layer(t) is not None and layer(t) > layer(m)]
    assert not upward, "imports that run up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    edges = graph()
    circles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                circles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_data_and_store_packages_give_their_entry_points():
    from autoal.data import prepare_data
    from autoal.store import RunStore

    assert prepare_data.__module__ == "autoal.data.prepare" and RunStore.__module__ == "autoal.store.run_store"
