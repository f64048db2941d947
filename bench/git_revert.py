"""Time for a revert commit to land, alone and while five writers push to the same branch.

Real ``git daemon``; each writer clones, then commits and pushes every 0.2-0.6 s (rebasing when
rejected) for the duration of the revert. Budget (issue 6): the revert lands within 10 s under that
contention, and no writer's commit is lost (every pushed commit is an ancestor of the final tip).

    python -m bench.git_revert [--writers 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.git_detection import PATH, git, manifest
from controller.gitops.port import DeclaredRevision, GitSource, RevertOutcome, RevertRequest
from controller.gitops.repository import GitRepositories
from sandbox.gitserver import GitDaemon, commit_files, seed_fleet_repo


def writer(url: str, workdir: Path, index: int, stop: threading.Event, pushed: list[str]) -> None:
    """Commit and push to main until ``stop``, rebasing on rejection; records every pushed SHA."""
    clone = workdir / f"writer-{index}"
    git("clone", "--quiet", url, str(clone))
    n = 0
    while not stop.wait(random.uniform(0.2, 0.6)):  # a very busy team: 2-5 pushes per second each
        (clone / f"team-{index}.txt").write_text(f"change {n}\n")
        git("add", f"team-{index}.txt", cwd=clone)
        git("commit", "--quiet", "-m", f"team {index} change {n}", cwd=clone)
        for _ in range(100):
            try:
                git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
                pushed.append(git("rev-parse", "HEAD", cwd=clone))
                break
            except subprocess.CalledProcessError:
                git("pull", "--quiet", "--rebase", "origin", "main", cwd=clone)
        n += 1


def one_revert(base: Path, daemon: GitDaemon, name: str, writers: int) -> tuple[float, int, int]:
    """Seconds for the revert to land, push attempts it took, and commits lost (must be 0)."""
    bare = base / "srv" / name
    seed_fleet_repo(bare, {PATH: manifest("6.0.0")})
    failed = commit_files(bare, {PATH: manifest("6.1.0")}, "release 6.1.0")
    url = daemon.url(name)
    repos = GitRepositories(base / f"cache-{name}", backoff=0.05, push_attempts=30)
    source = GitSource(url, "main", PATH, "podinfo")
    assert isinstance(repos.declared(source), DeclaredRevision)
    stop, pushed = threading.Event(), list[str]()
    threads = [
        threading.Thread(target=writer, args=(url, base / name, i, stop, pushed)) for i in range(writers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5 if writers else 0)  # let the writers get going
    started = time.monotonic()
    request = RevertRequest(
        "shop/podinfo", "ghcr.io/acme/podinfo:6.0.0", "ghcr.io/acme/podinfo:6.1.0", failed, "bench"
    )
    result = repos.write_revert(source, request)
    took = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join()
    repos.close()
    assert result.outcome is RevertOutcome.PUSHED, result.message
    tip = git("-C", str(bare), "rev-parse", "main")
    lost = 0
    for sha in [*pushed, result.commit]:
        if subprocess.run(
            ["git", "-C", str(bare), "merge-base", "--is-ancestor", sha, tip], check=False
        ).returncode:
            lost += 1
    return took, result.attempts, lost


def main(argv: list[str] | None = None) -> None:
    """Print revert landing times without and with concurrent writers."""
    parser = argparse.ArgumentParser(description="revert landing time, with and without contention")
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="serinus-bench-revert-") as tmp:
        base = Path(tmp)
        (base / "srv").mkdir()
        with GitDaemon(base / "srv") as daemon:
            for writers in (0, args.writers):
                runs = [
                    one_revert(base, daemon, f"fleet-{writers}-{r}.git", writers) for r in range(args.rounds)
                ]
                times = [t for t, _, _ in runs]
                print(
                    f"revert with {writers} concurrent writers: median {statistics.median(times):.3f} s, "
                    f"max {max(times):.3f} s, push attempts {[a for _, a, _ in runs]}, "
                    f"commits lost {sum(lost for _, _, lost in runs)} (budget 10 s, 0 lost)"
                )


if __name__ == "__main__":
    main()
