"""Bounded resources over a long life: no growth of open files or child processes.

1,000 idle polls (over file://, where a poll costs ~9 ms; a git:// round trip to ``git daemon`` costs
~50 ms here, so that transport gets 100) and many change-and-read cycles (which open GitPython
repositories) must leave the number of open file descriptors and of child processes unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.gitops.port import DeclaredRevision
from controller.gitops.repository import GitRepositories
from sandbox.gitserver import commit_files
from tests.integration.gitops.conftest import MANIFEST_PATH, Fleet, Servers, deployment, new_repo, url_for

pytestmark = pytest.mark.integration


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def child_processes() -> int:
    me = str(os.getpid())
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                count += 1
    return count


@pytest.mark.parametrize(("transport", "polls"), [("file", 1000), ("git", 100)])
def test_idle_polls_leak_nothing(
    servers: Servers, adapter: GitRepositories, transport: str, polls: int
) -> None:
    _, name = new_repo(servers)
    source = Fleet(servers.base / name, url_for(servers, transport, name), name).source()
    assert isinstance(adapter.declared(source), DeclaredRevision)
    fds, children = open_fds(), child_processes()
    adapter.runner.counts.clear()

    for _ in range(polls):
        adapter.declared(source)

    assert dict(adapter.runner.counts) == {"ls-remote": polls}
    assert open_fds() == fds
    assert child_processes() == children


def test_reads_after_changes_close_their_repositories(daemon_fleet: Fleet, adapter: GitRepositories) -> None:
    assert isinstance(adapter.declared(daemon_fleet.source()), DeclaredRevision)
    fds, children = open_fds(), child_processes()

    for n in range(20):
        commit_files(
            daemon_fleet.path, {MANIFEST_PATH: deployment(f"ghcr.io/acme/podinfo:7.0.{n}")}, f"7.0.{n}"
        )
        seen = adapter.declared(daemon_fleet.source())
        assert isinstance(seen, DeclaredRevision) and seen.image == f"ghcr.io/acme/podinfo:7.0.{n}"

    assert adapter.runner.counts["fetch"] == 21
    assert open_fds() == fds
    assert child_processes() == children
