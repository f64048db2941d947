"""Pure: whether and when an exited container starts again, as the kubelet decides.

``restartPolicy`` decides whether (:func:`should_restart`); :class:`BackOff` decides when. The first
restart after a crash is immediate, each further crash in a row doubles the wait up to ``cap`` (the
kubelet's 10 s doubling to 5 min, scaled down so a sandbox crash loop is visible within seconds
rather than minutes); a container that ran for ``reset_after`` seconds starts a fresh series. While
waiting, the container is reported ``CrashLoopBackOff``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.node.podspec import RestartPolicy


def should_restart(policy: RestartPolicy, exit_code: int) -> bool:
    """``Always`` restarts every exit, ``OnFailure`` a non-zero one, ``Never`` none."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def exit_code_of(returncode: int) -> int:
    """A container exit code from ``Popen.returncode`` (killed by signal N -> 128 + N, as a shell says)."""
    return 128 - returncode if returncode < 0 else returncode


def terminated_reason(exit_code: int) -> str:
    """The kubelet's ``terminated.reason``: ``Completed`` for 0, else ``Error``."""
    return "Completed" if exit_code == 0 else "Error"


@dataclass(frozen=True)
class BackOff:
    """Restart delays: 0 after the first crash in a row, then ``initial`` doubling up to ``cap``."""

    initial: float = 0.5
    cap: float = 10.0
    reset_after: float = 60.0

    def delay(self, crashes_in_a_row: int) -> float:
        """Seconds to wait before the next start, after ``crashes_in_a_row`` (>= 1) consecutive exits."""
        if crashes_in_a_row <= 1:
            return 0.0
        return min(self.cap, self.initial * 2.0 ** (crashes_in_a_row - 2))

    def crashes_in_a_row(self, previous: int, ran_for: float) -> int:
        """The series after one more exit of a container that ran ``ran_for`` seconds."""
        return 1 if ran_for >= self.reset_after else previous + 1


def image_waiting_reason(attempts: int) -> str:
    """``ErrImagePull`` on the first failed pull, ``ImagePullBackOff`` while the node waits to retry."""
    return "ErrImagePull" if attempts <= 1 else "ImagePullBackOff"
