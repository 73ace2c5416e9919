"""Imports run one way (shared/DESIGN.md, "Floors of the house"): the import graph of ``workbench/`` has no cycle,
and no module imports a module on a floor above its own. Every import counts: inside functions and under
``TYPE_CHECKING`` too. A package's ``__init__`` (its face, re-exporting its children) is not a dependency of the
modules inside it, as in ``shared/tools/import_cycles.py``.

``FLOORS`` is the one place that says where each module stands. A row names a module, or a package and every
module in it; the longest name that matches wins; ``PACKAGE.__init__`` names a package's face alone. A module
that no row names fails the test, so a new top-level module gets a row.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"

# bottom to top: a module imports its own floor and the floors below, never one above.
# Where this differs from DESIGN.md's order, and why:
# - datasets and prompts stand below configs: a config checks dataset names against the dataset registry
#   (``configs.checks.check_dataset``; ``ReplicateConfig`` checks ``limit`` against the dataset's size), and
#   neither datasets nor prompts imports anything of configs.
# - elicit's decoding, scoring and confidence stand on the backends floor: ``Backend.confidence`` reads its
#   confidence with them, and they import nothing above the backends.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("bottom", ("workbench.errors", "workbench.architectures", "workbench.layer_selection", "workbench.files",
                "workbench.token_tree")),
    ("datasets, prompts", ("workbench.datasets", "workbench.prompts")),
    ("configs", ("workbench.configs",)),  # pydantic models and the choice lists (configs.registries) as data
    ("backends", ("workbench.backends", "workbench.elicit.decoding", "workbench.elicit.scoring",
                  "workbench.elicit.confidence")),
    ("elicit", ("workbench.elicit",)),
    ("store", ("workbench.store", "workbench.collect")),  # collect: elicit every item into a run store
    ("analyses, finetune", ("workbench.analyses", "workbench.finetune", "workbench.sampling",
                            "workbench.planning")),  # planning: sizes the stages from their own constants
    ("figures and report pages", ("workbench.figures",)),
    ("api", ("workbench.api",)),  # one verb per stage
    ("studies", ("workbench.studies", "workbench.sweeps", "workbench.replicate", "workbench.demo")),  # run the verbs
    ("commands, cli", ("workbench.commands", "workbench.cli", "workbench.cli_options", "workbench.__init__")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str, modules: set[str]) -> set[str]:
    """The workbench modules that ``path`` (module ``name``) imports anywhere in its body."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]  # a name may be a submodule
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the workbench modules it imports, less the faces of the packages it stands in."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: imported(path, name, set(files)) for name, path in files.items()}
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def floor(module: str) -> int:
    """The index in ``FLOORS`` of the floor ``module`` stands on."""
    is_face = (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()
    key = f"{module}.__init__" if is_face else module
    matches = [(len(row), i) for i, (_, rows) in enumerate(FLOORS) for row in rows
               if key == row or key.startswith(row + ".")]
    assert matches, f"{module} stands on no floor: give it a row in FLOORS ({Path(__file__).name})"
    return max(matches)[1]


def where(module: str) -> str:
    return f"{module} (floor {floor(module) + 1}, {FLOORS[floor(module)][0]})"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = [stack.pop()]
            while component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_stands_on_a_floor_and_every_row_names_a_module():
    graph = import_graph()
    for module in graph:
        floor(module)
    names = set(graph) | {f"{m}.__init__" for m in graph if (PACKAGE.parent / m.replace(".", "/")).is_dir()}
    stale = [row for _, rows in FLOORS for row in rows if row not in names]
    assert not stale, f"FLOORS names modules that do not exist: {stale}"


def test_no_import_reaches_a_floor_above():
    upward = [f"{where(m)} imports {where(t)}" for m, targets in sorted(import_graph().items())
              for t in sorted(targets) if floor(t) > floor(m)]
    assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = import_graph()
    found = [", ".join(f"{m} -> {t}" for m in cycle for t in sorted(graph[m]) if t in cycle)
             for cycle in cycles(graph)]
    assert not found, "import cycles (the imports within each):\n" + "\n".join(found)


def test_the_graph_sees_imports_inside_functions_and_finds_cycles():
    graph = import_graph()
    assert "workbench.figures.run_report" in graph["workbench.api"]  # imported only inside wb.report
    assert "workbench.store.provenance" in graph["workbench.store.results"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert where("workbench.configs.stages") == "workbench.configs.stages (floor 3, configs)"
    assert floor("workbench.configs") < floor("workbench.backends") and floor("workbench") == len(FLOORS) - 1
