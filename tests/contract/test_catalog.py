"""The catalog's status comes from evidence: clauses cut from the runbook catalog's own words,
wiring, and a workflow test per branch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from selfheal_cdk import spec as spec_mod

from local import catalog


def test_catalog_doc_is_generated_from_wiring_and_evidence() -> None:
    assert catalog.DOC.read_text() == catalog.render(), "run `selfheal catalog --write`"


def test_every_procedure_marker_counts() -> None:
    rows, evidence = catalog.load()
    assert evidence, "no procedure markers found"
    assert catalog.problems(rows, evidence) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for part in ("events", "state_machines", "functions", "docs"):
        shutil.copytree(
            spec_mod.ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__")
        )
    for folder in (*catalog.EVIDENCE_DIRS, "tests/unit"):
        (tmp_path / folder).mkdir(parents=True)
    rows = json.loads((tmp_path / "docs" / "catalog_rows.json").read_text())
    for row in rows["rows"]:
        if row["id"] == "D1":
            row["clauses"] = [
                {"quote": "roll the alias back to the previous version", "branches": ["roll back"]},
                {"quote": "escalate if not", "branches": ["escalate"]},
            ]
            row["also"] = []
    (tmp_path / "docs" / "catalog_rows.json").write_text(json.dumps(rows))
    return tmp_path


def _write_test(root: Path, folder: str, body: str) -> None:
    (root / folder / "test_x.py").write_text("import pytest\n\n" + body)


def _row(root: Path, rid: str) -> catalog.Row:
    rows, _ = catalog.load(root)
    return next(r for r in rows if r.id == rid)


def test_a_wired_row_is_automated_only_when_every_branch_has_a_workflow_test(tree: Path) -> None:
    one = '@pytest.mark.procedure("D1", "roll back")\ndef test_a() -> None: ...\n'
    _write_test(tree, "tests/workflow", one)
    assert _row(tree, "D1").status == "partial (1/2 clauses tested)"
    page = catalog.render(tree)
    assert "partial (1/2 clauses tested); untested: “escalate if not”" in page
    assert "- “escalate if not” — **untested**\n  - escalate: **no test**" in page

    both = one + '\n@pytest.mark.procedure("D1", "escalate")\ndef test_b() -> None: ...\n'
    _write_test(tree, "tests/workflow", both)
    row = _row(tree, "D1")
    assert row.status == "automated"
    assert row.tests["escalate"] == ["tests/workflow/test_x.py::test_b"]


def test_parametrized_cases_count_for_their_own_branch(tree: Path) -> None:
    _write_test(
        tree,
        "tests/workflow",
        "@pytest.mark.parametrize('x', [\n"
        "    pytest.param(1, marks=pytest.mark.procedure('D1', 'roll back')),\n"
        "    pytest.param(2, marks=pytest.mark.procedure('D1', 'escalate')),\n"
        "])\ndef test_p(x: int) -> None: ...\n",
    )
    assert _row(tree, "D1").status == "automated"


def test_unwired_row_with_no_tests_is_not_yet(tree: Path) -> None:
    assert _row(tree, "Q4").status == "not yet"


@pytest.mark.parametrize(
    ("folder", "body", "problem"),
    [
        (
            "tests/workflow",
            '@pytest.mark.procedure("D1", "rol back")\ndef test_a() -> None: ...\n',
            "has no branch 'rol back'",
        ),
        (
            "tests/workflow",
            '@pytest.mark.procedure("Z9", "x")\ndef test_a() -> None: ...\n',
            "unknown catalog row 'Z9'",
        ),
        (
            "tests/workflow",
            '@pytest.mark.skip(reason="fixture: a skipped test is no evidence")\n'
            '@pytest.mark.procedure("D1", "roll back")\n'
            "def test_a() -> None: ...\n",
            "skipped or xfail",
        ),
        (
            "tests/unit",
            '@pytest.mark.procedure("D1", "roll back")\ndef test_a() -> None: ...\n',
            "evidence must run a workflow",
        ),
    ],
)
def test_markers_that_cannot_count_are_reported_and_not_counted(
    tree: Path, folder: str, body: str, problem: str
) -> None:
    _write_test(tree, folder, body)
    rows, evidence = catalog.load(tree)
    assert any(problem in p for p in catalog.problems(rows, evidence))
    assert not next(r for r in rows if r.id == "D1").covered


def _cut(root: Path, rid: str, clauses: list[dict[str, object]]) -> None:
    path = root / "docs" / "catalog_rows.json"
    rows = json.loads(path.read_text())
    next(r for r in rows["rows"] if r["id"] == rid)["clauses"] = clauses
    path.write_text(json.dumps(rows))


def test_the_real_catalog_is_cut_whole_from_the_runbook_catalog() -> None:
    rows, _ = catalog.load()
    assert catalog.derivation_problems(rows) == []
    assert {r.id for r in rows} == set(catalog.source_rows())


def test_a_clause_the_catalog_does_not_say_is_a_problem(tree: Path) -> None:
    d1 = _row(tree, "D1")
    _cut(
        tree,
        "D1",
        [{"quote": c.quote, "branches": list(c.branches)} for c in d1.clauses]
        + [{"quote": "roll back every function", "branches": ["roll back"]}],
    )
    rows, _ = catalog.load(tree)
    assert any(
        "'roll back every function' is not in" in p for p in catalog.derivation_problems(rows)
    )


def test_catalog_words_no_clause_takes_are_named(tree: Path) -> None:
    """The fixture's D1 leaves out most of its cell: those words are derivation problems, so a
    row cannot look automated by leaving its hard clauses out."""
    rows, _ = catalog.load(tree)
    [problem] = [p for p in catalog.derivation_problems(rows) if p.startswith("D1:")]
    assert "no clause quotes" in problem and "AppConfig" in problem and "FIXED" in problem


def test_a_row_missing_from_the_cut_is_refused(tree: Path) -> None:
    path = tree / "docs" / "catalog_rows.json"
    rows = json.loads(path.read_text())
    rows["rows"] = [r for r in rows["rows"] if r["id"] != "M5"]
    path.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match="M5"):
        catalog.load(tree)


def test_a_clause_proved_by_two_branches_needs_both(tree: Path) -> None:
    _cut(tree, "D1", [{"quote": "escalate if not", "branches": ["escalate", "page"]}])
    _write_test(
        tree,
        "tests/workflow",
        '@pytest.mark.procedure("D1", "escalate")\ndef test_a() -> None: ...\n',
    )
    row = _row(tree, "D1")
    assert row.status == "partial (0/1 clauses tested)" and row.untested == ["“escalate if not”"]


def test_a_tested_row_nothing_triggers_is_partial_and_says_so(tree: Path) -> None:
    q4 = _row(tree, "Q4")
    _write_test(
        tree,
        "tests/workflow",
        "".join(
            f'@pytest.mark.procedure("Q4", "{b}")\ndef test_{n}() -> None: ...\n\n'
            for n, b in enumerate(q4.branches)
        ),
    )
    row = _row(tree, "Q4")
    assert row.covered == row.branches and row.status.startswith("partial")
    assert row.untested == ["not wired (no rule, schedule or manual input names it)"]
