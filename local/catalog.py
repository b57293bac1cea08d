"""The runbook catalog with a status per row, derived from evidence.

A row's procedure has branches (`docs/catalog_rows.json`). A branch counts as handled
only when a workflow test through the local runtime says so with
`@pytest.mark.procedure("<row>", "<branch>")`; the suite runs those tests, so the document
is only as true as a green run. A row is "automated" when it is wired (a rule or schedule
names it, or a manual-only workflow's published input schema does, and its workflow exists)
and every branch has such a test, "partial" when it is
wired or some branches have tests, and "not yet" otherwise.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from selfheal_cdk import spec as spec_mod

ROWS = spec_mod.ROOT / "docs" / "catalog_rows.json"
DOC = spec_mod.ROOT / "docs" / "CATALOG.md"
# Only tests that drive a workflow through the runtime are evidence.
EVIDENCE_DIRS = ("tests/workflow", "tests/edge", "tests/reliability")
#: The input-schema keyword listing the catalog rows a manual-only workflow serves.
MANUAL_CATALOG = "x-selfheal-catalog"
SKIPPING_MARKS = frozenset({"skip", "skipif", "xfail"})


@dataclass(frozen=True)
class Evidence:
    row: str
    branch: str
    test: str  # path::function, as pytest names it
    skipped: bool = False


@dataclass
class Row:
    id: str
    runbook: str
    procedure: str
    trigger: str
    branches: list[str]
    wired: list[str] = field(default_factory=list)
    tests: dict[str, list[str]] = field(default_factory=dict)

    @property
    def covered(self) -> list[str]:
        return [b for b in self.branches if self.tests.get(b)]

    @property
    def status(self) -> str:
        if self.wired and self.branches and len(self.covered) == len(self.branches):
            return "automated"
        if self.wired or self.covered:
            return f"partial ({len(self.covered)}/{len(self.branches)} branches tested)"
        return "not yet"


def _mark_name(node: ast.expr) -> str | None:
    """`pytest.mark.<name>` (called or not) → name."""
    target = node.func if isinstance(node, ast.Call) else node
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "mark"
    ):
        return target.attr
    return None


def _procedure_args(node: ast.AST) -> tuple[str, str] | None:
    if not (isinstance(node, ast.Call) and _mark_name(node) == "procedure"):
        return None
    values = [
        a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
    ]
    if len(node.args) != 2 or len(values) != 2:
        raise ValueError(f"procedure marker needs two string literals (line {node.lineno})")
    return values[0], values[1]


def _tests(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from (
                n for n in node.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")
            )


def scan(root: Path = spec_mod.ROOT) -> list[Evidence]:
    """Every procedure marker on a test function, or on a `pytest.param` of one."""
    found: list[Evidence] = []
    for folder in (*EVIDENCE_DIRS, "tests/unit", "tests/contract", "tests/cdk"):
        for path in sorted((root / folder).glob("**/test_*.py")):
            rel = path.relative_to(root).as_posix()
            for fn in _tests(ast.parse(path.read_text(), filename=rel)):
                skipped = any(_mark_name(d) in SKIPPING_MARKS for d in fn.decorator_list)
                for node in ast.walk(fn):
                    pair = _procedure_args(node)
                    if pair is None:
                        continue
                    found.append(Evidence(pair[0], pair[1], f"{rel}::{fn.name}", skipped))
    return found


def problems(rows: list[Row], evidence: list[Evidence]) -> list[str]:
    """Markers that could not count: unknown row or branch, skipped, or not a workflow test."""
    by_id = {r.id: r for r in rows}
    out = []
    for e in evidence:
        row = by_id.get(e.row)
        if row is None:
            out.append(f"{e.test}: unknown catalog row {e.row!r}")
        elif e.branch not in row.branches:
            out.append(f"{e.test}: row {e.row} has no branch {e.branch!r} ({row.branches})")
        if e.skipped:
            out.append(f"{e.test}: a skipped or xfail test is no evidence")
        if not e.test.startswith(EVIDENCE_DIRS):
            out.append(f"{e.test}: evidence must run a workflow ({', '.join(EVIDENCE_DIRS)})")
    return out


def load(root: Path = spec_mod.ROOT) -> tuple[list[Row], list[Evidence]]:
    spec = spec_mod.load(root)
    rows = [
        Row(
            id=r["id"],
            runbook=r["runbook"],
            procedure=r["procedure"],
            trigger=r["trigger"],
            branches=list(r.get("branches", [])),
        )
        for r in json.loads((root / "docs" / "catalog_rows.json").read_text())["rows"]
    ]
    by_id = {r.id: r for r in rows}
    for rule in spec.rules.values():
        if rule.workflow in spec.workflows:
            for rid in rule.catalog:
                by_id[rid].wired.append(f"`{rule.workflow}` (rule `{rule.name}`)")
    for sch in spec.schedules.values():
        if sch.workflow in spec.workflows:
            for rid in sch.catalog:
                by_id[rid].wired.append(
                    f"`{sch.workflow}` (schedule `{sch.name}`: `{sch.expression}` {sch.timezone})"
                )
    for wf in spec.workflows.values():
        # A manual-only procedure is wired by its published input schema (what the console
        # user fills in), which names the rows it serves.
        if (published := wf.input_schema) is None:
            continue
        for rid in json.loads(published.read_text()).get(MANUAL_CATALOG, []):
            by_id[rid].wired.append(f"`{wf.name}` (manual input `{published.name}`)")
    evidence = scan(root)
    for e in evidence:
        row = by_id.get(e.row)
        counts = not e.skipped and e.test.startswith(EVIDENCE_DIRS)
        if row is not None and e.branch in row.branches and counts:
            row.tests.setdefault(e.branch, []).append(e.test)
    return rows, evidence


def render(root: Path = spec_mod.ROOT) -> str:
    rows, _ = load(root)
    out = [
        "# Runbook catalog and automation status",
        "",
        "Generated by `selfheal catalog --write` from `docs/catalog_rows.json` (each "
        "procedure's branches), `events/rules/*.json`, `events/schedules/*.json`, the "
        "manual-only workflows' input schemas (`x-selfheal-catalog`) and the "
        '`@pytest.mark.procedure("<row>", "<branch>")` markers on workflow tests; do not edit '
        "by hand. A row is *automated* only when it is wired and every branch of its procedure "
        "has a workflow test; the tests named below are that evidence, and the document is "
        "true only while they pass.",
        "",
        "| # | Runbook | Procedure | Trigger | Status | Workflow |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.id} | {r.runbook} | {r.procedure} | {r.trigger} | {r.status} | "
            f"{', '.join(r.wired) if r.wired else '-'} |"
        )
    done = sum(1 for r in rows if r.status == "automated")
    partial = sum(1 for r in rows if r.status.startswith("partial"))
    out += [
        "",
        f"{done} of {len(rows)} procedures automated, {partial} partial.",
        "",
        "## Evidence per branch",
        "",
    ]
    for r in rows:
        if not (r.wired or r.covered):
            continue
        out += [f"### {r.id} — {r.procedure}", ""]
        for b in r.branches:
            tests = r.tests.get(b)
            where = ", ".join(f"`{t}`" for t in tests) if tests else "**no test**"
            out.append(f"- {b}: {where}")
        out.append("")
    return "\n".join(out)
