"""The shared layer's shape (issue 20): `selfheal_shared/core/` knows no domain, and each
domain's package (one per stack domain) uses core, itself, and of another domain only what
that domain offers (`OFFERED` in its package's `__init__.py`, each with why).

Every import is read with `ast` (lazy imports inside functions and `TYPE_CHECKING` imports
too: a circle only one of them closes is still a circle) from the layer, the functions
(`functions/<domain>/<function>/app.py`), `local/`, `tests/` and `benchmarks/`:

- core imports no domain;
- a domain imports core, itself and other domains' OFFERED modules only;
- a function in `functions/<domain>/` imports core, its own domain and OFFERED modules only;
- no import cycle among the layer's modules;
- every `selfheal_shared` import names a module that exists (no import left behind by a
  move), and a package's `__init__.py` imports nothing (one module loads no other);
- the layer's domain packages are the stacks' domains (`state_machines/domains/`).
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_PARENT = Path("functions/shared/python")
TOP = "selfheal_shared"
CORE = "core"


@dataclass(frozen=True)
class Import:
    source: str  # repository-relative path of the importing file
    line: int
    target: str  # the dotted layer module (or package) imported


@dataclass
class Layer:
    root: Path
    #: dotted name -> file, for every module and package (`__init__.py`) of the layer.
    modules: dict[str, Path]
    #: domain -> {offered module: why}.
    offered: dict[str, dict[str, str]]

    @property
    def domains(self) -> set[str]:
        return {name.split(".")[1] for name in self.modules if name.count(".") == 1} - {CORE}

    def package_of(self, module: str) -> str | None:
        """`core`, a domain, or None for the top package itself."""
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else None


def load_layer(root: Path) -> Layer:
    base = root / LAYER_PARENT
    modules: dict[str, Path] = {}
    for path in sorted((base / TOP).rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    layer = Layer(root, modules, {})
    for domain in layer.domains:
        layer.offered[domain] = offered(modules[f"{TOP}.{domain}"])
    return layer


def offered(init: Path) -> dict[str, str]:
    """`OFFERED` of a domain package's `__init__.py`: {module: why} (read, not imported)."""
    for node in ast.parse(init.read_text()).body:
        targets = (
            [node.target]
            if isinstance(node, ast.AnnAssign)
            else node.targets
            if isinstance(node, ast.Assign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "OFFERED" for t in targets):
            assert node.value is not None
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict), f"{init}: OFFERED is {{module: why}}"
            return {str(k): str(v) for k, v in value.items()}
    raise AssertionError(f"{init}: no OFFERED (a domain package lists what it offers, or {{}})")


def package_name(layer: Layer, path: Path) -> str | None:
    """The dotted package a layer file's relative imports start from."""
    for name, file in layer.modules.items():
        if file == path:
            return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    return None


