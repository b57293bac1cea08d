"""Every package a function gets from a layer is the version constraints.txt pins (issue 18,
parts 2 and 3): Powertools (with boto3 and pydantic) is bundled from the constraints, not
read from AWS's public SSM parameter, and every requirements layer installs its whole set,
pinned, with `--no-deps --constraint constraints.txt` (pip resolved transitive packages
freely before: fonttools drifted from the pinned version)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cdk_synth import ROOT, Synth
from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_wheel_filename
from selfheal_cdk import bundle
from selfheal_cdk.bundle import NOT_BUNDLED, closure, constraints, runtime_requirements
from selfheal_cdk.functions import LAMBDA_GLIBC, PipBundling, requirement_set
from selfheal_cdk.spec import LAMBDA_PYTHON, SpecError
from test_stack import function_ids


def staged_sets(synth: Synth) -> dict[str, tuple[str, ...]]:
    """Logical id of each bundled layer in the template -> the pins staged for pip."""
    out = {}
    for layer, requirements in synth.core.layers.bundled:
        lines = requirements.read_text().splitlines()
        out[synth.logical_id(layer)] = tuple(line for line in lines if line.strip())
    return out


def test_every_function_gets_exactly_its_closure_at_the_constraints_pins(synth: Synth) -> None:
    pins = constraints()
    staged = staged_sets(synth)
    layer_ids = synth.resources("AWS::Lambda::LayerVersion").keys()
    assert set(staged) < set(layer_ids), "the shared library is the one unbundled layer"
    for name, logical_id in function_ids(synth).items():
        fn = synth.spec.functions[name]
        refs = [layer["Ref"] for layer in synth.template["Resources"][logical_id]["Properties"][
            "Layers"]]  # fmt: skip
        bundled = [line for ref in refs for line in staged.get(ref, ())]
        wanted = [*runtime_requirements()]
        if fn.requirements is not None:
            wanted += requirement_set(fn.requirements)
        # what the function can import from its layers is what it asks for and what that
        # needs on Lambda, never a version the suite did not run
        assert set(bundled) == set(closure(wanted)), name
        for line in bundled:
            package, version = line.split("==")
            assert pins[canonicalize_name(package)] == version, (name, line)
            assert canonicalize_name(package) not in NOT_BUNDLED, (name, line)


def test_powertools_is_bundled_with_the_extras_the_functions_use(synth: Synth) -> None:
    staged = staged_sets(synth)[synth.logical_id(synth.core.layers.powertools)]
    names = {canonicalize_name(line.split("==")[0]) for line in staged}
    # tracer, parser and validation extras; boto3 beside the botocore aws-xray-sdk brings
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic", "pydantic-core",
            "fastjsonschema", "boto3", "botocore"} <= names  # fmt: skip
    # no layer comes from AWS's public Powertools parameter any more
    parameters = synth.template.get("Parameters", {})
    assert not [p for p in parameters.values() if "/powertools/" in str(p.get("Default", ""))]


def test_pip_installs_the_staged_set_only_and_under_the_constraints(tmp_path: Path) -> None:
    command = PipBundling(tmp_path / "requirements.txt").command(str(tmp_path / "out"))
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert "--no-deps" in command
    assert command[command.index("--constraint") + 1] == str(ROOT / "constraints.txt")
    assert command[command.index("--requirement") + 1] == str(tmp_path / "requirements.txt")
    assert command[command.index("--python-version") + 1] == LAMBDA_PYTHON


def test_a_set_outside_the_constraints_is_refused() -> None:
    pins = constraints()
    with pytest.raises(SpecError, match=r"six \(needed by python-dateutil .*not pinned"):
        closure(["holidays==0.109"], {k: v for k, v in pins.items() if k != "six"})
    with pytest.raises(SpecError, match=r"asks for tzdata==2025.1, but constraints.txt pins"):
        closure(["tzdata==2025.1"], pins)
    # a left-out package is not bundled, nor is what only it needs
    assert closure(["fpdf2==2.8.9"], pins, left_out={}) != closure(["fpdf2==2.8.9"], pins)
    assert not [p for p in closure(["fpdf2==2.8.9"], pins) if p.startswith("pillow")]


def lambda_compatible(tag: Tag) -> bool:
    """Would the python3.11 arm64 runtime load a wheel with this tag?"""
    if tag.interpreter not in {f"cp{LAMBDA_PYTHON.replace('.', '')}", "py3", "py2"}:
        return False
    if tag.platform == "any":
        return True
    if tag.platform == "manylinux2014_aarch64":
        return True
    parts = tag.platform.split("_")
    return (
        parts[0] == "manylinux"
        and tag.platform.endswith("_aarch64")
        and (int(parts[1]), int(parts[2])) <= LAMBDA_GLIBC
    )


def test_pip_would_install_exactly_the_staged_sets_as_lambda_wheels(
    synth: Synth, tmp_path: Path
) -> None:
    """The real bundling command, with `--dry-run --report`, against the package index (the
    machine and CI reach PyPI): every pin exists as a wheel the runtime loads, and pip would
    install the staged set and nothing else."""
    for layer, requirements in synth.core.layers.bundled:
        report = tmp_path / f"{synth.logical_id(layer).replace('/', '_')}.json"
        command = PipBundling(requirements).command(str(tmp_path / "out"))
        done = subprocess.run(
            [*command, "--dry-run", "--ignore-installed", "--report", str(report)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        installs = json.loads(report.read_text())["install"]
        got = {f"{canonicalize_name(i['metadata']['name'])}=={i['metadata']['version']}"
               for i in installs}  # fmt: skip
        assert got == set(requirements.read_text().split()), requirements
        for item in installs:
            wheel = item["download_info"]["url"].rsplit("/", 1)[-1]
            _, _, _, tags = parse_wheel_filename(wheel)
            assert any(lambda_compatible(t) for t in tags), wheel


def test_the_fiscal_pdf_is_the_same_without_pillow() -> None:
    """The reason Pillow is left out (bundle.NOT_BUNDLED): fpdf2 renders the fiscal report
    without it, byte for byte."""
    script = (
        "import sys\n"
        "if sys.argv[1] == 'without': sys.modules['PIL'] = None\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "from tests.unit.test_fiscal_logic import fiscal, invoice, profile, small_month\n"
        "from selfheal_shared.reports.fiscal_pdf import render_pdf\n"
        "r = fiscal.build_report(profile(), '2026-12', small_month(),\n"
        "                        [invoice('51', '100.00', '18.00')], 'd')\n"
        "pdf = render_pdf(r)\n"
        "assert ('PIL.Image' in sys.modules) == (sys.argv[1] == 'with'), sys.argv[1]\n"
        "sys.stdout.buffer.write(pdf)\n"
    )
    pdfs = {
        mode: subprocess.run(
            [sys.executable, "-c", script, mode], cwd=ROOT, capture_output=True, check=True
        ).stdout
        for mode in ("with", "without")
    }
    assert pdfs["with"].startswith(b"%PDF-")
    assert pdfs["with"] == pdfs["without"]
    assert "pillow" in NOT_BUNDLED and bundle.NOT_BUNDLED["pillow"]
