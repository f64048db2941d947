"""In-memory :class:`~controller.gitops.port.GitPort` with fault injection, for the operator's unit tests.

Branches are lists of :class:`FakeCommit` (oldest first), each a full snapshot of the files. Revert
decisions go through the same pure ``revert.plan_revert`` as the real adapter, so the fake agrees with
it on "already present" and "superseded". Faults: ``reject_pushes`` (the next N pushes are rejected
because someone else pushed a commit first; the fake adds that commit, as the race would),
``unreachable`` (every call fails as if the server were down), ``fail_pushes`` (pushes fail
permanently, as a protected branch would).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

from controller.gitops.manifest import ManifestError, detect_kind, read_image
from controller.gitops.port import (
    DeclaredRevision,
    GitErrorKind,
    GitReadError,
    GitSource,
    RevertOutcome,
    RevertRequest,
    RevertResult,
)
from controller.gitops.revert import NewFile, plan_revert

_counter = itertools.count()


@dataclass(frozen=True)
class FakeCommit:
    """One commit: its SHA, message and the complete file tree after it."""

    sha: str
    message: str
    files: dict[str, str] = field(hash=False)


class FakeGitRepository:
    """Branches of one or more repositories (keyed by branch name; the URL is ignored)."""

    def __init__(
        self, files: dict[str, str] | None = None, *, branch: str = "main", push_attempts: int = 8
    ) -> None:
        self.branches: dict[str, list[FakeCommit]] = {}
        self.push_attempts = push_attempts
        self.reject_pushes = 0
        self.unreachable = False
        self.fail_pushes = False
        self.calls: list[str] = []
        if files is not None:
            self.commit(files, "initial", branch=branch)

    def commit(self, files: dict[str, str], message: str, *, branch: str = "main") -> str:
        """Add a commit changing ``files`` (others carry over); returns its SHA."""
        history = self.branches.setdefault(branch, [])
        tree = dict(history[-1].files) if history else {}
        tree.update(files)
        sha = hashlib.sha1(f"{next(_counter)}:{message}".encode(), usedforsecurity=False).hexdigest()
        history.append(FakeCommit(sha, message, tree))
        return sha

    def tip(self, branch: str = "main") -> FakeCommit:
        """The newest commit of ``branch``."""
        return self.branches[branch][-1]

    def declared(self, source: GitSource) -> DeclaredRevision | GitReadError:
        """Same contract as the real adapter."""
        self.calls.append("declared")
        if self.unreachable:
            return GitReadError(GitErrorKind.UNREACHABLE, f"{source.url}: connection refused (injected)")
        history = self.branches.get(source.branch)
        if not history:
            return GitReadError(GitErrorKind.NOT_FOUND, f"branch {source.branch} not found at {source.url}")
        tip = history[-1]
        text = tip.files.get(source.path)
        if text is None:
            return GitReadError(GitErrorKind.NOT_FOUND, f"{source.path}: no such file at {tip.sha[:12]}")
        try:
            kind = detect_kind(source.path, source.values_key)
            image = read_image(
                text, kind, source.target, source.container, source.values_key, path=source.path
            )
        except ManifestError as exc:
            return GitReadError(GitErrorKind.MANIFEST, str(exc))
        return DeclaredRevision(tip.sha, image)

    def write_revert(self, source: GitSource, request: RevertRequest) -> RevertResult:
        """Same contract as the real adapter, including bounded retries on rejected pushes."""
        self.calls.append("write_revert")
        for attempt in range(1, self.push_attempts + 1):
            if self.unreachable:
                continue
            history = self.branches.get(source.branch)
            if not history:
                return RevertResult(
                    RevertOutcome.FAILED, message=f"branch {source.branch} not found", attempts=attempt
                )
            tip = history[-1]
            recent = [(c.sha, c.message) for c in reversed(history[-50:])]
            plan = plan_revert(source, request, tip.sha, tip.files.get(source.path), recent)
            if isinstance(plan, RevertResult):
                return RevertResult(
                    plan.outcome, plan.commit, plan.tip_commit, plan.tip_image, plan.message, attempt
                )
            if self.fail_pushes:
                return RevertResult(
                    RevertOutcome.FAILED, message="the server refused the push (injected)", attempts=attempt
                )
            if self.reject_pushes > 0:
                self.reject_pushes -= 1
                self.commit(
                    {f"other-{attempt}.txt": "someone else's work\n"}, "concurrent push", branch=source.branch
                )
                continue
            sha = self._apply(source, plan)
            return RevertResult(RevertOutcome.PUSHED, commit=sha, attempts=attempt)
        why = "the server is unreachable (injected)" if self.unreachable else "every push was rejected"
        return RevertResult(
            RevertOutcome.FAILED,
            message=f"gave up after {self.push_attempts} attempts: {why}",
            attempts=self.push_attempts,
        )

    def refresh(self, url: str) -> None:
        """Nothing is cached in memory."""
        self.calls.append("refresh")

    def _apply(self, source: GitSource, plan: NewFile) -> str:
        return self.commit({source.path: plan.text}, plan.message, branch=source.branch)
