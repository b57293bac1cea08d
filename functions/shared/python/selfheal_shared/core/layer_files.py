"""Data files the CDK stages into the shared layer beside the packages (published input
schemas, escalation policies): the layer's copy in AWS, the repository's locally."""

from __future__ import annotations

from pathlib import Path


def find(name: str, packaged: Path, repository: Path, what: str) -> Path:
    """`name` in the layer's folder, else in the repository's; FileNotFoundError saying
    `what` was not found."""
    for folder in (packaged, repository):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {what} {name}")
