"""Whether a trained candidate replaces the serving forecast model (runbook 000 §3, E3).

The runbook evaluates a model by a backtest over the last 30 days whose answer "inclui:
MAPE, RMSE, acurácia por hora do dia", and retrains when "MAPE > 8% nos últimos 7 dias". It
names no promotion rule: no threshold per metric, no weighting, no margin. So the safe
default holds: the candidate is *better* only when, on the same 30 backtested days, no metric
is worse than the serving model's (MAPE not higher, RMSE not higher, accuracy not lower at
any hour of day) and at least one is better. A regression in any metric keeps the serving
model. Metrics are compared at the precision the record shows them (`Metrics.to_json`), so
what people read is what was compared. No I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from .forecast import BACKTEST_DAYS, Metrics

Verdict = Literal["better", "equal", "worse"]

RULE = (
    f"promote only when, on the {BACKTEST_DAYS}-day backtest, no metric is worse than the "
    "current model's (MAPE, RMSE, accuracy at each hour of day) and at least one is better"
)


def _verdict(candidate: float, current: float, *, lower_is_better: bool) -> Verdict:
    if candidate == current:
        return "equal"
    return "better" if (candidate < current) == lower_is_better else "worse"


@dataclass(frozen=True)
class Comparison:
    """Each runbook metric of both models on the same hours, and the candidate's verdict."""

    candidate: dict[str, Any]
    current: dict[str, Any]
    mape: Verdict
    rmse: Verdict
    accuracy: Verdict
    worse_at: tuple[int, ...]
    better_at: tuple[int, ...]

    @property
    def better(self) -> bool:
        verdicts = (self.mape, self.rmse, self.accuracy)
        return "worse" not in verdicts and "better" in verdicts

    def to_json(self) -> dict[str, Any]:
        """The verdicts (the values are the evaluation's `candidate` and `current`)."""
        return {
            "rule": RULE,
            "mape": {"verdict": self.mape},
            "rmse": {"verdict": self.rmse},
            "accuracyByHour": {
                "verdict": self.accuracy,
                "worseAt": list(self.worse_at),
                "betterAt": list(self.better_at),
            },
        }


def compare(candidate: Metrics, current: Metrics) -> Comparison:
    """Both models' metrics as recorded; an hour the current model is scored at and the
    candidate is not counts as worse (nothing shows the candidate is not worse there)."""
    cand, cur = candidate.to_json(), current.to_json()
    worse, better = [], []
    for hour, acc in cur["accuracyByHour"].items():
        mine = cand["accuracyByHour"].get(hour)
        if mine is None or mine < acc:
            worse.append(int(hour))
        elif mine > acc:
            better.append(int(hour))
    accuracy: Verdict = "worse" if worse else ("better" if better else "equal")
    return Comparison(
        candidate=cand,
        current=cur,
        mape=_verdict(cand["mape"], cur["mape"], lower_is_better=True),
        rmse=_verdict(cand["rmse"], cur["rmse"], lower_is_better=True),
        accuracy=accuracy,
        worse_at=tuple(sorted(worse)),
        better_at=tuple(sorted(better)),
    )


#: Hours named in the one-line text (a summary and a page truncate long reasons).
SHOWN_HOURS = 4


def span(accuracy: dict[str, float]) -> str:
    """The lowest and highest accuracy over the hours of day (each hour is in the record)."""
    values = list(accuracy.values())
    return f"{min(values):.2f}-{max(values):.2f} %" if values else "none"


def describe(c: Comparison) -> str:
    """The three metrics of both models in one line (candidate vs current)."""
    cand, cur = c.candidate, c.current
    text = (
        f"MAPE {cand['mape']:.2f} % vs {cur['mape']:.2f} %, "
        f"RMSE {cand['rmse']:.2f} kW vs {cur['rmse']:.2f} kW, "
        f"accuracy by hour of day {span(cand['accuracyByHour'])} vs "
        f"{span(cur['accuracyByHour'])}"
    )
    if c.worse_at:
        text += ", lower at " + ", ".join(
            f"{h:02d}h ({cand['accuracyByHour'].get(str(h), math.nan):.2f} % vs "
            f"{cur['accuracyByHour'][str(h)]:.2f} %)"
            for h in c.worse_at[:SHOWN_HOURS]
        )
        if len(c.worse_at) > SHOWN_HOURS:  # every hour is in the record
            text += f" and {len(c.worse_at) - SHOWN_HOURS} more hours"
    else:
        text += ", lower at no hour"
    return text


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    comparison: dict[str, Any] | None


def decide(candidate: Metrics, current: Metrics | None) -> Decision:
    """Promote only a candidate better than the serving model by `RULE` (see the module)."""
    if not math.isfinite(candidate.mape):
        return Decision(False, "candidate MAPE is undefined (held-back load is all zero)", None)
    if current is None:
        m = candidate.to_json()
        return Decision(
            True,
            f"no current model; candidate MAPE {m['mape']:.2f} %, RMSE {m['rmse']:.2f} kW, "
            f"accuracy by hour of day {span(m['accuracyByHour'])}",
            None,
        )
    c = compare(candidate, current)
    line = f"candidate vs current on the {BACKTEST_DAYS}-day backtest: {describe(c)}"
    if c.better:
        return Decision(True, f"candidate better, no metric worse; {line}", c.to_json())
    worse = []
    if c.mape == "worse":
        worse.append(f"worse MAPE ({c.candidate['mape']:.2f} % vs {c.current['mape']:.2f} %)")
    if c.rmse == "worse":
        worse.append(f"worse RMSE ({c.candidate['rmse']:.2f} kW vs {c.current['rmse']:.2f} kW)")
    if c.worse_at:
        worse.append(f"lower accuracy at {len(c.worse_at)} hour(s) of day")
    why = "; ".join(worse) if worse else "no metric better"
    return Decision(
        False,
        f"candidate not better: {why}; {line}; keeping the current model",
        c.to_json(),
    )
