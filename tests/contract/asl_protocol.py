"""The remediator protocol as rules over a workflow's ASL and its functions' `function.json`,
so they hold for automations not written yet (DESIGN.md, "How a remediator looks").

`violations(definition, functions)` returns one line per broken rule:

1. a task whose function may change something outside selfheal (a mutating IAM action in
   its `function.json`) is reachable only through a guard decision's "proceed" branch;
2. outcomes use the one vocabulary: every Choice on an `outcome` variable, and every
   constant `outcome`, is an `Outcome`; fan-out items end with an `outcome`;
3. a `Succeed` is reached only from a recorded, allowed outcome (a notify/record task given
   FIXED or SKIPPED_BY_GUARD, a Choice that tests such an outcome) or from the claim's
   duplicate branch;
4. every failure path escalates and audits: every Task, Map and Parallel but the
   escalation, at any depth of Map items and Parallel branches, catches `States.ALL` (alone,
   in its last Catcher, as AWS requires) into states that all reach an escalation before
   the path ends (an item's own, inside a Map), and every `Fail` is reached only from an
   escalation. AWS's `States.ALL` catches neither `States.Runtime` nor
   `States.DataLimitExceeded`: those are kept out by the first state's bound on the input;
5. a failed execution keeps its cause: a `Fail` that reads the caught error (`$.error` in
   its `ErrorPath`/`CausePath`) is reached only on paths that set `$.error`, and the first
   state's Catch replaces the state (`ResultPath: "$"`) instead of writing into it: the
   execution input may be any JSON, and an array cannot take an `error` field;
6. a guard refusal never ends an incident silently (`selfheal_shared/core/refusals.py`, the one
   rule): from every refusal (a Catch of `GuardRefused`, a guard decision's
   `$.guard.proceed == false` branch) every path reaches a page before the execution, or the
   fan-out item, ends. A page is an escalation or notification to L1/L2/L3 (a P4's ticket
   to ops is its clock's page; an escalation of SKIPPED_BY_GUARD without `levels` pages by
   the rule), or a function whose `function.json` declares that it `pages` on the severity
   clock. Only the refusals the rule pages nobody about are exempt, on a Choice branch that
   tests them: `$.<x>.guard` is a silence or a duplicate, `$.<x>.waits == true`,
   `$.<x>.pages == false`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from selfheal_shared.core import notify, refusals
from selfheal_shared.core.outcomes import Outcome

ALLOWED_TO_SUCCEED = {
    Outcome.FIXED.value,
    Outcome.NO_ACTION_NEEDED.value,
    Outcome.SKIPPED_BY_GUARD.value,
}
VOCABULARY = {o.value for o in Outcome}
GUARD_FUNCTION = "remediation_guards"
ESCALATE_FUNCTION = "escalate"
CLAIM_FUNCTION = "claim_incident"
#: Verbs of IAM actions that change something.
MUTATING = re.compile(
    r"^(Add|Attach|Cancel|Create|Delete|Deregister|Detach|Disable|Enable|Invoke|Modify|Publish|"
    r"Put|Reboot|Register|Remove|Reset|Restore|Send|Set|Start|Stop|Tag|Terminate|Untag|Update)"
)
#: Mutations of selfheal's own plumbing, not of a target: domain events onto its own bus,
#: its own metrics (the forecast accuracy the retraining alarm reads).
NOT_ACTING = {"events:PutEvents", "cloudwatch:PutMetricData"}


#: SSM documents that only read (a check): sending one of these changes nothing.
READ_ONLY_DOCUMENTS = (
    "document/selfheal-ServiceCheck",
    # The ingestion failover's reads (selfheal_shared/ingestion/ingestion_documents.py).
    "document/selfheal-IngestionObserve",
    "document/selfheal-IngestionWriters",
)


def _sends_only_read_only_documents(statements: list[dict[str, Any]]) -> bool:
    """Every `ssm:SendCommand` grant names documents, and only read-only ones (a grant on
    instances alone runs nothing: a command needs a document the role may send)."""
    documents = [
        str(r)
        for s in statements
        if "ssm:SendCommand" in s.get("actions", [])
        for r in s.get("resources", [])
        if "document/" in str(r) or str(r) == "*"
    ]
    return bool(documents) and all(d.endswith(READ_ONLY_DOCUMENTS) for d in documents)


def acting_actions(function_json: dict[str, Any]) -> list[str]:
    statements = function_json.get("permissions", [])
    read_only_ssm = _sends_only_read_only_documents(statements)
    return [
        action
        for statement in statements
        for action in statement.get("actions", [])
        if action not in NOT_ACTING
        and MUTATING.match(action.split(":", 1)[-1])
        and not (action == "ssm:SendCommand" and read_only_ssm)
    ]


def hands_off(function_json: dict[str, Any]) -> bool:
    """A function that only passes a normalized event on to one of selfheal's own buses."""
    bus = function_json.get("handsOffTo")
    actions = {a for s in function_json.get("permissions", []) for a in s.get("actions", [])}
    puts_on_bus = any(
        "events:PutEvents" in s.get("actions", [])
        and all(str(r).endswith(f":event-bus/{bus}") for r in s.get("resources", []))
        for s in function_json.get("permissions", [])
    )
    return bool(bus) and puts_on_bus and not acting_actions(function_json) and bool(actions)


