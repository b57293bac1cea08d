"""Manual input validated with the JSON Schema published next to the workflow.

`state_machines/<workflow>.input.schema.json` is the one copy: the CDK stages it into the
shared layer (`selfheal_shared/schemas/`), and locally it is read from the repository.
Validation uses Powertools' validator (fastjsonschema, shipped in the Powertools layer);
the error names the field, like every other `InputInvalid`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from . import layer_files
from .errors import InputInvalid

#: `selfheal_shared/schemas/`, beside the packages (the layer's, not core's: every domain's).
PACKAGED = Path(__file__).parents[1] / "schemas"
REPOSITORY = Path(__file__).resolve().parents[5] / "state_machines"


def schema_path(workflow: str) -> Path:
    name = f"{workflow}.input.schema.json"
    return layer_files.find(name, PACKAGED, REPOSITORY, "published input schema")


@cache
def schema(workflow: str) -> dict[str, Any]:
    return json.loads(schema_path(workflow).read_text())  # type: ignore[no-any-return]


def _field(exc: SchemaValidationError) -> str:
    """The offending field: fastjsonschema names the object for required/unknown keys."""
    name = (exc.name or "data").removeprefix("data").lstrip(".") or ""
    message = str(exc.message or "")
    if exc.rule in ("required", "additionalProperties"):
        found = re.search(r"contain (\[.*?\]|\{.*?\}) properties", message)
        keys = re.findall(r"'([^']+)'", found.group(1)) if found else []
        if exc.rule == "required" and isinstance(exc.value, dict):
            keys = [k for k in keys if k not in exc.value] or keys
        return ", ".join(f"{name}.{k}" if name else k for k in keys) or name or "<root>"
    return name or "<root>"


def check(workflow: str, data: Any) -> dict[str, Any]:
    """Validate manual input against the workflow's published schema; InputInvalid names the
    field and what is wrong with it."""
    try:
        validate(event=data, schema=schema(workflow))
    except SchemaValidationError as exc:
        detail = re.sub(r"^Failed schema validation\. Error: ", "", str(exc.message or ""))
        detail = detail.split(", Path:", 1)[0]
        rule = {
            "required": "required field missing",
            "additionalProperties": "unknown field",
        }.get(str(exc.rule), detail)
        raise InputInvalid(f"invalid {workflow} input: {_field(exc)}: {rule}") from None
    return dict(data)
