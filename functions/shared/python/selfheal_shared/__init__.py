"""Shared library for selfheal remediators, deployed as a Lambda layer.

`core/` is what every domain uses and knows no domain: the remediator protocol, effects,
guards, audit, notifications, incidents, the client factory, the clock, settings, the
severity table and the refusal rule. One package per domain of automations (the stacks'
domains, the folder names under `functions/`) holds what only that domain knows.

Rules (`tests/contract/test_layer_imports.py`): core imports no domain; a domain imports
core, itself, and of another domain only what that domain lists in its `OFFERED` (its
package's `__init__.py`, each with why); a function in `functions/<domain>/` likewise; no
import cycle among the layer's modules. A package's `__init__.py` imports nothing, so
importing one module of a domain loads no other (cold start).
"""
