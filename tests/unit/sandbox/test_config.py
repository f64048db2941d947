"""The sandbox image table: lookups, command rendering and clear errors for bad files.

Pins: exact entries win over ``<repository>:*``; settings and built-in placeholders render into the
command; an unknown image names itself, the config file and the known images; malformed files are
rejected naming the entry; the bundled ``sandbox/images.yaml`` is valid and gives 1.2.0 a 20% error rate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sandbox.config import (
    ImageNotConfigured,
    SandboxConfigError,
    load_sandbox_config,
    parse_sandbox_config,
    split_image,
)

DOC = {
    "commands": {
        "demo": ["{python}", "-m", "demo", "--port", "{port}", "--version", "{tag}", "--err", "{error_rate}"]
    },
    "images": {
        "ghcr.io/acme/podinfo:6.0.3": {"command": "demo", "error_rate": 0.5},
        "ghcr.io/acme/podinfo:*": {"command": "demo", "error_rate": 0, "readiness_path": "/readyz"},
    },
}


def test_exact_entry_wins_then_repository_wildcard() -> None:
    config = parse_sandbox_config(DOC, "images.yaml")
    exact = config.resolve("ghcr.io/acme/podinfo:6.0.3")
    assert exact.argv("ghcr.io/acme/podinfo:6.0.3", 4100) == [
        sys.executable, "-m", "demo", "--port", "4100", "--version", "6.0.3", "--err", "0.5",
    ]  # fmt: skip
    wildcard = config.resolve("ghcr.io/acme/podinfo:6.1.0")
    assert wildcard.argv("ghcr.io/acme/podinfo:6.1.0", 1)[-3:] == ["6.1.0", "--err", "0"]
    assert wildcard.readiness_path == "/readyz"


def test_unknown_image_error_names_image_file_and_known_images() -> None:
    config = parse_sandbox_config(DOC, "images.yaml")
    with pytest.raises(ImageNotConfigured) as exc:
        config.resolve("docker.io/library/nginx:1.27")
    text = str(exc.value)
    assert (
        "'docker.io/library/nginx:1.27'" in text
        and "images.yaml" in text
        and "ghcr.io/acme/podinfo:*" in text
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a mapping"),
        ({"images": {}}, "'images' must map at least one image"),
        ({"images": {"a:1": {"command": "nope"}}}, "command 'nope' is not defined"),
        (
            {"commands": {"c": ["x", "{missing}"]}, "images": {"a:1": {"command": "c"}}},
            "no setting 'missing'",
        ),
        (
            {"commands": {"c": "x"}, "images": {"a:1": {"command": "c"}}},
            "commands.c must be a non-empty list",
        ),
        ({"images": {"a:1": {"command": ["x"], "readiness_path": "healthz"}}}, "readiness_path"),
    ],
)
def test_malformed_config_is_rejected_naming_the_entry(doc: object, message: str) -> None:
    with pytest.raises(SandboxConfigError, match=r"cfg\.yaml") as exc:
        parse_sandbox_config(doc, "cfg.yaml")
    assert message in str(exc.value)


def test_unreadable_or_invalid_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(SandboxConfigError, match="cannot read"):
        load_sandbox_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("images: [unclosed")
    with pytest.raises(SandboxConfigError, match="not valid YAML"):
        load_sandbox_config(bad)


def test_bundled_image_table_is_valid() -> None:
    config = load_sandbox_config()
    faulty = config.resolve("demo/podinfo:1.2.0")
    assert faulty.settings["error_rate"] == 0.2
    argv = faulty.argv("demo/podinfo:1.2.0", 4200)
    assert argv[1:3] == ["-m", "sandbox.demoapp"] and "--error-rate" in argv
    assert config.resolve("demo/podinfo:1.1.0").settings["error_rate"] == 0


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("demo/podinfo:1.0.0", ("demo/podinfo", "1.0.0")),
        ("localhost:5000/podinfo", ("localhost:5000/podinfo", "latest")),
        ("localhost:5000/podinfo:2", ("localhost:5000/podinfo", "2")),
        ("ghcr.io/a/b@sha256:abc", ("ghcr.io/a/b", "sha256:abc")),
    ],
)
def test_split_image(image: str, expected: tuple[str, str]) -> None:
    assert split_image(image) == expected
