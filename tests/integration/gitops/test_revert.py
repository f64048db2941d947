"""Revert commits against real git: the diff, the message, races, supersession, restarts, contention.

Pins: the revert's diff is exactly the image line; a push racing the revert makes the adapter fetch,
re-apply on the new tip and land without losing the other commit; a tip declaring another image gets
no revert; a new adapter instance (a restarted controller) never writes a second revert for the run,
whether it died before or after the push; no history is ever rewritten; a server-side refusal fails fast.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from controller.gitops.gitcli import GitOutput, GitRunner
from controller.gitops.port import DeclaredRevision, GitSource, RevertOutcome, RevertRequest
from controller.gitops.repository import GitRepositories
from sandbox.gitserver import commit_files, read_file
from tests.integration.gitops.conftest import (
    MANIFEST_PATH,
    NEW,
    OLD,
    Fleet,
    deployment,
    git,
    push_files,
)

pytestmark = pytest.mark.integration


def request_for(failed_commit: str, **overrides: Any) -> RevertRequest:
    fields: dict[str, Any] = {
        "canary": "shop/podinfo",
        "to_image": OLD,
        "failed_image": NEW,
        "reverts": failed_commit,
        "metric": "request-success-rate",
        "value": "97.2",
        "threshold_range": "{min: 99}",
    }
    fields.update(overrides)
    return RevertRequest(**fields)


def release_new(fleet: Fleet, adapter: GitRepositories) -> str:
    """Commit the new image (as a developer would) and have the adapter see it; returns the commit."""
    commit_files(fleet.path, {MANIFEST_PATH: deployment(NEW)}, "podinfo 6.1.0")
    seen = adapter.declared(fleet.source())
    assert isinstance(seen, DeclaredRevision) and seen.image == NEW
    return seen.commit


def branch_log(fleet: Fleet) -> list[str]:
    return git("-C", str(fleet.path), "rev-list", "refs/heads/main").splitlines()


def intercept(runner: GitRunner, subcommand: str, action: Callable[[int], None]) -> None:
    """Call ``action(n)`` before the n-th (1-based) invocation of ``subcommand`` through ``runner``."""
    original = runner.run
    seen = [0]

    def run(args: Sequence[str], **kwargs: Any) -> GitOutput:
        if subcommand in args:
            seen[0] += 1
            action(seen[0])
        return original(args, **kwargs)

    runner.run = run  # type: ignore[method-assign]


def test_revert_diff_is_exactly_the_image_line_with_message_and_trailers(
    fleet: Fleet, adapter: GitRepositories
) -> None:
    failed = release_new(fleet, adapter)
    before = read_file(fleet.path, MANIFEST_PATH)

    result = adapter.write_revert(fleet.source(), request_for(failed))

    assert result.outcome is RevertOutcome.PUSHED and result.attempts == 1
    assert git("-C", str(fleet.path), "rev-parse", "refs/heads/main") == result.commit
    after = read_file(fleet.path, MANIFEST_PATH)
    assert after == before.replace(NEW, OLD)
    diff = git("-C", str(fleet.path), "diff", "--unified=0", f"{failed}..{result.commit}")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == [
        f'-          image: {NEW} # {{"$imagepolicy": "flux-system:podinfo"}}',
        f'+          image: {OLD} # {{"$imagepolicy": "flux-system:podinfo"}}',
    ]
    message = git("-C", str(fleet.path), "log", "-1", "--format=%B", result.commit)
    assert message.splitlines()[0] == f"serinus: revert shop/podinfo to {OLD}"
    assert f"canary run of {NEW} (commit {failed}) failed: metric request-success-rate = 97.2" in message
    assert "{min: 99}" in message
    assert message.endswith(f"Serinus-Canary: shop/podinfo\nSerinus-Reverts: {failed}")
    trailers = git("-C", str(fleet.path), "log", "-1", "--format=%(trailers:key=Serinus-Reverts,valueonly)")
    assert trailers == failed
    assert git("-C", str(fleet.path), "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Serinus <serinus@serinus.dev>|Serinus <serinus@serinus.dev>"
    )
    assert git("-C", str(fleet.path), "rev-parse", f"{result.commit}^") == failed


def test_author_is_configurable_per_request(daemon_fleet: Fleet, adapter: GitRepositories) -> None:
    from controller.gitops.port import GitIdentity

    failed = release_new(daemon_fleet, adapter)
    who = GitIdentity("Release Bot", "release@acme.test")
    result = adapter.write_revert(daemon_fleet.source(), request_for(failed, author=who))
    assert result.outcome is RevertOutcome.PUSHED, result.message
    assert (
        git("-C", str(daemon_fleet.path), "log", "-1", "--format=%an <%ae>")
        == "Release Bot <release@acme.test>"
    )


def test_a_push_racing_the_revert_is_kept_and_the_revert_lands_on_the_new_tip(
    fleet: Fleet, adapter: GitRepositories, tmp_path: Path
) -> None:
    failed = release_new(fleet, adapter)
    racer: list[str] = []

    def race(n: int) -> None:
        if n == 1:  # just before the adapter's first push, someone else pushes
            racer.append(push_files(fleet.url, {"README.md": "fleet\n"}, "docs", tmp_path))

    intercept(adapter.runner, "push", race)

    result = adapter.write_revert(fleet.source(), request_for(failed))

    assert result.outcome is RevertOutcome.PUSHED and result.attempts == 2
    assert (
        git("-C", str(fleet.path), "rev-parse", f"{result.commit}^") == racer[0]
    )  # re-applied on the new tip
    assert read_file(fleet.path, "README.md") == "fleet\n"
    assert read_file(fleet.path, MANIFEST_PATH) == deployment(OLD)
    assert branch_log(fleet)[:3] == [result.commit, racer[0], failed]


def test_tip_declaring_another_image_gets_no_revert(daemon_fleet: Fleet, adapter: GitRepositories) -> None:
    failed = release_new(daemon_fleet, adapter)
    newer = commit_files(
        daemon_fleet.path, {MANIFEST_PATH: deployment("ghcr.io/acme/podinfo:6.2.0")}, "6.2.0"
    )

    result = adapter.write_revert(daemon_fleet.source(), request_for(failed))

    assert result.outcome is RevertOutcome.SUPERSEDED
    assert (result.tip_commit, result.tip_image) == (newer, "ghcr.io/acme/podinfo:6.2.0")
    assert branch_log(daemon_fleet)[0] == newer
    assert adapter.runner.counts["push"] == 0


def test_newer_image_pushed_during_the_revert_wins(
    daemon_fleet: Fleet, adapter: GitRepositories, tmp_path: Path
) -> None:
    failed = release_new(daemon_fleet, adapter)
    newer: list[str] = []

    def race(n: int) -> None:
        if n == 1:
            newer.append(
                push_files(
                    daemon_fleet.url,
                    {MANIFEST_PATH: deployment("ghcr.io/acme/podinfo:6.2.0")},
                    "6.2.0",
                    tmp_path,
                )
            )

    intercept(adapter.runner, "push", race)

    result = adapter.write_revert(daemon_fleet.source(), request_for(failed))

    assert result.outcome is RevertOutcome.SUPERSEDED and result.tip_commit == newer[0]
    assert branch_log(daemon_fleet)[0] == newer[0]


def test_a_restarted_controller_finds_the_pushed_revert(daemon_fleet: Fleet, tmp_path: Path) -> None:
    """Killed after the push, before the status write: the next instance must not revert twice."""
    first = GitRepositories(tmp_path / "cache-a", backoff=0.01)
    failed = release_new(daemon_fleet, first)
    pushed = first.write_revert(daemon_fleet.source(), request_for(failed))
    first.close()
    assert pushed.outcome is RevertOutcome.PUSHED
    commits = branch_log(daemon_fleet)

    for cache in ("cache-a", "cache-b"):  # same cache dir, and a fresh one
        restarted = GitRepositories(tmp_path / cache, backoff=0.01)
        again = restarted.write_revert(daemon_fleet.source(), request_for(failed))
        restarted.close()
        assert again.outcome is RevertOutcome.ALREADY_PRESENT and again.commit == pushed.commit
    assert branch_log(daemon_fleet) == commits


def test_killed_between_commit_and_push_yields_exactly_one_revert(
    daemon_fleet: Fleet, tmp_path: Path
) -> None:
    class Killed(BaseException):
        pass

    first = GitRepositories(tmp_path / "cache", backoff=0.01)
    failed = release_new(daemon_fleet, first)

    def die(_: int) -> None:
        raise Killed

    intercept(first.runner, "push", die)
    with pytest.raises(Killed):
        first.write_revert(daemon_fleet.source(), request_for(failed))
    first.close()
    assert branch_log(daemon_fleet)[0] == failed  # the local commit never reached the server

    restarted = GitRepositories(tmp_path / "cache", backoff=0.01)
    result = restarted.write_revert(daemon_fleet.source(), request_for(failed))
    again = restarted.write_revert(daemon_fleet.source(), request_for(failed))
    restarted.close()

    assert result.outcome is RevertOutcome.PUSHED, result.message
    assert again.outcome is RevertOutcome.ALREADY_PRESENT and again.commit == result.commit
    reverts = git("-C", str(daemon_fleet.path), "log", "--format=%H", "--grep=Serinus-Reverts: " + failed)
    assert reverts.splitlines() == [result.commit]


def test_revert_is_per_run(daemon_fleet: Fleet, adapter: GitRepositories) -> None:
    """Another run (the failed image re-declared by a later commit) gets its own revert."""
    failed = release_new(daemon_fleet, adapter)
    first = adapter.write_revert(daemon_fleet.source(), request_for(failed))
    again = release_new(daemon_fleet, adapter)  # e.g. an image updater pushing the same tag back
    second = adapter.write_revert(daemon_fleet.source(), request_for(again))
    assert first.outcome is second.outcome is RevertOutcome.PUSHED
    assert first.commit != second.commit
    assert read_file(daemon_fleet.path, MANIFEST_PATH) == deployment(OLD)


def test_server_refusal_fails_without_retrying(daemon_fleet: Fleet, adapter: GitRepositories) -> None:
    failed = release_new(daemon_fleet, adapter)
    hook = daemon_fleet.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)

    result = adapter.write_revert(daemon_fleet.source(), request_for(failed))

    assert result.outcome is RevertOutcome.FAILED and result.attempts == 1
    assert "refused" in result.message
    assert branch_log(daemon_fleet)[0] == failed


def test_bounded_retries_when_every_push_is_rejected(daemon_fleet: Fleet, tmp_path: Path) -> None:
    sleeps: list[float] = []
    repos = GitRepositories(tmp_path / "cache", push_attempts=3, backoff=0.05, sleep=sleeps.append)
    failed = release_new(daemon_fleet, repos)

    def race(n: int) -> None:
        commit_files(daemon_fleet.path, {"NOTES.md": f"note {n}\n"}, f"note {n}")

    intercept(repos.runner, "push", race)
    result = repos.write_revert(daemon_fleet.source(), request_for(failed))
    repos.close()

    assert result.outcome is RevertOutcome.FAILED and result.attempts == 3
    assert "gave up after 3 attempts" in result.message
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.9  # growing backoff between attempts
    assert read_file(daemon_fleet.path, MANIFEST_PATH) == deployment(NEW)


@contextlib.contextmanager
def writers(url: str, count: int, commits_each: int, workdir: Path) -> Iterator[list[list[str]]]:
    """``count`` developers each pushing ``commits_each`` commits to main, rebasing on rejection."""
    pushed: list[list[str]] = [[] for _ in range(count)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            clone = workdir / f"writer-{i}"
            git("clone", "--quiet", url, str(clone))
            for n in range(commits_each):
                (clone / f"team-{i}.txt").write_text(f"change {n}\n")
                git("add", "--all", cwd=clone)
                git("commit", "--quiet", "-m", f"team {i} change {n}", cwd=clone)
                for _ in range(50):
                    try:
                        git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=clone)
                        break
                    except AssertionError:
                        git("pull", "--quiet", "--rebase", "origin", "main", cwd=clone)
                else:
                    raise AssertionError(f"writer {i} could not push")
                pushed[i].append(git("rev-parse", "HEAD", cwd=clone))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield pushed
    finally:
        for thread in threads:
            thread.join()
    assert not errors, errors


def test_five_concurrent_writers_and_a_revert_nothing_is_lost(daemon_fleet: Fleet, tmp_path: Path) -> None:
    repos = GitRepositories(tmp_path / "cache", backoff=0.02, push_attempts=20)
    failed = release_new(daemon_fleet, repos)
    with writers(daemon_fleet.url, 5, 3, tmp_path) as pushed:
        result = repos.write_revert(daemon_fleet.source(), request_for(failed))
    repos.close()

    assert result.outcome is RevertOutcome.PUSHED, result.message
    tip = git("-C", str(daemon_fleet.path), "rev-parse", "refs/heads/main")
    for sha in [result.commit, *(s for shas in pushed for s in shas)]:
        # every pushed commit is an ancestor of the tip: nothing was overwritten or rewritten
        git("-C", str(daemon_fleet.path), "merge-base", "--is-ancestor", sha, tip)
    for i in range(5):
        assert read_file(daemon_fleet.path, f"team-{i}.txt") == "change 2\n"
    assert read_file(daemon_fleet.path, MANIFEST_PATH) == deployment(OLD)


def test_source_with_kustomization_and_values(daemon_fleet: Fleet, adapter: GitRepositories) -> None:
    files = {
        "apps/web/kustomization.yaml": (
            'images:\n  - name: ghcr.io/acme/web\n    newTag: 1.1.0 # {"$imagepolicy": "f:web:tag"}\n'
        ),
        "charts/api/values.yaml": "image:\n  repository: ghcr.io/acme/api\n  tag: '2.1'\n",
    }
    commit_files(daemon_fleet.path, files, "kustomize and helm")
    web = daemon_fleet.source(path="apps/web/kustomization.yaml", target="web")
    api = daemon_fleet.source(path="charts/api/values.yaml", target="api", values_key="image.tag")
    for src, failed_image, to_image in (
        (web, "ghcr.io/acme/web:1.1.0", "ghcr.io/acme/web:1.0.0"),
        (api, "ghcr.io/acme/api:2.1", "ghcr.io/acme/api:2.0"),
    ):
        seen = adapter.declared(src)
        assert isinstance(seen, DeclaredRevision) and seen.image == failed_image
        result = adapter.write_revert(
            src, request_for(seen.commit, failed_image=failed_image, to_image=to_image)
        )
        assert result.outcome is RevertOutcome.PUSHED
        after = adapter.declared(GitSource(**{**src.__dict__}))
        assert isinstance(after, DeclaredRevision) and after.image == to_image
    assert read_file(daemon_fleet.path, "charts/api/values.yaml").endswith("  tag: '2.0'\n")
    assert 'newTag: 1.0.0 # {"$imagepolicy": "f:web:tag"}' in read_file(
        daemon_fleet.path, "apps/web/kustomization.yaml"
    )
