"""The package's layout is its architecture: dependencies point down, and no module cycle.

Layers (docs/development/layout.md): the shared modules (``errors``, ``validation``, ``db``) import
nothing else of the package; the domains (``engine``, ``chains``, ``aq``, ``install``) import only
the shared layer; the Airflow face and the front ends import downwards, in the allowed edges
below. Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import
is still a dependency, and a lazy cycle (``cli`` <-> ``cli_engine`` once) is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_oracle_tasks"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

SHARED = frozenset({"errors", "validation", "db"})
DOMAINS = frozenset({"engine", "chains", "aq", "install"})
FACE_EDGES: Mapping[str, frozenset[str]] = {
    # part of the Airflow face or a front end -> the other face parts it may import
    "hooks": frozenset(),
    "links": frozenset(),
    "waiting": frozenset({"hooks"}),
    "triggers": frozenset({"waiting"}),
    "operators": frozenset({"hooks", "waiting", "triggers", "links"}),
    "sensors": frozenset({"hooks", "waiting", "triggers", "links"}),
    "cli": frozenset({"hooks"}),
    "ui": frozenset({"hooks", "waiting"}),
}
"""Nothing imports ``cli`` or ``ui``; operators and sensors never import each other."""


def part_of(module: str) -> str:
    """``airflow_provider_oracle_tasks.engine.api`` -> ``engine``; the package itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_names(root: Path, package: str) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        parts = [package, *relative.parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(path: Path, module: str, known: Iterable[str], package: str) -> set[str]:
    """Every module of the package that ``module`` imports, anywhere in the file."""
    known = set(known)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith(package) and target != module:
                found.add(target)
    return found


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    names = module_names(root, package)
    return {module: imports_of(path, module, names, package) for module, path in names.items()}


def layer_violations(graph: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        source = part_of(module)
        for target in sorted(targets):
            goal = part_of(target)
            if goal in ("", source):
                continue  # the package's own __init__ (provider info) or the same subpackage
            if source in SHARED or source in DOMAINS:
                allowed = goal in SHARED
            elif source in FACE_EDGES:
                allowed = goal in SHARED or goal in DOMAINS or goal in FACE_EDGES[source]
            else:
                allowed = False
            if not allowed:
                problems.append(f"{module} imports {target}: {source or PACKAGE} may not depend on {goal}")
    return problems


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_subpackage_is_a_known_layer() -> None:
    parts = {part_of(module) for module in import_graph()} - {""}
    assert parts <= SHARED | DOMAINS | set(FACE_EDGES), parts - (SHARED | DOMAINS | set(FACE_EDGES))


def test_dependencies_point_down() -> None:
    assert layer_violations(import_graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_each_subpackage_says_what_it_is_for() -> None:
    for init in sorted(ROOT.glob("*/__init__.py")):
        if init.parent.name in ("sql", "__pycache__"):
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring, f"{init.parent.name}/__init__.py has no docstring saying what it is for"


def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"engine/api.py": "def f():\n    from pkg.operators.x import y\n"},
            "pkg.engine.api imports pkg.operators",
        ),
        ({"chains/spec.py": "from pkg.engine import api\n"}, "chains may not depend on engine"),
        ({"errors.py": "import pkg.install.installer\n"}, "may not depend on install"),
        ({"sensors/s.py": "from pkg.operators import o\n"}, "sensors may not depend on operators"),
        ({"triggers/t.py": "from ..cli import main\n"}, "triggers may not depend on cli"),
    ],
)
def test_the_layer_check_catches_an_upward_or_sideways_import(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    base = {
        "__init__.py": "",
        "engine/__init__.py": "",
        "engine/api.py": "",
        "operators/__init__.py": "",
        "operators/o.py": "",
        "operators/x.py": "y = 1\n",
        "install/__init__.py": "",
        "install/installer.py": "",
        "cli/__init__.py": "",
        "cli/main.py": "",
    }
    root = _tree(tmp_path, {**base, **files})
    problems = layer_violations(import_graph(root, "pkg"))
    assert any(expected in problem for problem in problems), problems


def test_the_cycle_check_catches_a_lazy_cycle(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "cli/__init__.py": "",
            "cli/main.py": "def run():\n    from pkg.cli import engine_commands\n",
            "cli/engine_commands.py": "from pkg.cli.main import EXIT_OK\n",
        },
    )
    assert cycles(import_graph(root, "pkg")) == [["pkg.cli.engine_commands", "pkg.cli.main"]]
