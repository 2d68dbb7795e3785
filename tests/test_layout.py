"""The codebase's shape, checked: the layers of the README's layout table (imports go down only),
no cycle, and no module or class too long to read."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lmulator", "cockernel")
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the two packages: dotted name -> (file, is a package)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imports_of(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (functions and
    ``TYPE_CHECKING`` blocks included), less its own parent packages."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(target + "."):
            resolved.add(target)
    return resolved


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, pkg, known) for name, (path, pkg) in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve_to_modules():
    graph = import_graph()
    assert "lmulator.engine.runtime" in graph["lmulator.engine.session"]
    assert "lmulator.lm.request" in graph["lmulator.lm.replay"]  # a TYPE_CHECKING import counts


def test_no_import_cycle_in_lmulator_or_cockernel():
    assert cycles(import_graph()) == []


def test_lmulator_never_imports_the_kernel():
    graph = import_graph()
    assert [m for m in graph if m.startswith("lmulator") and any(
        t.startswith("cockernel") for t in graph[m]
    )] == []  # fmt: skip


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_and_classes_stay_short(name):
    path, _ = modules()[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path} is over {MAX_MODULE_LINES} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_CLASS_LINES, f"{name}.{node.name} is {length} lines"


# -- the layers ---------------------------------------------------------------------------------

#: A row of the README's layout table: | layer | `folder` (floor|top) | what it owns |
LAYOUT_ROW = re.compile(r"^\| (\d) \| `([\w/]+)`(?: \((floor|top)\))? \| (.*) \|$", re.M)
FOLDERS = ("engine", "policy", "lm", "partial", "sandbox", "isolation", "bench", "testing")


def readme_layers() -> dict[str, int]:
    """Each unit of the README's layout table and its layer: ``cockernel/``, the folders of
    ``lmulator/``, and each module of ``lmulator/`` itself (named in its floor or its top row)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    top_level = {
        n.split(".")[1] for n in modules() if n.count(".") == 1 and n.startswith("lmulator.")
    }
    layers: dict[str, int] = {}
    for layer, folder, part, what in LAYOUT_ROW.findall(text):
        if part:  # lmulator/'s own modules: those its row names
            named = {t.split(".")[0] for t in re.findall(r"`([\w.]+)`", what)} & top_level
            for module in named:
                assert f"lmulator.{module}" not in layers, f"{module} is in two rows"
                layers[f"lmulator.{module}"] = int(layer)
            if part == "top":
                layers["lmulator"] = int(layer)  # the package: the public API
        else:  # a folder (a row for a subfolder, such as engine/instrument/, is in its layer)
            unit = unit_of(folder.rstrip("/").replace("/", "."))
            assert layers.setdefault(unit, int(layer)) == int(layer), f"{folder}: two layers"
    return layers


def unit_of(module: str) -> str:
    """The unit of the layout table a module belongs to (its folder, or itself at the top)."""
    parts = module.split(".")
    if parts[0] == "cockernel":
        return "cockernel"
    if len(parts) > 1 and parts[1] in FOLDERS:
        return f"lmulator.{parts[1]}"
    return ".".join(parts[:2])


def own_module(unit: str) -> bool:
    """Whether a unit is a module of ``lmulator/`` itself (or the package), not a folder."""
    return unit == "lmulator" or (unit.startswith("lmulator.") and unit[9:] not in FOLDERS)


def test_the_readme_table_places_every_folder_and_top_level_module():
    layers = readme_layers()
    units = {unit_of(m) for m in modules()}
    assert units - set(layers) == set(), "not in the README's layout table"
    assert set(layers) - units == set(), "in the README's layout table, but not in the code"


def upward_imports(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """The imports of a unit from its own layer or one above (a sibling or higher)."""
    upward = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = unit_of(module), unit_of(target)
            if a == b or (own_module(a) and own_module(b) and layers[a] == layers[b]):
                continue  # within a folder, or within lmulator/'s floor or top
            if layers[b] >= layers[a]:
                upward.append(f"{module} (layer {layers[a]}) -> {target} (layer {layers[b]})")
    return upward


def test_imports_go_down_the_layers_only():
    assert upward_imports(import_graph(), readme_layers()) == []


def test_the_layer_check_sees_upward_and_sideways_imports():
    layers = {"lmulator.errors": 0, "lmulator.policy": 1, "lmulator.lm": 1, "lmulator.engine": 2}
    graph = {
        "lmulator.engine.session": {"lmulator.policy.policy", "lmulator.errors"},
        "lmulator.policy.names": {"lmulator.engine.instrument.sites"},  # up
        "lmulator.lm.client": {"lmulator.policy.guards"},  # sideways
        "lmulator.errors": set(),
        "lmulator.config": {"lmulator.errors"},  # within the floor
    }
    layers["lmulator.config"] = 0
    assert upward_imports(graph, layers) == [
        "lmulator.lm.client (layer 1) -> lmulator.policy.guards (layer 1)",
        "lmulator.policy.names (layer 1) -> lmulator.engine.instrument.sites (layer 2)",
    ]


def _imports_from(sources, target: str) -> list[str]:
    graph = import_graph()
    return sorted(
        f"{m} -> {t}"
        for m in graph
        if sources(m)
        for t in graph[m]
        if t == target or t.startswith(target + ".")
    )


FLOOR_OF_ENGINE = ("lmulator.policy", "lmulator.lm", "lmulator.partial")


def test_policy_lm_partial_and_the_floor_import_nothing_from_the_engine():
    layers = readme_layers()
    floor = {m for m, layer in layers.items() if layer == 0}

    def below_the_engine(m: str) -> bool:
        return m in floor or any(m == p or m.startswith(p + ".") for p in FLOOR_OF_ENGINE)

    assert _imports_from(below_the_engine, "lmulator.engine") == []


def test_config_imports_nothing_from_the_lm_side():
    assert _imports_from(lambda m: m == "lmulator.config", "lmulator.lm") == []


def test_the_sandbox_starts_nothing_of_isolation():
    assert _imports_from(lambda m: m.startswith("lmulator.sandbox"), "lmulator.isolation") == []