def function_of(state: dict[str, Any]) -> str | None:
    params = state.get("Parameters")
    name = params.get("FunctionName", "") if isinstance(params, dict) else ""
    match = re.fullmatch(r"\$\{Function_(\w+)\}", str(name))
    return match.group(1) if match else None


def _payload(state: dict[str, Any]) -> dict[str, Any]:
    params = state.get("Parameters")
    payload = params.get("Payload", {}) if isinstance(params, dict) else {}
    return payload if isinstance(payload, dict) else {}


def _rules(rule: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A Choice rule and every rule nested in it (And / Or / Not)."""
    yield rule
    for key in ("And", "Or"):
        for sub in rule.get(key, []):
            yield from _rules(sub)
    if "Not" in rule:
        yield from _rules(rule["Not"])


def _edges(state: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """(target, Choice rule or None, kind) for every transition out of a state."""
    if state.get("Next"):
        yield state["Next"], None, "next"
    for rule in state.get("Choices", []):
        yield rule["Next"], rule, "choice"
    if state.get("Default"):
        yield state["Default"], None, "default"
    for catch in state.get("Catch", []):
        yield catch["Next"], None, "catch"


def _is_guard_decision(states: dict[str, Any], name: str) -> bool:
    state = states[name]
    return state["Type"] == "Choice" and any(
        r.get("Variable") == "$.guard.proceed"
        for rule in state.get("Choices", [])
        for r in _rules(rule)
    )


def _proceeds(state: dict[str, Any], rule: dict[str, Any] | None, kind: str) -> bool:
    """Whether this edge out of a guard decision is the branch that goes on to act."""
    if kind == "default":
        # The default proceeds when the Choice routes `proceed == false` away.
        return any(
            r.get("Variable") == "$.guard.proceed" and r.get("BooleanEquals") is False
            for rule in state.get("Choices", [])
            for r in _rules(rule)
        )
    return rule is not None and any(
        r.get("Variable") == "$.guard.proceed" and r.get("BooleanEquals") is True
        for r in _rules(rule)
    )


def _processors(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Map":
            yield name, state.get("ItemProcessor") or state["Iterator"]
        for n, branch in enumerate(state.get("Branches", [])):
            yield f"{name}[{n}]", branch


def _unguarded(graph: dict[str, Any]) -> set[str]:
    """States reachable from the start without taking a guard decision's proceed branch."""
    states = graph["States"]
    seen, todo = set(), [graph["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        for target, rule, kind in _edges(states[name]):
            if _is_guard_decision(states, name) and _proceeds(states[name], rule, kind):
                continue
            todo.append(target)
    return seen


def _check_guarded(
    graph: dict[str, Any], functions: dict[str, dict[str, Any]], where: str
) -> list[str]:
    out = []
    states = graph["States"]
    reachable = _unguarded(graph)
    for name in sorted(reachable):
        fn = function_of(states[name])
        acts = acting_actions(functions.get(fn or "", {}))
        if acts:
            out.append(
                f"{where}{name}: calls {fn}, which may {', '.join(acts)}, without passing "
                "a guard decision ($.guard.proceed)"
            )
    for name, processor in _processors(states):
        if name in reachable:  # a fan-out reached unguarded must guard each item itself
            out += _check_guarded(processor, functions, f"{where}{name}/")
    return out


def _check_vocabulary(graph: dict[str, Any], where: str, *, in_map: bool = False) -> list[str]:
    out = []
    for name, state in graph["States"].items():
        for rule in state.get("Choices", []):
            for r in _rules(rule):
                var = str(r.get("Variable", ""))
                if var.endswith(".outcome") and r.get("StringEquals") not in VOCABULARY:
                    out.append(f"{where}{name}: {var} compared to {r.get('StringEquals')!r}")
                if var.endswith(".status") and r.get("StringEquals") in {"OK", "SKIPPED"}:
                    out.append(f"{where}{name}: {var} uses a second vocabulary")
        for holder in (_payload(state), state.get("Parameters") or {}):
            if "outcome" in holder and holder["outcome"] not in VOCABULARY:
                out.append(f"{where}{name}: outcome {holder['outcome']!r}")
        if in_map and state["Type"] == "Pass" and state.get("End"):
            params = state.get("Parameters") or {}
            if "outcome" not in params and "outcome.$" not in params:
                out.append(f"{where}{name}: a fan-out item ends without an outcome")
    for name, processor in _processors(graph["States"]):
        out += _check_vocabulary(processor, f"{where}{name}/", in_map=True)
    return out


def _predecessors(states: dict[str, Any], target: str) -> Iterator[tuple[str, Any, str]]:
    for name, state in states.items():
        for to, rule, kind in _edges(state):
            if to == target:
                yield name, rule, kind


def _records_allowed_outcome(
    states: dict[str, Any],
    name: str,
    rule: Any,
    kind: str,
    functions: dict[str, dict[str, Any]] | None = None,
) -> bool:
    state = states[name]
    if state["Type"] == "Task" and kind == "next":
        if function_of(state) == CLAIM_FUNCTION:
            return False
        if hands_off((functions or {}).get(function_of(state) or "", {})):
            return True
        payload = _payload(state)
        if "outcome.$" in payload:  # recorded as computed: only on an allowed branch
            preds = list(_predecessors(states, name))
            return bool(preds) and all(
                states[p]["Type"] == "Choice" and _records_allowed_outcome(states, p, r, k)
                for p, r, k in preds
            )
        return payload.get("outcome") in ALLOWED_TO_SUCCEED
    if state["Type"] == "Choice" and rule is not None:
        tests = list(_rules(rule))
        if any(
            str(r.get("Variable", "")).endswith(".outcome")
            and r.get("StringEquals") in ALLOWED_TO_SUCCEED
            for r in tests
        ):
            return "Or" not in rule or all(
                str(r.get("Variable", "")).endswith(".outcome")
                and r.get("StringEquals") in ALLOWED_TO_SUCCEED
                for r in rule["Or"]
            )
        # The claim's duplicate branch: another execution owns the incident.
        return any(r.get("Variable") == "$.claim.duplicate" for r in tests)
    return False


def _escalates(state: dict[str, Any]) -> bool:
    return function_of(state) == ESCALATE_FUNCTION


def _unescalated_end(states: dict[str, Any], start: str) -> str | None:
    """A state where a path from `start` ends (Succeed, Fail, End) without having passed an
    escalation; None when every path escalates first."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        if _escalates(states[name]):
            continue
        ahead = [to for to, _, kind in _edges(states[name]) if kind != "catch"]
        if not ahead:
            return name
        todo += ahead
    return None


def _check_catch_all(states: dict[str, Any], name: str, where: str) -> list[str]:
    catches = states[name].get("Catch", [])
    catch_all = [c for c in catches if "States.ALL" in c["ErrorEquals"]]
    if not catch_all:
        return [f"{where}{name}: no Catch of States.ALL"]
    out = []
    if catch_all[0] is not catches[-1] or catch_all[0]["ErrorEquals"] != ["States.ALL"]:
        out.append(f"{where}{name}: States.ALL must be alone in the last Catcher")
    end = _unescalated_end(states, catch_all[0]["Next"])
    if end is not None:
        out.append(f"{where}{name}: its Catch does not lead to an escalation (ends at {end})")
    return out


def _after_escalation(states: dict[str, Any]) -> set[str]:
    """States that run only once an escalation has paged and audited (bookkeeping of it)."""
    seen: set[str] = set()
    todo = [to for s in states.values() if _escalates(s) for to, _, _ in _edges(s)]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo += [to for to, _, _ in _edges(states[name])]
    return seen


def _check_endings(
    graph: dict[str, Any], where: str, functions: dict[str, dict[str, Any]] | None = None
) -> list[str]:
    out = []
    states = graph["States"]
    escalated = _after_escalation(states)
    for name, state in states.items():
        if state["Type"] == "Succeed":
            for pred, rule, kind in _predecessors(states, name):
                if not _records_allowed_outcome(states, pred, rule, kind, functions):
                    out.append(
                        f"{where}{name}: Succeed reached from {pred} without a recorded "
                        f"FIXED or SKIPPED_BY_GUARD outcome"
                    )
        if state["Type"] == "Fail":
            for pred, _, _ in _predecessors(states, name):
                if not _escalates(states[pred]):
                    out.append(f"{where}{name}: Fail reached from {pred}, not an escalation")
        if state["Type"] in ("Task", "Map", "Parallel") and not (
            _escalates(state) or name in escalated
        ):
            out += _check_catch_all(states, name, where)
    for name, processor in _processors(states):
        out += _check_endings(processor, f"{where}{name}/", functions)
    return out


ERROR = "$.error"


def _keeps_error(result_path: Any, has_error: bool, result_has_error: bool = False) -> bool:
    """Whether `$.error` is set after a result is put at `result_path` (absent: `$`)."""
    if result_path is None:  # ResultPath null: the input passes on unchanged
        return has_error
    if result_path == "$":
        return result_has_error
    return True if result_path == ERROR else has_error


def _out_has_error(state: dict[str, Any], has_error: bool) -> bool:
    """Whether a state's output (its Next) holds `$.error`, given whether its input does."""
    if state.get("OutputPath", "$") != "$":
        return False
    kind = state["Type"]
    if kind in ("Choice", "Wait", "Succeed", "Fail"):
        return has_error
    result_path = state.get("ResultPath", "$")
    if kind == "Pass":
        result = state.get("Parameters", state.get("Result"))
        if result is None:  # a Pass without Parameters or Result passes its input on
            return has_error
        sets = isinstance(result, dict) and ("error" in result or "error.$" in result)
        return _keeps_error(result_path, has_error, sets)
    return _keeps_error(result_path, has_error)


def _error_set(graph: dict[str, Any]) -> dict[str, bool]:
    """For each state, whether every path into it has set `$.error` (a greatest fixed point:
    loops keep what their entries give)."""
    states = graph["States"]
    has = {name: name != graph["StartAt"] for name in states}
    changed = True
    while changed:
        changed = False
        for name, state in states.items():
            for target, _, kind in _edges(state):
                if target not in has or not has[target]:
                    continue
                if kind == "catch":
                    catch = next(c for c in state["Catch"] if c["Next"] == target)
                    gives = _keeps_error(catch.get("ResultPath", "$"), has[name])
                else:
                    gives = _out_has_error(state, has[name])
                if not gives:
                    has[target] = False
                    changed = True
    return has


def _check_causes(graph: dict[str, Any], where: str) -> list[str]:
    out = []
    states = graph["States"]
    has = _error_set(graph)
    for name, state in states.items():
        reads = " ".join(str(state.get(k, "")) for k in ("ErrorPath", "CausePath"))
        if state["Type"] == "Fail" and ERROR in reads and not has[name]:
            out.append(f"{where}{name}: reads {ERROR}, which a path into it does not set")
    first = states[graph["StartAt"]]
    for catch in first.get("Catch", []):
        if catch.get("ResultPath", "$") != "$":
            out.append(
                f"{where}{graph['StartAt']}: its Catch writes into the execution input "
                f"({catch.get('ResultPath')}), which fails when the input is not an object"
            )
    return out


def _pages(state: dict[str, Any], functions: dict[str, dict[str, Any]]) -> bool:
    """Whether a state hands the incident to people (rule 6)."""
    fn = function_of(state)
    if fn is not None and functions.get(fn, {}).get("pages"):
        return True  # pages on the severity's clock itself (the edge ladder's watch)
    if fn not in (ESCALATE_FUNCTION, "notify"):
        return False
    payload = _payload(state)
    if payload.get("severity") == "P4" and fn == ESCALATE_FUNCTION:
        return True  # P4's clock pages nobody: its ticket to ops is the page
    levels = payload.get("levels")
    if isinstance(levels, list):
        return bool(set(levels) & set(refusals.PAGE_LEVELS))
    if "levels.$" in payload:
        return False  # computed: cannot be shown to page
    outcome = payload.get("outcome")
    if fn == ESCALATE_FUNCTION and outcome == Outcome.SKIPPED_BY_GUARD.value:
        return True  # the escalation pages a refusal by the rule
    return bool(set(notify.LEVELS_FOR.get(str(outcome), ())) & set(refusals.PAGE_LEVELS))


def _exempt(rule: dict[str, Any] | None) -> bool:
    """A Choice branch taken only for a refusal the rule pages nobody about (rule 6)."""
    if rule is None:
        return False

    def quiet(r: dict[str, Any]) -> bool:
        var = str(r.get("Variable", ""))
        if "Or" in r:
            return all(quiet(sub) for sub in r["Or"])
        if "And" in r:
            return any(quiet(sub) for sub in r["And"])
        return (
            (var.endswith(".guard") and r.get("StringEquals") in refusals.UNPAGED)
            or (var.endswith(".waits") and r.get("BooleanEquals") is True)
            or (var.endswith(".pages") and r.get("BooleanEquals") is False)
        )

    return quiet(rule)


def _refusals(states: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """(where, first state, Choice rule) of every refusal: a Catch of GuardRefused, and a guard
    decision's proceed == false branch (its rule, for the exemptions)."""
    for name, state in states.items():
        for catch in state.get("Catch", []):
            if refusals.ERROR in catch["ErrorEquals"]:
                yield f"{name} (GuardRefused)", catch["Next"], None
        if _is_guard_decision(states, name):
            for rule in state.get("Choices", []):
                if any(
                    r.get("Variable") == "$.guard.proceed" and r.get("BooleanEquals") is False
                    for r in _rules(rule)
                ):
                    yield f"{name} (proceed false)", rule["Next"], rule


def _check_refusals(
    graph: dict[str, Any], functions: dict[str, dict[str, Any]], where: str
) -> list[str]:
    out = []
    states = graph["States"]
    for origin, start, rule in _refusals(states):
        if _exempt(rule):
            continue
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name in seen or name not in states:
                continue
            seen.add(name)
            state = states[name]
            if _pages(state, functions):
                continue
            if state["Type"] in ("Succeed", "Fail") or state.get("End"):
                out.append(
                    f"{where}{name}: a refusal ({origin}) ends here without a page: "
                    "the incident must stay open and page on its clock (refusals.py)"
                )
                continue
            todo += [to for to, r, kind in _edges(state) if kind != "catch" and not _exempt(r)]
    for name, processor in _processors(states):
        out += _check_refusals(processor, functions, f"{where}{name}/")
    return out


def violations(definition: dict[str, Any], functions: dict[str, dict[str, Any]]) -> list[str]:
    """Every way this workflow breaks the protocol; empty when it follows it."""
    problems = []
    first = definition["States"][definition["StartAt"]]
    if function_of(first) != CLAIM_FUNCTION:
        problems.append(f"{definition['StartAt']}: the first state must claim the incident")
    return (
        problems
        + _check_guarded(definition, functions, "")
        + _check_vocabulary(definition, "")
        + _check_endings(definition, "", functions)
        + _check_causes(definition, "")
        + _check_refusals(definition, functions, "")
    )
