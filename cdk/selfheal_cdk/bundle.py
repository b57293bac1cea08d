"""What a Lambda layer bundles: a requirement set and everything it needs on the Lambda
platform, every package at the version `constraints.txt` pins (the versions the suite ran).

pip installs the result with `--no-deps` (functions.PipBundling), so nothing is resolved at
bundling time: the set is computed here, from the requirement metadata of the packages the
suite's virtualenv holds (the same versions, `make setup` installs them with the same
constraints), with the environment markers evaluated for the Lambda runtime. A package the
platform needs that constraints.txt does not pin is an error, never a fresh resolution.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .spec import LAMBDA_PYTHON, ROOT, SpecError

CONSTRAINTS = ROOT / "constraints.txt"
PYPROJECT = ROOT / "pyproject.toml"
#: What every function imports beyond its own requirements.txt, bundled into the Powertools
#: layer from pyproject.toml's [project] dependencies (with their extras): Powertools with
#: `tracer`, `parser` and `validation`; pydantic; and boto3, because aws-xray-sdk (Powertools'
#: tracer) brings botocore, which must match the boto3 beside it (the runtime's own boto3
#: would meet the layer's botocore otherwise).
RUNTIME_PACKAGES: tuple[str, ...] = ("aws-lambda-powertools", "boto3", "pydantic")
#: Packages a requirement asks for that are deliberately left out of every bundle, with why.
NOT_BUNDLED: dict[str, str] = {
    "pillow": (
        "fpdf2 needs Pillow only to embed images (it imports it lazily and works without it; "
        "the fiscal report has no image: tests/cdk/test_bundling.py renders it without "
        "Pillow, byte-identical). Pillow >= 12.3.0 (the fixes of CVE-2026-55798 and "
        "CVE-2026-59197..59200) has no manylinux2014 aarch64 wheel, and the python3.11 "
        "runtime's Amazon Linux 2 (glibc 2.26) cannot load its manylinux_2_28 one."
    ),
}


def lambda_environment() -> dict[str, str]:
    """PEP 508 marker values on the Lambda runtime (Linux, arm64, CPython LAMBDA_PYTHON)."""
    env = {key: str(value) for key, value in default_environment().items()}
    env |= {
        "python_version": LAMBDA_PYTHON,
        "python_full_version": f"{LAMBDA_PYTHON}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
    }
    return env


def constraints(path: Path = CONSTRAINTS) -> dict[str, str]:
    """constraints.txt as canonical name -> pinned version."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise SpecError(f"{path.name} line {number}: {line!r} is not a `name==version` pin")
        pins[canonicalize_name(req.name)] = specs[0].version
    return pins


def runtime_requirements(path: Path = PYPROJECT) -> tuple[str, ...]:
    """The RUNTIME_PACKAGES entries of pyproject.toml's [project] dependencies, as written."""
    deps = tomllib.loads(path.read_text())["project"]["dependencies"]
    found = {canonicalize_name(Requirement(d).name): d for d in deps}
    missing = [p for p in RUNTIME_PACKAGES if canonicalize_name(p) not in found]
    if missing:
        raise SpecError(f"pyproject.toml [project] dependencies: no entry for {missing}")
    return tuple(found[canonicalize_name(p)] for p in RUNTIME_PACKAGES)


def closure(
    requirements: Iterable[str],
    pins: Mapping[str, str] | None = None,
    *,
    left_out: Mapping[str, str] = NOT_BUNDLED,
) -> tuple[str, ...]:
    """`requirements` and everything they need on the Lambda runtime (extras followed), each
    as `name==<its constraints.txt pin>`, sorted; `left_out` packages are skipped. Raises
    SpecError naming the package when one is not pinned, when a requirement excludes its
    pin, or when the installed copy (whose metadata says what it needs) is another version."""
    pins = constraints() if pins is None else pins
    env = lambda_environment()
    chosen: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    queue = [(Requirement(r), "requirements") for r in requirements]
    while queue:
        req, by = queue.pop()
        name = canonicalize_name(req.name)
        if name in left_out:
            continue
        pin = pins.get(name)
        if pin is None:
            raise SpecError(
                f"{name} (needed by {by} on {env['sys_platform']}/{env['platform_machine']} "
                f"python{LAMBDA_PYTHON}) is not pinned in constraints.txt"
            )
        if not req.specifier.contains(Version(pin), prereleases=True):
            raise SpecError(f"{by} asks for {req}, but constraints.txt pins {name}=={pin}")
        chosen[name] = pin
        for extra in ("", *sorted(req.extras)):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for dep in _requires(name, pin):
                if dep.marker is None or dep.marker.evaluate(env | {"extra": extra}):
                    queue.append((dep, f"{name}[{extra}]" if extra else name))
    return tuple(sorted(f"{name}=={version}" for name, version in chosen.items()))


def _requires(name: str, pin: str) -> list[Requirement]:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise SpecError(
            f"{name}=={pin} is not installed here, so what it needs is unknown: "
            "run `make setup` (it installs the pinned set)"
        ) from exc
    if Version(dist.version) != Version(pin):
        raise SpecError(
            f"{name} is installed at {dist.version}, constraints.txt pins {pin}: "
            "run `make setup` (it installs the pinned set)"
        )
    return [Requirement(r) for r in dist.requires or ()]
