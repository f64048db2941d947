"""The revert rules shared by both adapters, exercised through the in-memory fake.

Pins: message and trailers; a revert is written once per run (found again by its trailers); a tip
declaring another image gets no revert; rejected pushes retry on the new tip, bounded; injected
outages are values, not exceptions; the fake and the real adapter both satisfy the GitPort protocol.
"""

from __future__ import annotations

from pathlib import Path

from controller.gitops.fake import FakeGitRepository
from controller.gitops.port import (
    DeclaredRevision,
    GitErrorKind,
    GitPort,
    GitReadError,
    GitSource,
    RevertOutcome,
    RevertRequest,
)
from controller.gitops.repository import GitRepositories
from controller.gitops.revert import is_revert_of, parse_trailers, revert_message

PATH = "apps/podinfo/deployment.yaml"
SOURCE = GitSource("https://git.example.com/fleet.git", "main", PATH, "podinfo")
OLD, NEW = "ghcr.io/acme/podinfo:6.0.3", "ghcr.io/acme/podinfo:6.1.0"


def manifest(image: str) -> str:
    return (
        "kind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  template:\n    spec:\n      containers:\n"
        f'        - name: podinfo\n          image: {image}  # {{"$imagepolicy": "flux-system:podinfo"}}\n'
    )


def released() -> tuple[FakeGitRepository, str]:
    repo = FakeGitRepository({PATH: manifest(OLD)})
    return repo, repo.commit({PATH: manifest(NEW)}, "podinfo 6.1.0")


def request(failed: str) -> RevertRequest:
    return RevertRequest(
        "shop/podinfo",
        OLD,
        NEW,
        failed,
        metric="request-success-rate",
        value="97.2",
        threshold_range="{min: 99}",
    )


def test_both_adapters_satisfy_the_port(tmp_path: Path) -> None:
    real = GitRepositories(tmp_path)  # mypy checks the assignment below against the Protocol
    ports: list[GitPort] = [FakeGitRepository(), real]
    real.close()
    assert all(callable(p.declared) and callable(p.write_revert) and callable(p.refresh) for p in ports)


def test_message_names_the_failure_and_carries_the_trailers() -> None:
    message = revert_message(SOURCE, request("9f1c" * 10))
    assert message.splitlines()[0] == f"serinus: revert shop/podinfo to {OLD}"
    assert (
        f"{NEW} (commit {'9f1c' * 10}) failed: metric request-success-rate = 97.2, outside {{min: 99}}"
        in message
    )
    assert parse_trailers(message) == {"serinus-canary": ["shop/podinfo"], "serinus-reverts": ["9f1c" * 10]}
    assert is_revert_of(message, "shop/podinfo", "9f1c" * 10)
    assert not is_revert_of(message, "shop/other", "9f1c" * 10)
    assert not is_revert_of(message, "shop/podinfo", "0" * 40)


def test_message_without_metric_uses_the_reason() -> None:
    plain = RevertRequest("shop/podinfo", OLD, NEW, "abc", reason="progress deadline exceeded")
    assert "failed: progress deadline exceeded." in revert_message(SOURCE, plain)


def test_quarantine_message_says_no_canary_ran_and_keeps_the_trailers() -> None:
    """A quarantine revert is not a failed run of this commit: it says the image was re-declared."""
    again = RevertRequest(
        "shop/podinfo", OLD, NEW, "abc", reason="quarantined by run 2", quarantined=True
    )
    message = revert_message(SOURCE, again)
    assert f"Commit abc declares {NEW} again, an image quarantined" in message
    assert "started no canary and sent it no traffic" in message
    assert "The canary run of" not in message
    assert is_revert_of(message, "shop/podinfo", "abc")


def test_trailers_only_from_the_last_paragraph() -> None:
    assert parse_trailers("subject\n\nSerinus-Reverts: abc\nnot a trailer line") == {}
    assert parse_trailers("Serinus-Reverts: abc") == {}  # a subject alone has no trailers


def test_revert_is_written_once_per_run() -> None:
    repo, failed = released()
    first = repo.write_revert(SOURCE, request(failed))
    again = repo.write_revert(SOURCE, request(failed))
    assert first.outcome is RevertOutcome.PUSHED
    assert again.outcome is RevertOutcome.ALREADY_PRESENT and again.commit == first.commit
    assert len(repo.branches["main"]) == 3
    assert repo.tip().files[PATH] == manifest(OLD)


def test_tip_declaring_another_image_is_superseded() -> None:
    repo, failed = released()
    newer = repo.commit({PATH: manifest("ghcr.io/acme/podinfo:6.2.0")}, "6.2.0")
    result = repo.write_revert(SOURCE, request(failed))
    assert (result.outcome, result.tip_commit, result.tip_image) == (
        RevertOutcome.SUPERSEDED,
        newer,
        "ghcr.io/acme/podinfo:6.2.0",
    )
    assert repo.tip().sha == newer


def test_rejected_pushes_retry_on_the_new_tip_and_keep_the_other_commits() -> None:
    repo, failed = released()
    repo.reject_pushes = 2
    result = repo.write_revert(SOURCE, request(failed))
    assert result.outcome is RevertOutcome.PUSHED and result.attempts == 3
    assert [c.message for c in repo.branches["main"]][-3:-1] == ["concurrent push", "concurrent push"]
    assert repo.tip().files["other-1.txt"] == "someone else's work\n"


def test_retries_are_bounded() -> None:
    repo, failed = released()
    repo.push_attempts, repo.reject_pushes = 3, 10
    result = repo.write_revert(SOURCE, request(failed))
    assert result.outcome is RevertOutcome.FAILED and result.attempts == 3
    assert repo.tip().files[PATH] == manifest(NEW)


def test_unreachable_and_refused_are_values() -> None:
    repo, failed = released()
    repo.unreachable = True
    read = repo.declared(SOURCE)
    assert isinstance(read, GitReadError) and read.kind is GitErrorKind.UNREACHABLE
    assert repo.write_revert(SOURCE, request(failed)).outcome is RevertOutcome.FAILED
    repo.unreachable, repo.fail_pushes = False, True
    refused = repo.write_revert(SOURCE, request(failed))
    assert refused.outcome is RevertOutcome.FAILED and "refused" in refused.message
    assert repo.declared(SOURCE) == DeclaredRevision(failed, NEW)


def test_manifest_problems_are_read_errors() -> None:
    repo = FakeGitRepository({PATH: "kind: Deployment\nmetadata: {name: web}\n"})
    result = repo.declared(SOURCE)
    assert result == GitReadError(GitErrorKind.MANIFEST, f"{PATH}: no Deployment named podinfo (found: web)")
    missing = repo.declared(GitSource(SOURCE.url, "main", "nope.yaml", "podinfo"))
    assert isinstance(missing, GitReadError) and missing.kind is GitErrorKind.NOT_FOUND
