"""The paging domain (`state_machines/domains/paging.json`): the page chain's watcher
workflow. The chain itself (`core/page_chain.py`) and the policies
(`core/escalation_policy.py`) are core: every domain pages through them."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {}