def imports(layer: Layer, path: Path) -> Iterator[Import]:
    """Every import of a layer module in `path`, resolved to the module it loads."""
    rel = path.relative_to(layer.root).as_posix()
    package = package_name(layer, path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == TOP:
                    yield Import(rel, node.lineno, alias.name)
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            if package is None:
                continue  # a relative import of another package (local/, tests/)
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join([*base, *([node.module] if node.module else [])])
        else:
            module = node.module or ""
        if module.split(".")[0] != TOP:
            continue
        for alias in node.names:
            candidate = f"{module}.{alias.name}"
            yield Import(rel, node.lineno, candidate if candidate in layer.modules else module)


def python_files(root: Path, *tops: str) -> list[Path]:
    return [
        p
        for top in tops
        for p in sorted((root / top).rglob("*.py"))
        if "__pycache__" not in p.parts and (root / LAYER_PARENT) not in p.parents
    ]


def function_apps(root: Path) -> list[Path]:
    return sorted((root / "functions").glob("*/*/app.py"))


def allowed(layer: Layer, own: str | None, target: str) -> str | None:
    """Why `target` may not be imported from package `own` (None: it may)."""
    to = layer.package_of(target)
    if to is None or to in (own, CORE):
        return None
    if own == CORE:
        return "core imports no domain"
    if target.rsplit(".", 1)[-1] in layer.offered.get(to, {}) and target.count(".") == 2:
        return None
    return f"not in {to}'s OFFERED {sorted(layer.offered.get(to, {}))}"


def problems(root: Path) -> list[str]:
    layer = load_layer(root)
    found: list[str] = []
    graph: dict[str, set[str]] = {name: set() for name in layer.modules}
    # the layer's own modules
    for name, path in layer.modules.items():
        own = layer.package_of(name)
        for imp in imports(layer, path):
            if imp.target not in layer.modules:
                found.append(f"{imp.source}:{imp.line} imports {imp.target}: no such module")
                continue
            graph[name].add(imp.target)
            if why := allowed(layer, own, imp.target):
                found.append(f"{imp.source}:{imp.line} imports {imp.target}: {why}")
        if path.name == "__init__.py" and any(
            isinstance(n, ast.Import)
            or (isinstance(n, ast.ImportFrom) and n.module != "__future__")
            for n in ast.walk(ast.parse(path.read_text()))
        ):
            found.append(f"{path.relative_to(root).as_posix()}: a package's __init__ imports")
    # each domain's OFFERED names its own modules, with a why
    for domain, offers in layer.offered.items():
        for module, why in offers.items():
            if f"{TOP}.{domain}.{module}" not in layer.modules:
                found.append(f"{TOP}.{domain} offers {module}: no such module")
            if not why.strip():
                found.append(f"{TOP}.{domain} offers {module} without saying why")
    # the functions, by the folder (domain) they are in
    for app in function_apps(root):
        own = app.parent.parent.name
        if own != CORE and own not in layer.domains:
            found.append(f"{app.relative_to(root).as_posix()}: {own} is no domain of the layer")
        for imp in imports(layer, app):
            if imp.target not in layer.modules:
                found.append(f"{imp.source}:{imp.line} imports {imp.target}: no such module")
            elif why := allowed(layer, own, imp.target):
                found.append(f"{imp.source}:{imp.line} imports {imp.target}: {why}")
    # the local runtime, tests and benchmarks play the world: any module, but a real one
    for path in python_files(root, "local", "tests", "benchmarks", "cdk"):
        for imp in imports(layer, path):
            if imp.target not in layer.modules:
                found.append(f"{imp.source}:{imp.line} imports {imp.target}: no such module")
    found += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return list(dict.fromkeys(found))  # `from m import a, b` is one import of m


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (closed path) per strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [closed_path(graph, c) for c in components]


def closed_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A path from the component's first module back to itself, within the component."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return component


def test_the_layer_functions_and_local_import_by_the_rules() -> None:
    assert problems(ROOT) == []


def test_the_layers_domains_are_the_stacks_domains() -> None:
    layer = load_layer(ROOT)
    stacks = {p.stem for p in (ROOT / "state_machines" / "domains").glob("*.json")}
    assert layer.domains == stacks
    folders = {p.parent.parent.name for p in function_apps(ROOT)}
    assert folders <= layer.domains | {CORE}


def test_offered_modules_are_what_other_domains_import() -> None:
    """An offer nobody takes is an offer to withdraw: OFFERED is what crosses, no more."""
    layer = load_layer(ROOT)
    owners = [(layer.package_of(name), path) for name, path in layer.modules.items()]
    owners += [(app.parent.parent.name, app) for app in function_apps(ROOT)]
    taken = {
        i.target
        for own, path in owners
        for i in imports(layer, path)
        if layer.package_of(i.target) not in (None, own, CORE)
    }
    offers = {f"{TOP}.{d}.{m}" for d, offer in layer.offered.items() for m in offer}
    assert offers == taken


# -- the rule can fail ------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the layer and the functions, to break on purpose."""
    for part in (LAYER_PARENT / TOP, Path("functions/core"), Path("functions/battery")):
        shutil.copytree(
            ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "*.json")
        )
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_copy_is_clean(tree: Path) -> None:
    assert problems(tree) == []


def test_core_importing_a_domain_is_caught(tree: Path) -> None:
    _append(tree / LAYER_PARENT / TOP / "core" / "clock.py", "\nfrom ..reports import fiscal\n")
    [problem] = problems(tree)
    assert problem.startswith(f"{LAYER_PARENT}/{TOP}/core/clock.py:")
    assert problem.endswith("imports selfheal_shared.reports.fiscal: core imports no domain")


def test_a_domain_importing_what_another_does_not_offer_is_caught(tree: Path) -> None:
    battery = tree / LAYER_PARENT / TOP / "battery" / "battery.py"
    clean = battery.read_text()
    late = "\n\ndef _late() -> None:\n    from ..edge.{}\n"
    battery.write_text(clean + late.format("certificates import csr_subject"))
    [problem] = problems(tree)
    assert problem.endswith(
        "imports selfheal_shared.edge.certificates: not in edge's OFFERED "
        "['edge_registry', 'edges']"
    )
    # what edge offers may cross
    battery.write_text(clean + late.format("edges import EDGE_ID"))
    assert problems(tree) == []


def test_a_function_importing_another_domains_internals_is_caught(tree: Path) -> None:
    app = tree / "functions" / "core" / "notify" / "app.py"
    _append(app, "\nfrom selfheal_shared.reports import fiscal\n")
    assert problems(tree) == [
        "functions/core/notify/app.py:"
        f"{len(app.read_text().splitlines())} imports selfheal_shared.reports.fiscal: "
        "core imports no domain"
    ]
    # a domain's function likewise
    app = tree / "functions" / "battery" / "emergency_stop_open" / "app.py"
    _append(app, "\nfrom selfheal_shared.reports import fiscal\n")
    [problem] = [p for p in problems(tree) if p.startswith("functions/battery/")]
    assert problem.endswith("imports selfheal_shared.reports.fiscal: not in reports's OFFERED []")


def test_an_import_cycle_is_caught(tree: Path) -> None:
    core = tree / LAYER_PARENT / TOP / "core"
    _append(core / "clock.py", "\n\ndef _late() -> None:\n    from . import protocol\n")
    [problem] = problems(tree)
    assert problem.startswith("import cycle: selfheal_shared.core.")
    assert "selfheal_shared.core.clock -> selfheal_shared.core.protocol" in problem


def test_an_import_of_a_module_that_is_not_there_is_caught(tree: Path) -> None:
    app = tree / "functions" / "battery" / "emergency_stop_open" / "app.py"
    _append(app, "\nfrom selfheal_shared.battery.estops import AUTOMATION\n")
    [problem] = problems(tree)
    assert problem.endswith("imports selfheal_shared.battery.estops: no such module")
