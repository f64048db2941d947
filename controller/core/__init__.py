"""The pure core: spec model, parsing, step weights, the run's state machine and its actions.

Nothing here does I/O or imports kopf, kubernetes, git, requests or prometheus_api_client; the
import-linter contracts in ``pyproject.toml`` enforce it.
"""
