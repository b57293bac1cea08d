"""The functions run in Lambda on the Python the suite runs their handlers on (issue 18, part 4):
one constant (`spec.LAMBDA_PYTHON`) for the functions, the layers, the wheels pip picks and
the local runtime, held equal to the interpreter running these tests."""

from __future__ import annotations

import sys

from cdk_synth import Synth
from selfheal_cdk.functions import LAMBDA_GLIBC, PIP_PLATFORM, RUNTIME, RUNTIME_REASON
from selfheal_cdk.spec import LAMBDA_PYTHON, LAMBDA_RUNTIME
from test_serverless_nag import acknowledgements
from test_stack import function_ids

SUITE_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def test_every_function_and_layer_runs_on_the_suites_python(synth: Synth) -> None:
    functions = synth.resources("AWS::Lambda::Function")
    ours = {synth.template["Resources"][fid]["Properties"]["Runtime"] for fid in
            function_ids(synth).values()}  # fmt: skip
    assert ours == {SUITE_RUNTIME}
    # nothing else in the app runs Python on another version (CDK's own handlers are Node)
    pythons = {
        res["Properties"]["Runtime"]
        for res in functions.values()
        if res["Properties"].get("Runtime", "").startswith("python")
    }
    assert pythons == {SUITE_RUNTIME}
    layers = synth.resources("AWS::Lambda::LayerVersion")
    assert layers
    for logical_id, res in layers.items():
        assert res["Properties"]["CompatibleRuntimes"] == [SUITE_RUNTIME], logical_id
        assert res["Properties"]["CompatibleArchitectures"] == ["arm64"], logical_id


def test_one_constant_names_the_runtime_everywhere() -> None:
    assert LAMBDA_RUNTIME == RUNTIME.name == f"python{LAMBDA_PYTHON}" == SUITE_RUNTIME
    # pip picks wheels for that CPython, on a glibc the runtime's OS has
    args = list(PIP_PLATFORM)
    assert args[args.index("--python-version") + 1] == LAMBDA_PYTHON
    assert args[args.index("--implementation") + 1] == "cp"
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert "manylinux2014_aarch64" in platforms
    for platform in platforms:
        if platform.startswith("manylinux_"):
            major, minor = (int(n) for n in platform.split("_")[1:3])
            assert (major, minor) <= LAMBDA_GLIBC, platform
    assert LAMBDA_GLIBC == (2, 26), "python3.11 runs on Amazon Linux 2"


def test_the_older_than_newest_runtime_is_acknowledged_with_the_reason(synth: Synth) -> None:
    """cdk-nag's LambdaLatestVersion and AwsSolutions-L1 want the newest Python the pinned
    aws-cdk-lib knows; each function says why it runs the suite's instead."""
    for name, logical_id in function_ids(synth).items():
        acks = acknowledgements(synth.template["Resources"][logical_id])
        assert acks["Serverless-LambdaLatestVersion"] == RUNTIME_REASON, name
        assert acks["AwsSolutions-L1"] == RUNTIME_REASON, name
    assert LAMBDA_RUNTIME in RUNTIME_REASON
