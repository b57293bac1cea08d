"""Count cdk-nag's findings and the acknowledgements written to the templates, and the size
of each stack's template (CloudFormation allows 500 resources and 1 MB; tests hold 400/800 KB).

    python cdk/nag_report.py            # bundling skipped, as the tests synthesize

Prints unacknowledged findings per (severity, rule) from `validation-report.json` (the synth
fails when there are errors; the report is still written) and the acknowledgements per rule
as written to the template (`cdk_nag` metadata, one entry per resource it covers).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from selfheal_cdk.stack import build_app


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="selfheal-nag-"))
    app = build_app(context={"aws:cdk:bundling-stacks": []}, outdir=out)
    try:
        app.synth()
        print("synth: ok")
    except RuntimeError as error:
        print(f"synth: failed ({str(error).splitlines()[0]})")
    report = json.loads((out / "validation-report.json").read_text())
    findings: Counter[tuple[str, str]] = Counter()
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            key = (violation["severity"], violation["ruleName"])
            findings[key] += len(violation["violatingConstructs"])
    print(f"unacknowledged findings: {sum(findings.values())}")
    for (severity, rule), n in sorted(findings.items()):
        print(f"  {severity:7} {rule}: {n}")
    acks: Counter[str] = Counter()
    print("stacks (resources, minified KB):")
    for path in sorted(out.glob("*.template.json")):
        template = json.loads(path.read_text())
        kb = len(json.dumps(template, separators=(",", ":")).encode()) / 1024
        name = path.name.removesuffix(".template.json")
        print(f"  {name:20} {len(template['Resources']):4} {kb:7.1f}")
    for template in out.glob("*.template.json"):
        for resource in json.loads(template.read_text())["Resources"].values():
            nag = resource.get("Metadata", {}).get("cdk_nag", {})
            for rule in nag.get("rules_to_suppress", []):
                acks[rule["id"].split("[", 1)[0]] += 1
    print(f"acknowledgements: {sum(acks.values())}")
    for rule, n in sorted(acks.items()):
        print(f"  {rule}: {n}")


if __name__ == "__main__":
    main()
