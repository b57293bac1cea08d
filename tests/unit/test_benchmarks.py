"""The benchmark harness still runs (`make bench` is not part of the suite): its cold-init
path on one function, once. No timing is asserted; the figures depend on the machine."""

from __future__ import annotations

from benchmarks import cold_init


def test_cold_init_measures_a_function_against_the_boto3_baseline() -> None:
    result = cold_init.measure(["notify"], n=1)

    assert set(result) == {"notify", cold_init.BASELINE}
    assert set(result["notify"]) == {"ratio", "median_ms", "cpu_ratio", "cpu_median_ms"}
    assert all(v > 0 for v in result["notify"].values())
    assert all(v > 0 for v in result[cold_init.BASELINE].values())


def test_every_remediator_folder_is_measured() -> None:
    folders = cold_init.function_folders()

    assert "rollback_deployment" in folders and "shared" not in folders
    assert all((folder / "app.py").is_file() for folder in folders.values())
