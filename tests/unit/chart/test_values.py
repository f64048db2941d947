"""values.yaml is documentation: every value has a comment, every value is declared in
values.schema.json (so helm validates it) and every schema property has a default in values.yaml.
The chart's appVersion is the controller's version, and the CRDs' source is named for readers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from controller import __version__
from tests.unit.chart.helm import CHART

VALUES_TEXT = (CHART / "values.yaml").read_text()
VALUES: dict[str, Any] = yaml.safe_load(VALUES_TEXT)
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
# Values whose content is a Kubernetes type documented by Kubernetes: their own key is commented,
# the fields inside (requests.cpu, ...) are not repeated.
KUBERNETES_TYPED = {"resources"}
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):")


def value_paths(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every key in values.yaml, leaves and mappings alike."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict) and key not in KUBERNETES_TYPED:
            yield from value_paths(value, f"{path}.")


def schema_paths(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Dotted paths of every property the schema declares, with its schema."""
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, sub
        if key not in KUBERNETES_TYPED:
            yield from schema_paths(sub, f"{path}.")


def commented_keys() -> dict[str, bool]:
    """For each key line of values.yaml: its dotted path -> whether a comment line is right above it."""
    out: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in VALUES_TEXT.splitlines():
        match = KEY.match(line)
        if match:
            indent = len(match["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match["key"]))
            out[".".join(k for _, k in stack)] = previous.strip().startswith("#")
        previous = line
    return out


def test_every_value_is_declared_in_the_schema() -> None:
    declared = {path for path, _ in schema_paths(SCHEMA)}
    undeclared = sorted(set(value_paths(VALUES)) - declared)
    assert not undeclared, f"values.yaml keys missing from values.schema.json: {undeclared}"


def test_every_schema_property_has_a_default_in_values_yaml_and_a_description() -> None:
    present = set(value_paths(VALUES))
    missing = sorted(p for p, _ in schema_paths(SCHEMA) if p not in present and p != "global")
    assert not missing, f"schema properties without a documented default in values.yaml: {missing}"
    undescribed = sorted(
        p for p, s in schema_paths(SCHEMA) if "description" not in s and not p.startswith("resources.")
    )
    assert not undescribed, f"schema properties without a description: {undescribed}"


def test_every_value_has_a_comment_right_above_it() -> None:
    keys = commented_keys()
    assert set(keys) >= {p for p in value_paths(VALUES)}, "the line parser missed keys of values.yaml"
    leaves = [
        p
        for p in value_paths(VALUES)
        if not isinstance(lookup(p), dict) or not lookup(p) or p in KUBERNETES_TYPED
    ]
    undocumented = sorted(p for p in leaves if not keys[p])
    assert not undocumented, f"values.yaml values without a comment: {undocumented}"
    assert len(leaves) > 40


def lookup(path: str) -> Any:
    node: Any = VALUES
    for part in path.split("."):
        node = node[part]
    return node


def test_the_schema_refuses_unknown_keys_everywhere() -> None:
    """A misspelt value (replicacount, leaderElection.enable) must fail, not be silently ignored."""
    open_objects = sorted(
        p
        for p, s in schema_paths(SCHEMA)
        if s.get("type") == "object" and "properties" in s and s.get("additionalProperties") is not False
    )
    assert SCHEMA["additionalProperties"] is False
    assert not open_objects, f"schema objects accepting unknown keys: {open_objects}"


def test_app_version_is_the_controller_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == __version__ == "0.1.0"


def test_values_and_readme_say_the_crds_source_is_the_repository_crds_directory() -> None:
    assert "crds/" in VALUES_TEXT.split("\n\n")[0]
    readme = (CHART / "README.md").read_text()
    assert "byte-identical" in readme and "crds/" in readme
