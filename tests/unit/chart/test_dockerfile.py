"""The controller image's Dockerfile: the base, a numeric non-root user, git and ssh for revert
commits, `pip install` of the project, no secrets, and an entrypoint that is the chart's command.

No container engine runs here, so the Dockerfile is checked by reading its instructions.
"""

from __future__ import annotations

import re
import shlex

import pytest

from tests.unit.chart.helm import ROOT, controller_container, one, render

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    out = []
    for line in logical:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that runs)."""
    steps = instructions()
    starts = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return steps[starts[-1] :]


def exec_form(text: str) -> list[str]:
    """A JSON-array (exec form) ENTRYPOINT/CMD; shell form would run through /bin/sh."""
    assert text.startswith("[") and text.endswith("]"), f"use the exec form, not {text!r}"
    return [shlex.split(part)[0] for part in text[1:-1].split(",")]


def test_every_stage_builds_on_python_311_slim() -> None:
    bases = [args.split()[0] for word, args in instructions() if word == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = [args for word, args in final_stage() if word == "USER"]
    assert users, "the final stage never sets USER: the controller would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) > 0, f"USER {users[-1]}: must be a non-zero numeric uid"
    assert not group or (group.isdigit() and int(group) > 0)
    # The chart's default runAsUser is the image's user, so both agree on who owns the cache.
    assert one_pod_user() == int(user)


def one_pod_user() -> int:
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    uid: int = pod["securityContext"]["runAsUser"]
    return uid


def test_git_and_ssh_are_installed_and_the_project_is_pip_installed() -> None:
    runs = " ".join(args for word, args in final_stage() if word == "RUN")
    assert re.search(r"apt-get install\b[^&]*\bgit\b", runs), "git is needed to write revert commits"
    assert re.search(r"apt-get install\b[^&]*\bopenssh-client\b", runs), "ssh remotes need openssh-client"
    assert "rm -rf /var/lib/apt/lists" in runs, "apt lists left in the image"
    every_run = " ".join(args for word, args in instructions() if word == "RUN")
    assert re.search(r"\bpip (install|wheel)\b[^&]* \.(\s|$)", every_run), "the project is not pip-installed"
    assert re.search(r"\bpip install\b", runs), "the runtime stage does not install the package"


def test_entrypoint_and_cmd_are_the_charts_command() -> None:
    stage = final_stage()
    entrypoint = [args for word, args in stage if word == "ENTRYPOINT"]
    cmd = [args for word, args in stage if word == "CMD"]
    assert entrypoint and cmd
    assert exec_form(entrypoint[-1]) == ["serinus"]
    assert exec_form(cmd[-1]) == ["run"]
    container = controller_container(render())
    assert container["command"] == exec_form(entrypoint[-1])
    assert container["args"][0] == exec_form(cmd[-1])[0]


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?i)\b(password|passwd|token|secret|api[_-]?key)\s*=",
        r"(?i)-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"(?i)\bARG\s+\w*(PASSWORD|TOKEN|SECRET)\w*",
        r"(?i)\bENV\s+\w*(PASSWORD|TOKEN|SECRET)\w*",
    ],
)
def test_no_secret_is_baked_into_the_image(pattern: str) -> None:
    assert not re.search(pattern, DOCKERFILE.read_text()), f"the Dockerfile matches {pattern}"


def test_only_the_package_sources_reach_the_build_context() -> None:
    """The .dockerignore starts from nothing, so .git, .venv, kubeconfigs or keys never enter the build."""
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "controller", "analysis", "sandbox"}
    # COPY SRC... DEST from the build context: every word but the last is a source path.
    copied = {
        part.removeprefix("./").rstrip("/")
        for word, args in instructions()
        if word == "COPY" and "--from" not in args
        for part in args.split()[:-1]
    }
    assert copied <= allowed, f"COPY of paths the .dockerignore excludes: {sorted(copied - allowed)}"
