"""Detection against real git (git daemon, smart HTTP, file://): reads, change detection, idle cost, errors.

Pins: an idle poll runs ``git ls-remote`` and nothing else; a pushed change is seen with the new commit
and image; several sources sharing a repository cost one ls-remote and one fetch per tick; every failure
is a GitReadError of the right kind, never an exception.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.gitops.port import DeclaredRevision, GitErrorKind, GitReadError
from controller.gitops.repository import GitRepositories
from sandbox.gitserver import commit_files
from tests.integration.gitops.conftest import (
    MANIFEST_PATH,
    NEW,
    OLD,
    Fleet,
    Servers,
    deployment,
    new_repo,
    push_files,
)

pytestmark = pytest.mark.integration


def test_pushed_change_is_detected_with_its_commit_and_image(
    fleet: Fleet, adapter: GitRepositories, tmp_path: Path
) -> None:
    first = adapter.declared(fleet.source())
    assert isinstance(first, DeclaredRevision) and first.image == OLD

    pushed = push_files(fleet.url, {MANIFEST_PATH: deployment(NEW)}, "podinfo 6.1.0", tmp_path)

    seen = adapter.declared(fleet.source())
    assert seen == DeclaredRevision(pushed, NEW)
    assert isinstance(seen, DeclaredRevision) and seen.pod_template is not None
    assert seen.pod_template["spec"]["containers"][0]["image"] == NEW


def test_idle_polls_run_ls_remote_only(fleet: Fleet, adapter: GitRepositories) -> None:
    assert isinstance(adapter.declared(fleet.source()), DeclaredRevision)
    adapter.runner.counts.clear()

    results = {adapter.declared(fleet.source()) for _ in range(25)}

    assert len(results) == 1
    assert dict(adapter.runner.counts) == {"ls-remote": 25}


def test_a_change_costs_one_fetch(fleet: Fleet, adapter: GitRepositories, tmp_path: Path) -> None:
    adapter.declared(fleet.source())
    push_files(fleet.url, {MANIFEST_PATH: deployment(NEW)}, "bump", tmp_path)
    adapter.runner.counts.clear()

    for _ in range(3):
        adapter.declared(fleet.source())

    assert adapter.runner.counts["fetch"] == 1
    assert adapter.runner.counts["ls-remote"] == 3


def test_sources_sharing_a_repository_share_one_ls_remote_and_one_fetch_per_tick(
    servers: Servers, tmp_path: Path
) -> None:
    files = {
        "apps/podinfo/deployment.yaml": deployment(OLD),
        "apps/cart/deployment.yaml": deployment(OLD).replace("podinfo", "cart"),
        "apps/web/kustomization.yaml": "images:\n- name: ghcr.io/acme/web\n  newTag: 1.0.0\n",
    }
    path, name = new_repo(servers, files)
    url = servers.daemon.url(name)
    now = [0.0]
    repos = GitRepositories(tmp_path / "cache", ls_remote_max_age=1.0, clock=lambda: now[0])
    sources = [
        Fleet(path, url, name).source(),
        Fleet(path, url, name).source(path="apps/cart/deployment.yaml", target="cart"),
        Fleet(path, url, name).source(path="apps/web/kustomization.yaml", target="web"),
    ]
    try:
        assert all(isinstance(repos.declared(s), DeclaredRevision) for s in sources)
        commit_files(
            path,
            {
                "apps/podinfo/deployment.yaml": deployment(NEW),
                "apps/cart/deployment.yaml": deployment(NEW).replace("podinfo", "cart"),
                "apps/web/kustomization.yaml": "images:\n- name: ghcr.io/acme/web\n  newTag: 1.1.0\n",
            },
            "release all",
        )
        now[0] += 5.0  # the next tick
        repos.runner.counts.clear()

        seen = [repos.declared(s) for s in sources]

        assert [d.image for d in seen if isinstance(d, DeclaredRevision)] == [
            NEW,
            NEW.replace("podinfo", "cart"),
            "ghcr.io/acme/web:1.1.0",
        ]
        assert repos.runner.counts["ls-remote"] == 1
        assert repos.runner.counts["fetch"] == 1
    finally:
        repos.close()


def test_refresh_bypasses_the_ls_remote_cache(daemon_fleet: Fleet, tmp_path: Path) -> None:
    repos = GitRepositories(tmp_path / "cache", ls_remote_max_age=3600.0)
    try:
        assert isinstance(repos.declared(daemon_fleet.source()), DeclaredRevision)
        pushed = push_files(daemon_fleet.url, {MANIFEST_PATH: deployment(NEW)}, "bump", tmp_path)
        stale = repos.declared(daemon_fleet.source())
        assert isinstance(stale, DeclaredRevision) and stale.image == OLD  # within the cache window

        repos.refresh(daemon_fleet.url)

        assert repos.declared(daemon_fleet.source()) == DeclaredRevision(pushed, NEW)
    finally:
        repos.close()


def test_missing_branch_file_and_target_are_read_errors(fleet: Fleet, adapter: GitRepositories) -> None:
    branch = adapter.declared(fleet.source(branch="release"))
    assert isinstance(branch, GitReadError) and branch.kind is GitErrorKind.NOT_FOUND
    assert "branch release not found" in branch.message

    missing = adapter.declared(fleet.source(path="apps/none/deployment.yaml"))
    assert isinstance(missing, GitReadError) and missing.kind is GitErrorKind.NOT_FOUND
    assert missing.message.startswith("apps/none/deployment.yaml: no such file at ")

    target = adapter.declared(fleet.source(target="checkout"))
    assert target == GitReadError(
        GitErrorKind.MANIFEST, "apps/podinfo/deployment.yaml: no Deployment named checkout (found: podinfo)"
    )


def test_unparsable_file_is_a_manifest_error(daemon_fleet: Fleet, adapter: GitRepositories) -> None:
    commit_files(
        daemon_fleet.path, {MANIFEST_PATH: "kind: Deployment\nmetadata: {name: [podinfo\n"}, "broken"
    )
    result = adapter.declared(daemon_fleet.source())
    assert isinstance(result, GitReadError) and result.kind is GitErrorKind.MANIFEST
    assert result.message.startswith(f"{MANIFEST_PATH}: not valid YAML")


def test_missing_repository_and_refused_connection(servers: Servers, adapter: GitRepositories) -> None:
    absent = adapter.declared(Fleet(Path("/x"), servers.daemon.url("absent.git"), "absent").source())
    assert isinstance(absent, GitReadError) and absent.kind is GitErrorKind.NOT_FOUND

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    refused = adapter.declared(Fleet(Path("/x"), f"git://127.0.0.1:{closed_port}/fleet.git", "x").source())
    assert isinstance(refused, GitReadError) and refused.kind is GitErrorKind.UNREACHABLE


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_a_server_that_never_answers_is_a_timeout(silent_server: int, tmp_path: Path) -> None:
    repos = GitRepositories(tmp_path / "cache", timeout=1.0)
    try:
        result = repos.declared(Fleet(Path("/x"), f"git://127.0.0.1:{silent_server}/f.git", "f").source())
        assert isinstance(result, GitReadError) and result.kind is GitErrorKind.TIMEOUT
        assert "timed out" in result.message
    finally:
        repos.close()


def test_unsupported_url_is_a_source_error(adapter: GitRepositories) -> None:
    result = adapter.declared(Fleet(Path("/x"), "ext::sh -c evil", "x").source())
    assert isinstance(result, GitReadError) and result.kind is GitErrorKind.CONFIG
