"""The Git port: what the operator asks of Git, as values (no exceptions cross this boundary).

``GitRepositories`` (``repository.py``) is the real adapter; ``FakeGitRepository`` (``fake.py``) is the
in-memory one with fault injection. The operator maps these values onto the pure core's observations
(``DeclaredRevision`` or a read error) and actions (``PushRevert`` -> :meth:`GitPort.write_revert`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from controller.gitops.credentials import Credentials


@dataclass(frozen=True)
class GitSource:
    """``spec.source.git`` of one Canary, plus the target Deployment name and the resolved Secret."""

    url: str
    branch: str
    path: str
    target: str
    container: str | None = None
    values_key: str | None = None
    interval: float = 30.0
    credentials: Credentials | None = field(default=None, repr=False)


@dataclass(frozen=True)
class GitIdentity:
    """Author and committer of revert commits."""

    name: str = "Serinus"
    email: str = "serinus@serinus.dev"


@dataclass(frozen=True)
class DeclaredRevision:
    """The tip commit of the tracked branch and the image its file declares for the target.

    ``pod_template`` is the target's whole pod template when the file is a Deployment manifest (None
    for kustomizations and Helm values, where only the image is declared here).
    """

    commit: str
    image: str
    pod_template: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


class GitErrorKind(StrEnum):
    """Why the declared revision could not be read."""

    UNREACHABLE = "Unreachable"  # network, DNS, refused connection, server error
    TIMEOUT = "Timeout"
    AUTH = "AuthenticationFailed"  # bad or missing credentials, unknown SSH host key
    NOT_FOUND = "NotFound"  # repository, branch or file missing
    MANIFEST = "InvalidManifest"  # the file is unparsable or does not declare the target's image
    CONFIG = "InvalidSource"  # unsupported URL, unusable Secret


@dataclass(frozen=True)
class GitReadError:
    """A read failure, fit for a Canary condition: ``kind`` is the reason, ``message`` the scrubbed detail."""

    kind: GitErrorKind
    message: str


class RevertOutcome(StrEnum):
    """What :meth:`GitPort.write_revert` did."""

    PUSHED = "Pushed"  # a new revert commit is on the branch
    ALREADY_PRESENT = "AlreadyPresent"  # this run's revert was already on the branch (restart, retry)
    SUPERSEDED = "Superseded"  # the tip declares another image than the failed one: nothing written
    FAILED = "Failed"  # bounded retries exhausted, push refused by the server, or the file cannot be edited


@dataclass(frozen=True)
class RevertRequest:
    """One run's revert: restore ``to_image`` over ``failed_image`` declared by commit ``reverts``.

    ``canary`` is ``namespace/name``. ``metric``/``value``/``threshold_range`` describe the failing check
    when there is one; ``reason`` says why otherwise (progress deadline, rollback webhook, manual abort).
    """

    canary: str
    to_image: str
    failed_image: str
    reverts: str
    reason: str = ""
    metric: str | None = None
    value: str | None = None
    threshold_range: str | None = None
    author: GitIdentity | None = None
    quarantined: bool = False  # Git declared again an image a failed run quarantined: no canary ran


@dataclass(frozen=True)
class RevertResult:
    """``commit`` is the revert (pushed or found); ``tip_commit``/``tip_image`` describe a superseding tip."""

    outcome: RevertOutcome
    commit: str = ""
    tip_commit: str = ""
    tip_image: str = ""
    message: str = ""
    attempts: int = 0


class GitPort(Protocol):
    """What the operator needs from Git."""

    def declared(self, source: GitSource) -> DeclaredRevision | GitReadError:
        """The branch tip and the image it declares; cheap when nothing moved (one ``ls-remote``)."""
        ...

    def write_revert(self, source: GitSource, request: RevertRequest) -> RevertResult:
        """Write (at most once per run) the commit restoring ``request.to_image``; never force-pushes."""
        ...

    def refresh(self, url: str) -> None:
        """A push webhook arrived: the next :meth:`declared` for ``url`` asks the server at once."""
        ...
