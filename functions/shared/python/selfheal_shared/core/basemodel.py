"""The base of the shared pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose validator is built on first use, not at import
    (`defer_build`): a handler imports modules of a dozen models and validates one or two,
    and each build costs about a millisecond of cold start. Validation is unchanged."""

    model_config = ConfigDict(defer_build=True)
