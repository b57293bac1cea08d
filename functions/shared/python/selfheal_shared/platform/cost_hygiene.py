"""Cost hygiene (runbook 001 "Gestão de Custos", row D6): which Lambda versions go, which
log groups get a retention, how the raw bucket's lifecycle rules merge. Pure decisions over
what the survey read; the configuration is `config/cost_hygiene.json` (staged into the layer
by the CDK), never constants here."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from selfheal_shared.core import layer_files

AUTOMATION = "cost_hygiene"
CONFIG = "cost_hygiene.json"
PACKAGED = Path(__file__).parents[1] / "config"
REPOSITORY = Path(__file__).resolve().parents[5] / "config"
#: CodeDeploy statuses of a deployment not yet over: its versions are in use or about to be.
ACTIVE_DEPLOYMENT = ("Created", "Queued", "InProgress", "Baking", "Ready")


class LambdaVersions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    keepLast: int = Field(ge=1)
    #: A function's own N; at least 1 (0 or less would delete every version, or the oldest).
    keepLastByFunction: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    functions: list[str] = Field(min_length=1)

    def keep_for(self, function: str) -> int:
        return self.keepLastByFunction.get(function, self.keepLast)


class LogGroups(BaseModel):
    model_config = ConfigDict(extra="ignore")

    retentionDays: int = Field(ge=1)


class RawBucket(BaseModel):
    model_config = ConfigDict(extra="ignore")

    bucket: str = Field(min_length=3)
    rules: list[dict[str, Any]] = Field(min_length=1)


class CostConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    #: Changes one run makes at most (one Lambda, one payload): the rest is left for the next
    #: week's run, and the report says how many.
    maxChangesPerRun: int = Field(ge=1)

    lambdaVersions: LambdaVersions
    logGroups: LogGroups
    rawBucket: RawBucket


@cache
def config() -> CostConfig:
    path = layer_files.find(CONFIG, PACKAGED, REPOSITORY, "cost hygiene configuration")
    return CostConfig.model_validate(json.loads(path.read_text()))


def versions_to_delete(
    versions: list[str], keep: int, protected: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """(versions to delete, kept version -> why): the last `keep` published versions stay,
    and so does every `protected` one (an alias, a CodeDeploy deployment), whatever its age.
    `$LATEST` is not a version that can be deleted."""
    published = sorted((v for v in versions if v.isdigit()), key=int)
    recent = set(published[-keep:])
    kept: dict[str, str] = {}
    delete: list[str] = []
    for v in published:
        if v in protected:
            kept[v] = protected[v]
        elif v in recent:
            kept[v] = f"among the last {keep}"
        else:
            delete.append(v)
    return delete, kept


def appspec_versions(content: str) -> list[tuple[str, str]]:
    """(function, version) pairs a Lambda deployment's AppSpec names (current and target).
    Raises ValueError when the content does not say which: the caller must then keep every
    version rather than guess."""
    try:
        spec = yaml.safe_load(content)  # an AppSpec is YAML or JSON (JSON is YAML)
        out: list[tuple[str, str]] = []
        for resource in spec["Resources"]:
            for body in resource.values():
                props = body["Properties"]
                for key in ("CurrentVersion", "TargetVersion"):
                    if props.get(key):
                        out.append((str(props["Name"]), str(props[key])))
        return out
    except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ValueError(f"AppSpec content unreadable ({exc})") from exc


def merge_rules(
    existing: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """(the bucket's rules with the configured ones in, IDs of configured rules added or
    changed). Every rule the bucket has under another ID is kept as it is."""
    ours = {str(r["ID"]): r for r in wanted}
    merged = [r for r in existing if str(r.get("ID")) not in ours]
    before = {str(r.get("ID")): r for r in existing}
    changed = [rid for rid, r in ours.items() if not within(r, before.get(rid))]
    return merged + list(ours.values()), changed


def within(wanted: Any, found: Any) -> bool:
    """Whether `found` says everything `wanted` says (AWS may add defaults to a rule it
    returns: a rule read back is compared on what was asked)."""
    if isinstance(wanted, dict):
        return isinstance(found, dict) and all(within(v, found.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(found, list)
            and len(found) == len(wanted)
            and all(within(w, f) for w, f in zip(wanted, found, strict=True))
        )
    return bool(wanted == found)


def without_retention(groups: list[dict[str, Any]]) -> list[str]:
    """Log groups that keep their events forever: the only ones given a retention (an
    existing one, shorter or longer, is never changed)."""
    return [str(g["logGroupName"]) for g in groups if not g.get("retentionInDays")]
