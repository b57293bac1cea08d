"""Which model of each side is scored on the 30-day backtest, and why that is fair.

Runbook 000 §3 compares the candidate with the serving model by "Backtesting nos últimos 30
dias". A model scored on hours it was fitted on is flattered, so both are scored out of
sample, on the same 30 days, by a model that saw nothing of them:

- the candidate: its `backtest.json`, fitted on its window less those 30 days (the
  training job writes it; `forecast_train`). What serves if promoted is its `model.json`,
  the same model type refit on the whole window: it has seen the 30 days, so it cannot be
  backtested on them and is never claimed to be; `refit_problem` checks it is that refit.
- the serving model: its `model.json` itself when it was fitted before the 30 days (what
  serves is what is scored); otherwise the same model type refit on its own training data
  that precede them, i.e. exactly what its training job would have backtested now. Its
  old `backtest.json` is not used: it was cut 30 days before *its* training, staler than
  the candidate's, which would bias the comparison the other way.
No I/O: the caller passes how to read the actuals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .forecast import BACKTEST_MEMBER, MODEL_MEMBER, Model, Series, fit


def window(model: Model) -> tuple[datetime, datetime]:
    """[from, to) of the hours the model was fitted on."""
    return datetime.fromisoformat(model.trainedFrom), datetime.fromisoformat(model.trainedTo)


def out_of_sample(
    model: Model, cut: datetime, load: Callable[[datetime, datetime], Series]
) -> tuple[Model, bool]:
    """(the model to score on the hours from `cut`, whether it is a refit). `load(a, b)`
    reads the actuals in [a, b)."""
    start, end = window(model)
    if end <= cut:
        return model, False
    before = load(start, cut)
    if not before:
        raise ValueError(
            f"the serving model was fitted on {model.trainedFrom} to {model.trainedTo}, "
            f"overlapping the backtest from {cut.isoformat()}, and no actuals precede it "
            "to refit it on: it cannot be scored out of sample"
        )
    return fit(before, model.modelType, model.timezone), True


def refit_problem(served: Model, scored: Model, cut: datetime) -> str | None:
    """Why the candidate's `model.json` is not its `backtest.json` refit on the whole
    window (same type and time zone, same start, fitted before `cut` vs past it), or None."""
    problems = []
    if (served.modelType, served.timezone) != (scored.modelType, scored.timezone):
        problems.append(
            f"{MODEL_MEMBER} is {served.modelType} ({served.timezone}), {BACKTEST_MEMBER} "
            f"is {scored.modelType} ({scored.timezone})"
        )
    (s_from, s_to), (b_from, b_to) = window(served), window(scored)
    if s_from != b_from:
        problems.append(f"they start at {served.trainedFrom} and {scored.trainedFrom}")
    if b_to > cut:
        problems.append(f"{BACKTEST_MEMBER} was fitted past {cut.isoformat()}")
    if s_to <= b_to:
        problems.append(f"{MODEL_MEMBER} was fitted on no more than {BACKTEST_MEMBER}")
    return "; ".join(problems) or None


def describe(model: Model, member: str) -> dict[str, Any]:
    """What the record says of a model: which file, which type, fitted on which hours."""
    return {
        "member": member,
        "modelType": model.modelType,
        "trainedFrom": model.trainedFrom,
        "trainedTo": model.trainedTo,
        "points": model.points,
    }


def short(model: Model, member: str) -> str:
    """One line for a registry metadata value (256 characters at most)."""
    return f"{member} {model.modelType} fitted {model.trainedFrom} to {model.trainedTo}"
