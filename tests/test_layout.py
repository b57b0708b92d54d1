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
    return imports_in(path.read_text(), where=str(path))


def imports_in(source: str, *, where="<source>") -> set:
    """Every autoal module the Python ``source`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autoal"):
            assert node.level == 0, f"{where}: relative import"
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


#: What the query layer must not import although it sits above them: it chooses examples from arrays and callables
#: (the embeddings come from :mod:`autoal.learners.embedding_source`), never from models or images.
NOT_FOR_QUERY = ("autoal.learners", "autoal.vision")


def model_imports(source: str) -> list:
    """The modules of :data:`NOT_FOR_QUERY` that the Python ``source`` imports."""
    return sorted(m for m in imports_in(source) if any(m == p or m.startswith(p + ".") for p in NOT_FOR_QUERY))


def test_the_query_layer_imports_no_learner_and_no_vision():
    found = {module_name(p): model_imports(p.read_text()) for p in (PACKAGE / "query").rglob("*.py")}
    found = {m: imported for m, imported in found.items() if imported}
    assert not found, f"the query layer imports models or images: {found}"


def test_the_query_check_catches_an_import_of_a_learner_or_of_vision():
    assert model_imports("def embed(df):\n    from autoal.learners import EmbeddingLearner\n") == ["autoal.learners"]
    assert model_imports("import autoal.vision.backbones\n") == ["autoal.vision.backbones"]
    assert model_imports("from autoal.vision.image_size import DIVERSITY_FEATURE_SIDE\n") == \
        ["autoal.vision.image_size"]
    assert model_imports("from autoal.common.sampling import seeded_sample\nimport autoal.learnersx\n") == []


def test_the_data_and_store_packages_give_their_entry_points():
    from autoal.data import prepare_data
    from autoal.store import RunStore

    assert prepare_data.__module__ == "autoal.data.prepare" and RunStore.__module__ == "autoal.store.run_store"
