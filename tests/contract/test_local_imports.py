"""`local/` is the runtime plus one simulated world per domain, `local/worlds/<domain>/`
(issue 20, item 3), and its imports keep them apart. Parsed from the source (ast), every
import counts: at the top, in a function, under `TYPE_CHECKING`.

1. The runtime (every module of `local/` outside `local/worlds/`) imports the worlds only
   through their interface, the package `local.worlds`, never a module under it.
2. A world imports the runtime only through what the runtime offers it,
   `local.world_api`; another domain's world only through that domain's package
   (`local.worlds.<domain>`), never its modules; and never `local.worlds` itself, the
   runtime's door (it would import every world back).
3. No import cycles in `local/`, whatever the direction.

An import names one module: the parent packages Python initialises first are not counted
(each module of a package would otherwise import its own `__init__`). Scenes and acts are
found by convention (`local.worlds.scenes()`), with `importlib`, which no rule reads.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterable

import pytest
from selfheal_cdk import spec as spec_mod

ROOT = spec_mod.ROOT
LOCAL = ROOT / "local"
WORLDS = "local.worlds"
OFFERED = "local.world_api"

#: module name -> (source, is a package)
Sources = dict[str, tuple[str, bool]]


def local_sources() -> Sources:
    out: Sources = {}
    for path in sorted(LOCAL.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = (path.read_text(), package)
    return out


def imports(module: str, source: str, package: bool, known: Iterable[str]) -> set[str]:
    """The modules of `known` that `module`'s source imports."""
    known = set(known)
    here = module if package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            if node.level:
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found & known


def graph(sources: Sources) -> dict[str, set[str]]:
    return {m: imports(m, src, pkg, sources) - {m} for m, (src, pkg) in sources.items()}


def is_world(module: str) -> bool:
    return module.startswith(WORLDS + ".")


def domain(module: str) -> str:
    return module.split(".")[2]


def rule_violations(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            if not is_world(module) and module != WORLDS:  # the runtime
                if is_world(target):
                    out.append(f"{module} imports {target}: the runtime imports {WORLDS} only")
                continue
            # a world, or the worlds' interface (which may reach each domain's package)
            if target == WORLDS:
                out.append(f"{module} imports {WORLDS}: the runtime's door, not a world's")
            elif not target.startswith(WORLDS) and target != OFFERED:
                out.append(f"{module} imports {target}: a world imports the runtime via {OFFERED}")
            elif (
                is_world(target)
                and (module == WORLDS or domain(target) != domain(module))
                and target.count(".") > 2
            ):
                out.append(
                    f"{module} imports {target}: another domain's world through its package "
                    f"{WORLDS}.{domain(target)} only"
                )
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
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
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def problems(sources: Sources) -> list[str]:
    edges = graph(sources)
    return rule_violations(edges) + [f"import cycle: {' <-> '.join(c)}" for c in cycles(edges)]


def test_local_is_the_runtime_and_its_worlds_apart() -> None:
    sources = local_sources()
    assert {"local.runtime", OFFERED, WORLDS, "local.worlds.edge.sim"} <= set(sources)
    assert problems(sources) == []


def test_the_runtime_and_the_worlds_meet_where_declared() -> None:
    """The rules are not vacuous: the runtime does reach the worlds through their package,
    and the worlds reach the runtime through `world_api` and each other through packages."""
    edges = graph(local_sources())
    assert WORLDS in edges["local.runtime"] and WORLDS in edges["local.cli"]
    assert OFFERED in edges["local.worlds.edge.sim"]
    assert "local.worlds.edge" in edges["local.worlds.battery.scenes"]
    assert "local.runtime" in edges["local.cli"]  # runtime <-> runtime is free (no cycle)


@pytest.mark.parametrize(
    ("module", "line", "caught"),
    [
        # the runtime reaching into a world's module
        ("local.cli", "from .worlds.edge.sim import EdgeSim", "the runtime imports local.worlds"),
        # ... even for a type only
        (
            "local.runtime",
            "if TYPE_CHECKING:\n    from local.worlds.deploy import world",
            "the runtime imports local.worlds",
        ),
        # a world reaching into the runtime past what it is offered
        ("local.worlds.api.mapper", "from local.runtime import Pipeline", "via local.world_api"),
        ("local.worlds.edge.sim", "from local.clock import VirtualClock", "via local.world_api"),
        # a world reaching into another domain's module
        ("local.worlds.battery.scenes", "from ..edge.sim import EdgeSim", "through its package"),
        # a world importing the runtime's door
        ("local.worlds.data.scenes", "from local.worlds import scenes", "the runtime's door"),
        # a cycle inside the runtime, made by a function's import
        ("local.alarms", "def f():\n    from .runtime import alarm_event", "import cycle"),
        # a cycle through a world's own package
        ("local.worlds.edge.sim", "from local.worlds.edge import EDGE", "import cycle"),
    ],
)
def test_a_bad_import_is_caught(module: str, line: str, caught: str) -> None:
    sources = local_sources()
    source, package = sources[module]
    sources[module] = (f"{source}\n{line}\n", package)
    found = problems(sources)
    assert any(caught in p and module in p for p in found), found


def test_each_world_is_a_domain_of_the_stacks_and_stages_its_own_samples() -> None:
    """`local/worlds/<domain>/` is named for a stack's domain (`state_machines/domains/`), and
    the scenes it declares are for samples of its own workflows."""
    spec = spec_mod.load()
    worlds = importlib.import_module(WORLDS)
    domains = sorted(m.name for m in pkgutil.iter_modules(worlds.__path__) if m.ispkg)
    assert set(domains) <= set(spec.domains), "a world is named for no domain"
    assert (LOCAL / "worlds" / "demo.json").is_file()
    for name in domains:
        for key in getattr(importlib.import_module(f"{WORLDS}.{name}"), "SCENES", {}):
            workflow = spec.rules[key.split(".", 1)[0]].workflow
            assert spec.domain_of(workflow) == name, f"{WORLDS}.{name} stages {key!r}"
    assert len(worlds.scenes()) == sum(
        len(getattr(importlib.import_module(f"{WORLDS}.{n}"), "SCENES", {})) for n in domains
    )


def test_world_processes_start_as_scripts_of_the_standard_library() -> None:
    """The processes a world starts (the hosts' programs, the mapper) run as scripts: they
    import no package of `local/` (which would import moto into each one)."""
    scripts = [
        "local/worlds/ingestion/aupus/app.py",
        "local/worlds/services/equivalence/web.py",
        "local/worlds/services/equivalence/docker_compose.py",
        "local/worlds/services/inference/app.py",
        "local/worlds/services/inference/systemd.py",
        "local/worlds/api/mapper_service.py",
    ]
    for script in scripts:
        tree = ast.parse((ROOT / script).read_text())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom) if n.level == 0]
        assert not any(n.split(".")[0] in ("local", "selfheal_shared") for n in names), script
        assert all(n.level == 0 for n in top if isinstance(n, ast.ImportFrom)), script
