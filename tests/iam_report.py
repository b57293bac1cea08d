"""The suite's grants report: every call each role was seen to make, against what its
synthesized policy grants (local/role_policies.json).

Every pipeline appends the calls its enforcer checked to a directory (`SELFHEAL_IAM_RECORD`,
set by tests/conftest.py for the whole session, xdist workers included). At the end of the
session the report prints, per function, the actions it used and the explicit grants of its
`function.json` that no call used, and the session fails if any call was refused: a refusal
a handler swallowed would otherwise stay green.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from selfheal_cdk import spec as spec_mod


@dataclass
class Report:
    used: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    denied: set[tuple[str, str, str]] = field(default_factory=set)
    unused: dict[str, list[str]] = field(default_factory=dict)

    def usage_lines(self) -> list[str]:
        """What each role used, and the function.json grants nothing used."""
        out = ["IAM: actions each role was seen to use (all allowed by its synthesized policy)"]
        out += [f"  {name}: {', '.join(sorted(acts))}" for name, acts in sorted(self.used.items())]
        if self.unused:
            out.append("granted in function.json, never used by the suite:")
            out += [f"  {name}: {', '.join(acts)}" for name, acts in sorted(self.unused.items())]
        return out

    def refused_lines(self) -> list[str]:
        if not self.denied:
            return []
        out = [f"IAM REFUSED {len(self.denied)} call(s) no grant allows:"]
        return out + [f"  {who}: {action} on {res}" for who, action, res in sorted(self.denied)]


def read(directory: Path, spec: spec_mod.Spec) -> Report:
    report = Report()
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            who = row["name"] if row["kind"] == "function" else f"{row['kind']}:{row['name']}"
            if row["allowed"]:
                report.used[who].add(row["action"])
            else:
                report.denied.add((who, row["action"], row["resource"]))
    for name, fn in spec.functions.items():
        granted = {a for entry in fn.permissions for a in entry["actions"]}
        never = sorted(a for a in granted if a not in report.used.get(name, set()))
        if never:
            report.unused[name] = never
    return report
