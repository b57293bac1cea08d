"""The runbook catalog with a status per row, derived from evidence.

Each row's clauses are cut from the runbook catalog's own words (`docs/runbook_catalog.md`,
checked to cover the whole Automation cell), so the project cannot grade itself against a
list it wrote. A clause counts as handled only when every branch proving it has a workflow
test through the local runtime marked `@pytest.mark.procedure("<row>", "<branch>")`; the
suite runs those tests, so the document is only as true as a green run. A row is
"automated" when it is wired (a rule or schedule names it, or a manual-only workflow's
published input schema does, and its workflow exists) and every clause is tested, "partial"
(naming what is untested) when it is wired or some branches have tests, and "not yet"
otherwise.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from selfheal_cdk import spec as spec_mod

ROWS = spec_mod.ROOT / "docs" / "catalog_rows.json"
DOC = spec_mod.ROOT / "docs" / "CATALOG.md"
#: The runbook catalog the clauses are cut from (a copy of ../shared/CATALOG.md).
SOURCE = Path("docs") / "runbook_catalog.md"
ROW_LINE = re.compile(r"^\| ([A-Z]\d) \| (.*?) \| (.*?) \| (.*) \|$")
#: Words that join clauses and claim nothing themselves.
CONNECTORS = frozenset({"and", "then", "or"})
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


@dataclass(frozen=True)
class Clause:
    """A verbatim piece of the runbook catalog's row and the branches that prove it."""

    quote: str
    branches: tuple[str, ...]


@dataclass
class Row:
    id: str
    runbook: str
    procedure: str
    trigger: str
    automation: str
    clauses: list[Clause]
    also: list[str] = field(default_factory=list)
    wired: list[str] = field(default_factory=list)
    tests: dict[str, list[str]] = field(default_factory=dict)

    @property
    def branches(self) -> list[str]:
        named = [b for c in self.clauses for b in c.branches] + self.also
        return list(dict.fromkeys(named))

    @property
    def covered(self) -> list[str]:
        return [b for b in self.branches if self.tests.get(b)]

    def tested(self, clause: Clause) -> bool:
        return all(self.tests.get(b) for b in clause.branches)

    @property
    def untested(self) -> list[str]:
        """What keeps the row from "automated": clauses first, then the project's extras."""
        clauses = [f"“{c.quote}”" for c in self.clauses if not self.tested(c)]
        wiring = [] if self.wired else ["not wired (no rule, schedule or manual input names it)"]
        return wiring + clauses + [f"also: {b}" for b in self.also if not self.tests.get(b)]

    @property
    def status(self) -> str:
        if self.clauses and not self.untested:
            return "automated"
        if self.wired or self.covered:
            done = sum(1 for c in self.clauses if self.tested(c))
            return f"partial ({done}/{len(self.clauses)} clauses tested)"
        return "not yet"


def source_rows(root: Path = spec_mod.ROOT) -> dict[str, tuple[str, str, str, str]]:
    """id → (runbook, procedure, trigger, automation) from the catalog's tables."""
    rows: dict[str, tuple[str, str, str, str]] = {}
    runbook = ""
    for line in (root / SOURCE).read_text().splitlines():
        if heading := re.match(r"^## (\d{3}) ", line):
            runbook = heading.group(1)
        elif cells := ROW_LINE.match(line):
            rid, procedure, trigger, automation = cells.groups()
            rows[rid] = (runbook, procedure, trigger, automation)
    return rows


def uncovered(row: Row) -> list[str]:
    """Words of the Automation cell no clause quotes: each is a clause nobody derived."""
    rest = row.automation
    for c in row.clauses:
        rest = rest.replace(c.quote, " ")
    return [w for w in re.findall(r"[^\W_]+", rest) if w not in CONNECTORS]


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


