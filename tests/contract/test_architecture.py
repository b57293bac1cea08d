"""docs/ARCHITECTURE.md is what the code says: written by `selfheal architecture --write`
from the convention files, so a domain, workflow or function folder added or moved shows
up (or the suite fails until the page is written again)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from selfheal_cdk import architecture
from selfheal_cdk import spec as spec_mod


def test_the_page_is_what_the_code_says() -> None:
    assert architecture.DOC.read_text() == architecture.render(), (
        "docs/ARCHITECTURE.md is stale: run `selfheal architecture --write`"
    )


def test_a_new_domain_and_its_workflow_appear_on_the_page(tmp_path: Path) -> None:
    for part in ("events", "state_machines", "functions"):
        shutil.copytree(spec_mod.ROOT / part, tmp_path / part)
    domains = tmp_path / "state_machines" / "domains"
    deploy = json.loads((domains / "deploy.json").read_text())
    (domains / "deploy.json").write_text(json.dumps({**deploy, "workflows": []}))
    (domains / "releases.json").write_text(
        json.dumps(
            {"workflows": ["critical_failure", "rollback_on_5xx"], "description": "releases"}
        )
    )
    shutil.move(tmp_path / "functions" / "deploy", tmp_path / "functions" / "releases")

    page = architecture.render(root=tmp_path)

    assert '    releases["releases: critical_failure, rollback_on_5xx"]' in page
    assert (
        "| releases | Selfheal-releases | critical_failure, rollback_on_5xx | "
        "critical_failure, rollback_on_5xx |" in page
    ), page
    assert "`functions/releases/` (11)" in page
    assert page != architecture.render()
