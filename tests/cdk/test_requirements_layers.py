"""Asset bundling happens once per distinct requirements set, not once per function
(issue 10, part 3): a function's folder is a plain asset, its pins come in a shared layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from cdk_synth import Synth
from selfheal_cdk import functions
from selfheal_cdk.bundle import closure, runtime_requirements
from selfheal_cdk.functions import requirement_set
from selfheal_cdk.spec import load
from selfheal_cdk.stack import build_app
from test_stack import function_ids


def test_one_layer_per_distinct_requirements_set(synth: Synth) -> None:
    sets = {
        name: requirement_set(fn.requirements)
        for name, fn in synth.spec.functions.items()
        if fn.requirements is not None
    }
    layers = synth.core.layers.requirements
    assert set(layers) == set(sets.values())
    assert len(layers) < len(sets), "today several functions share a set (tzdata)"
    for name, logical_id in function_ids(synth).items():
        used = synth.template["Resources"][logical_id]["Properties"]["Layers"]
        mine = [{"Ref": synth.logical_id(layers[sets[name]])}] if name in sets else []
        others = [{"Ref": synth.logical_id(layer)} for layer in layers.values()]
        assert [layer for layer in used if layer in others] == mine, name
        if mine:  # a later layer's files win: the function's pins come last
            powertools = used.index({"Ref": synth.logical_id(synth.core.layers.powertools)})
            assert used.index(mine[0]) > powertools, name


def test_comments_and_order_do_not_make_a_new_set(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("# one\ntzdata==2026.6\nsix==1.17.0\n")
    b.write_text("six==1.17.0  # the same pins\n\n# another comment\ntzdata==2026.6\n")
    assert requirement_set(a) == requirement_set(b) == ("six==1.17.0", "tzdata==2026.6")


def test_bundling_runs_once_per_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With bundling on, pip runs once per distinct set (counted in the local bundler), even
    with the functions asking for them spread over several domain stacks: the layers are
    the core's. Each set is staged whole (with what it needs on Lambda), and Powertools'
    layer is one more set."""
    spec = load()
    with_pins = {n: fn for n, fn in spec.functions.items() if fn.requirements is not None}
    calls: list[str] = []

    def fake_bundle(self: Any, output_dir: str, *args: Any, **options: Any) -> bool:
        calls.append(Path(self.requirements).read_text())
        (Path(output_dir) / functions.LAYER_PYTHON).mkdir(parents=True, exist_ok=True)
        return True

    monkeypatch.setattr(functions.PipBundling, "try_bundle", fake_bundle)
    app: App = build_app(outdir=tmp_path, loaded=spec)
    app.synth()
    distinct = {requirement_set(fn.requirements) for fn in with_pins.values() if fn.requirements}
    assert len(with_pins) > len(distinct) >= 2
    placed = spec.placement()
    assert len({placed[n] for n in with_pins}) >= 2, "spread over several stacks"
    sets = [*distinct, runtime_requirements()]
    assert sorted(calls) == sorted("".join(f"{p}\n" for p in closure(pins)) for pins in sets)
