"""Credentials never leak: not in process arguments (ours or git's helpers), not in errors or logs.

Smart HTTP with basic auth stands in for https. ``GIT_TRACE`` records every process git itself starts
(``git-remote-http`` with its URL, ``ssh`` ...), so asserting on that file checks the whole process tree
deterministically; a sampler also reads ``/proc/*/cmdline`` while polls run.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest

from controller.gitops.credentials import Credentials, auth_environment
from controller.gitops.port import DeclaredRevision, GitErrorKind, GitReadError, RevertOutcome, RevertRequest
from controller.gitops.repository import GitRepositories
from tests.integration.gitops.conftest import NEW, OLD, PASSWORD, USERNAME, Fleet, Servers, new_repo

pytestmark = pytest.mark.integration


@pytest.fixture
def auth_fleet(servers: Servers) -> Fleet:
    path, name = new_repo(servers)
    return Fleet(path, servers.http_auth.url(name), name)


def sample_cmdlines(stop: threading.Event, seen: list[bytes]) -> None:
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    seen.append(Path(f"/proc/{pid}/cmdline").read_bytes())
                except OSError:
                    continue


def test_basic_auth_works_and_the_password_is_in_no_argv(
    auth_fleet: Fleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trace = tmp_path / "git-trace.log"
    repos = GitRepositories(tmp_path / "cache", ls_remote_max_age=0, extra_env={"GIT_TRACE": str(trace)})
    creds = Credentials.from_secret_data({"username": USERNAME.encode(), "password": PASSWORD.encode()})
    source = auth_fleet.source(credentials=creds)
    stop, seen = threading.Event(), list[bytes]()
    sampler = threading.Thread(target=sample_cmdlines, args=(stop, seen))
    sampler.start()
    try:
        with caplog.at_level(logging.DEBUG):
            results = [repos.declared(source) for _ in range(10)]
            first = results[0]
            assert isinstance(first, DeclaredRevision) and first.image == OLD
            request = RevertRequest("shop/podinfo", "ghcr.io/acme/podinfo:6.0.2", OLD, first.commit, "test")
            assert repos.write_revert(source, request).outcome is RevertOutcome.PUSHED
    finally:
        stop.set()
        sampler.join()
        repos.close()
    assert all(isinstance(r, DeclaredRevision) for r in results)
    traced = trace.read_text()
    assert "remote-http" in traced  # the trace did record git's helper processes
    assert PASSWORD not in traced
    assert all(PASSWORD not in " ".join(argv) for argv in repos.runner.argv_log)
    assert seen and all(PASSWORD.encode() not in cmdline for cmdline in seen)
    assert PASSWORD not in caplog.text


def test_token_secret_authenticates(servers: Servers, tmp_path: Path) -> None:
    path, name = new_repo(servers)
    repos = GitRepositories(tmp_path / "cache")
    creds = Credentials.from_secret_data({"username": USERNAME, "token": PASSWORD})
    try:
        result = repos.declared(Fleet(path, servers.http_auth.url(name), name).source(credentials=creds))
    finally:
        repos.close()
    assert isinstance(result, DeclaredRevision)


def test_missing_and_wrong_credentials_are_auth_errors_without_the_secret(
    auth_fleet: Fleet, adapter: GitRepositories
) -> None:
    missing = adapter.declared(auth_fleet.source())
    assert isinstance(missing, GitReadError) and missing.kind is GitErrorKind.AUTH

    wrong = adapter.declared(auth_fleet.source(credentials=Credentials(USERNAME, "wrong-" + PASSWORD)))
    assert isinstance(wrong, GitReadError) and wrong.kind is GitErrorKind.AUTH
    assert PASSWORD not in wrong.message


def test_userinfo_in_the_url_is_moved_out_of_argv_and_out_of_errors(
    servers: Servers, auth_fleet: Fleet, tmp_path: Path
) -> None:
    trace = tmp_path / "trace.log"
    repos = GitRepositories(tmp_path / "cache", extra_env={"GIT_TRACE": str(trace)})
    good_url = auth_fleet.url.replace("http://", f"http://{USERNAME}:{PASSWORD}@")
    bad_url = good_url.replace(auth_fleet.name, "absent.git").replace(PASSWORD, PASSWORD + "-bad")
    try:
        good = repos.declared(Fleet(auth_fleet.path, good_url, auth_fleet.name).source())
        bad = repos.declared(Fleet(auth_fleet.path, bad_url, "absent").source())
    finally:
        repos.close()
    assert isinstance(good, DeclaredRevision) and good.image == OLD
    assert isinstance(bad, GitReadError)
    assert PASSWORD not in bad.message and USERNAME not in bad.message
    assert PASSWORD not in trace.read_text()
    assert all(PASSWORD not in " ".join(argv) for argv in repos.runner.argv_log)


def test_ssh_requires_known_hosts(adapter: GitRepositories) -> None:
    source = Fleet(Path("/x"), "ssh://git@127.0.0.1:1/fleet.git", "x").source()
    result = adapter.declared(source)
    assert isinstance(result, GitReadError) and result.kind is GitErrorKind.CONFIG
    assert "known_hosts" in result.message

    with pytest.raises(ValueError, match="SSH needs known_hosts"):
        Credentials.from_secret_data({"identity": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"})


def test_ssh_key_goes_to_a_private_file_named_by_git_ssh_command(tmp_path: Path) -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3B-secret-material\n-----END OPENSSH PRIVATE KEY-----\n"
    creds = Credentials.from_secret_data({"identity": key, "known_hosts": "127.0.0.1 ssh-ed25519 AAAA\n"})
    with auth_environment("ssh://git@127.0.0.1:22/fleet.git", creds) as env:
        command = env["GIT_SSH_COMMAND"]
        key_file = Path(command.split(" -i ", 1)[1].split(" ", 1)[0])
        hosts_file = Path(command.split("UserKnownHostsFile=", 1)[1].split(" ", 1)[0])
        assert key_file.read_text() == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
        assert hosts_file.read_text().startswith("127.0.0.1 ssh-ed25519")
        assert "StrictHostKeyChecking=yes" in command and "secret-material" not in command
        assert all("secret-material" not in v for v in env.values())
    assert not key_file.exists() and not hosts_file.exists()


def test_ssh_failure_message_carries_no_key_material(adapter: GitRepositories) -> None:
    key = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-but-secret\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    creds = Credentials.from_secret_data({"identity": key, "known_hosts": "[127.0.0.1]:1 ssh-ed25519 AAAA\n"})
    result = adapter.declared(
        Fleet(Path("/x"), "ssh://git@127.0.0.1:1/fleet.git", "x").source(credentials=creds)
    )
    assert isinstance(result, GitReadError) and result.kind is GitErrorKind.UNREACHABLE
    assert "not-a-real-key" not in result.message


def test_credentials_repr_hides_the_secret() -> None:
    creds = Credentials(USERNAME, PASSWORD)
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds)
    assert repr(creds) == "Credentials(kind=basic)"
    assert NEW not in repr(creds)
