"""The test suite as a package, so `tests.helpers` imports the same under `pytest` and
`python -m pytest` (pytest puts the repository root on sys.path for a rooted package)."""
