"""The CDK CLI that synthesizes and deploys is pinned, and so is the Node.js LTS it runs on
(issue 18, part 5): `npm ci` installs exactly them, and the README runs that CLI."""

from __future__ import annotations

import json
import re

from cdk_synth import ROOT

EXACT = re.compile(r"^\d+\.\d+\.\d+$")


def test_the_cli_and_its_node_are_exact_pins_in_the_lockfile() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pins = package["devDependencies"]
    assert set(pins) == {"aws-cdk", "node"}
    for name, version in pins.items():
        assert EXACT.match(version), f"{name} {version!r}: an exact version, never a range"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
        assert lock["packages"][f"node_modules/{name}"]["integrity"].startswith("sha512-"), name
    assert lock["packages"][""]["devDependencies"] == pins
    # an LTS line (even major) that aws-cdk-lib's jsii runtime supports: 22 or 24, not 20
    major = int(pins["node"].split(".")[0])
    assert major % 2 == 0 and major >= 22, pins["node"]
    # the one install script npm runs is the one that fetches that Node binary
    assert package["allowScripts"] == {"node": True}


def test_the_readme_deploys_with_the_pinned_cli() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.splitlines() if re.match(r"^\s*(npx|cdk) ", line)]
    assert commands, "the Deploying section shows the commands"
    for line in commands:
        assert line.startswith("npx cdk "), line  # the local, pinned CLI: no `npx aws-cdk@2`
    assert "npm ci" in section
    assert "aws-cdk@" not in readme