def derivation_problems(rows: list[Row]) -> list[str]:
    """Clauses that are not the catalog's own words, or catalog words no clause took."""
    out = []
    for row in rows:
        for c in row.clauses:
            if c.quote not in row.automation and c.quote not in row.trigger:
                out.append(
                    f"{row.id}: {c.quote!r} is not in the catalog row's Trigger or Automation"
                )
            if not c.branches:
                out.append(f"{row.id}: clause {c.quote!r} names no branch")
        if words := uncovered(row):
            out.append(f"{row.id}: no clause quotes {' '.join(words)!r} of {row.automation!r}")
    return out


def problems(rows: list[Row], evidence: list[Evidence]) -> list[str]:
    """What keeps the document from being true: clauses not derived from the catalog, and
    markers that could not count (unknown row or branch, skipped, not a workflow test)."""
    by_id = {r.id: r for r in rows}
    out = derivation_problems(rows)
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
    source = source_rows(root)
    cut = {
        r["id"]: r for r in json.loads((root / "docs" / "catalog_rows.json").read_text())["rows"]
    }
    if missing := sorted(set(source) ^ set(cut)):
        raise ValueError(f"rows in only one of {SOURCE} and catalog_rows.json: {missing}")
    rows = [
        Row(
            rid,
            *source[rid],
            clauses=[Clause(c["quote"], tuple(c["branches"])) for c in cut[rid]["clauses"]],
            also=list(cut[rid].get("also", [])),
        )
        for rid in source
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


def _status_cell(row: Row) -> str:
    if row.status.startswith("partial"):
        return f"{row.status}; untested: {'; '.join(row.untested)}"
    return row.status


def _evidence(row: Row, branches: tuple[str, ...] | list[str]) -> list[str]:
    lines = []
    for b in branches:
        tests = row.tests.get(b)
        where = ", ".join(f"`{t}`" for t in tests) if tests else "**no test**"
        lines.append(f"  - {b}: {where}")
    return lines


def render(root: Path = spec_mod.ROOT) -> str:
    rows, _ = load(root)
    out = [
        "# Runbook catalog and automation status",
        "",
        f"Generated by `selfheal catalog --write`; do not edit by hand. Each row of `{SOURCE}` "
        "(the runbook catalog, a copy of `../shared/CATALOG.md`) is cut in "
        "`docs/catalog_rows.json` into its clauses, each quoting the row verbatim, that "
        "together cover its whole Automation cell (every guard, action, verification and "
        "escalation). A clause is tested when each branch that proves it has a "
        '`@pytest.mark.procedure("<row>", "<branch>")` workflow test. A row is *automated* '
        "only when it is wired (`events/rules/*.json`, `events/schedules/*.json`, or a "
        "manual-only workflow's input schema naming it in `x-selfheal-catalog`) and every "
        "clause, and every extra behaviour the project promises, is tested; otherwise it is "
        "*partial* and says what is untested. The tests named below are the evidence, and the "
        "document is true only while they pass.",
        "",
        "| # | Runbook | Procedure | Trigger | Status | Workflow |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.id} | {r.runbook} | {r.procedure} | {r.trigger} | {_status_cell(r)} | "
            f"{', '.join(r.wired) if r.wired else '-'} |"
        )
    done = sum(1 for r in rows if r.status == "automated")
    partial = sum(1 for r in rows if r.status.startswith("partial"))
    out += [
        "",
        f"{done} of {len(rows)} procedures automated, {partial} partial.",
        "",
        "## Evidence per clause",
        "",
    ]
    for r in rows:
        if not (r.wired or r.covered):
            continue
        out += [f"### {r.id} — {r.procedure}", "", f"> {r.automation}", ""]
        for c in r.clauses:
            mark = "tested" if r.tested(c) else "**untested**"
            out += [f"- “{c.quote}” — {mark}", *_evidence(r, c.branches)]
        if r.also:
            out += ["- Beyond the catalog's clauses:", *_evidence(r, r.also)]
        out.append("")
    return "\n".join(out)
