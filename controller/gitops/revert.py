"""The revert commit's message and trailers, and the decision taken on each attempt (pure).

Both adapters (real and fake) fetch the tip, then call :func:`plan_revert` with the tip's file and recent
history; it answers with a final :class:`RevertResult` (already present, superseded, cannot edit) or the
new file text to commit. Keeping this pure makes the rules identical for both and unit-testable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from controller.gitops.manifest import ManifestError, detect_kind, read_image, revert_image
from controller.gitops.port import GitSource, RevertOutcome, RevertRequest, RevertResult

CANARY_TRAILER = "Serinus-Canary"
REVERTS_TRAILER = "Serinus-Reverts"
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*?)\s*$")


@dataclass(frozen=True)
class NewFile:
    """Commit this text at the source's path on top of ``tip``."""

    tip: str
    text: str
    message: str


def revert_message(source: GitSource, request: RevertRequest) -> str:
    """``serinus: revert ns/name to <image>``, a body naming the failure, and the two trailers."""
    if request.metric:
        failure = f"metric {request.metric}"
        if request.value is not None:
            failure += f" = {request.value}"
        if request.threshold_range:
            failure += f", outside {request.threshold_range}"
        if request.reason:
            failure += f" ({request.reason})"
    else:
        failure = request.reason or "the canary run failed"
    if request.quarantined:
        body = (
            f"Commit {request.reverts} declares {request.failed_image} again, an image quarantined after\n"
            f"a failed canary run: {failure}.\n"
            f"Serinus started no canary and sent it no traffic; this commit restores the last promoted\n"
            f"image in {source.path}, so that Git declares what runs. `serinus retry` lifts the quarantine."
        )
    else:
        body = (
            f"The canary run of {request.failed_image} (commit {request.reverts}) failed: {failure}.\n"
            f"Serinus rolled the traffic back and restores the last promoted image in {source.path},\n"
            f"so that Git declares what runs."
        )
    return (
        f"serinus: revert {request.canary} to {request.to_image}\n\n{body}\n\n"
        f"{CANARY_TRAILER}: {request.canary}\n{REVERTS_TRAILER}: {request.reverts}\n"
    )


def parse_trailers(message: str) -> dict[str, list[str]]:
    """Trailers of a commit message: ``Key: value`` lines of its last paragraph."""
    paragraphs = [p for p in re.split(r"\n\s*\n", message.replace("\r\n", "\n").strip()) if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found: dict[str, list[str]] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line)
        if match is None:
            return {}
        found.setdefault(match.group(1).lower(), []).append(match.group(2))
    return found


def is_revert_of(message: str, canary: str, reverts: str) -> bool:
    """Whether the message is this run's revert (same Canary, same reverted commit)."""
    trailers = parse_trailers(message)
    return canary in trailers.get(CANARY_TRAILER.lower(), []) and reverts in trailers.get(
        REVERTS_TRAILER.lower(), []
    )


def plan_revert(
    source: GitSource,
    request: RevertRequest,
    tip: str,
    tip_text: str | None,
    history: Iterable[tuple[str, str]],
) -> RevertResult | NewFile:
    """The decision for one attempt, given the tip's file (None when missing) and ``(sha, message)`` history.

    Order matters: a revert already in history wins (after it, the tip declares another image, which
    would otherwise read as "superseded"); then a tip declaring something else than the failed image
    means a newer commit owns the target and no revert is written.
    """
    for sha, message in history:
        if is_revert_of(message, request.canary, request.reverts):
            return RevertResult(
                RevertOutcome.ALREADY_PRESENT, commit=sha, message=f"revert {sha} already on branch"
            )
    if tip_text is None:
        return RevertResult(
            RevertOutcome.FAILED, tip_commit=tip, message=f"{source.path}: no such file at {tip[:12]}"
        )
    try:
        kind = detect_kind(source.path, source.values_key)
        args = (tip_text, kind, source.target, source.container, source.values_key)
        declared = read_image(*args, path=source.path)
        if declared != request.failed_image:
            return RevertResult(
                RevertOutcome.SUPERSEDED,
                tip_commit=tip,
                tip_image=declared,
                message=f"the tip {tip[:12]} declares {declared}, not the failed {request.failed_image}",
            )
        text = revert_image(*args, to_image=request.to_image, path=source.path)
    except ManifestError as exc:
        return RevertResult(RevertOutcome.FAILED, tip_commit=tip, message=str(exc))
    return NewFile(tip=tip, text=text, message=revert_message(source, request))
