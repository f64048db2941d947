"""Detection latency of a pushed commit, with and without the push webhook, and the cost of an idle poll.

Runs a real ``git daemon``, a detector thread that polls ``GitRepositories.declared`` every
``--interval`` seconds, and the webhook app (aiohttp) whose ``on_push`` wakes the detector at once.
Each push is a real ``git push`` over git:// at a random moment of the poll cycle; latency is from
the push command's return to the detector seeing the new commit. Budgets (issue 6): within 1 s with
the webhook, within interval + 1 s without; an idle poll runs ``ls-remote`` only.

    python -m bench.git_detection [--interval 2] [--pushes 5] [--idle-polls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from aiohttp import web

from controller.gitops.port import DeclaredRevision, GitSource
from controller.gitops.repository import GitRepositories
from controller.gitops.webhook import make_webhook_app
from sandbox.gitserver import GitDaemon, free_port, seed_fleet_repo

PATH = "apps/podinfo/deployment.yaml"
SECRET = b"bench-secret"


def manifest(tag: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  template:\n    spec:\n"
        f"      containers:\n        - name: podinfo\n          image: ghcr.io/acme/podinfo:{tag}\n"
    )


def git(*args: str, cwd: Path | None = None) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@bench",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@bench",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


class Detector(threading.Thread):
    """Polls every ``interval``; a webhook sets ``wake`` to poll at once (after ``refresh``)."""

    def __init__(self, repos: GitRepositories, source: GitSource, interval: float) -> None:
        super().__init__(daemon=True)
        self.repos, self.source, self.interval = repos, source, interval
        self.wake, self.stop = threading.Event(), threading.Event()
        self.seen: dict[str, float] = {}
        self.changed = threading.Condition()

    def run(self) -> None:
        while not self.stop.is_set():
            woke = self.wake.wait(self.interval)
            self.wake.clear()
            if woke:
                self.repos.refresh(self.source.url)
            result = self.repos.declared(self.source)
            if isinstance(result, DeclaredRevision) and result.commit not in self.seen:
                with self.changed:
                    self.seen[result.commit] = time.monotonic()
                    self.changed.notify_all()

    def wait_for(self, commit: str, timeout: float) -> float:
        with self.changed:
            self.changed.wait_for(lambda: commit in self.seen, timeout)
        return self.seen.get(commit, float("nan"))


def serve_webhook(detector: Detector, port: int) -> threading.Thread:
    def run() -> None:
        async def main() -> None:
            app = make_webhook_app(lambda ns, name: SECRET, lambda ns, name: detector.wake.set())
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            while not detector.stop.is_set():
                await asyncio.sleep(0.05)
            await runner.cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def post_webhook(port: int, commit: str) -> None:
    body = f'{{"ref": "refs/heads/main", "after": "{commit}"}}'.encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/git/shop/podinfo",
        data=body,
        method="POST",
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback URL built here
        assert response.status == 202


def measure(clone: Path, detector: Detector, pushes: int, webhook_port: int | None, tag0: int) -> list[float]:
    latencies = []
    for n in range(pushes):
        time.sleep(random.uniform(0, detector.interval))  # a random phase of the poll cycle
        (clone / PATH).write_text(manifest(f"7.{tag0 + n}.0"))
        git("commit", "--quiet", "-am", f"release 7.{tag0 + n}.0", cwd=clone)
        git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
        pushed_at = time.monotonic()
        commit = git("rev-parse", "HEAD", cwd=clone)
        if webhook_port is not None:
            post_webhook(webhook_port, commit)
        latencies.append(detector.wait_for(commit, detector.interval + 10) - pushed_at)
    return latencies


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s, max {max(values):.3f} s (n={len(values)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval in seconds")
    parser.add_argument("--pushes", type=int, default=5, help="pushes measured per mode")
    parser.add_argument("--idle-polls", type=int, default=50)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="serinus-bench-git-") as tmp:
        base = Path(tmp)
        seed_fleet_repo(base / "srv" / "fleet.git", {PATH: manifest("6.0.0")})
        with GitDaemon(base / "srv") as daemon:
            url = daemon.url("fleet.git")
            repos = GitRepositories(base / "cache", ls_remote_max_age=0.0)
            source = GitSource(url, "main", PATH, "podinfo", interval=args.interval)
            assert isinstance(repos.declared(source), DeclaredRevision)

            repos.runner.counts.clear()
            started = time.monotonic()
            for _ in range(args.idle_polls):
                repos.declared(source)
            per_poll = (time.monotonic() - started) / args.idle_polls
            counts = {k: v / args.idle_polls for k, v in sorted(repos.runner.counts.items())}
            print(
                f"idle poll: git subprocesses per poll by subcommand: {counts}, {per_poll * 1000:.1f} ms/poll"
            )

            clone = base / "clone"
            git("clone", "--quiet", url, str(clone))
            detector = Detector(repos, source, args.interval)
            detector.start()
            port = free_port()
            server = serve_webhook(detector, port)
            time.sleep(0.3)
            try:
                polled = measure(clone, detector, args.pushes, None, 0)
                hooked = measure(clone, detector, args.pushes, port, 100)
            finally:
                detector.stop.set()
                detector.join()
                server.join()
                repos.close()
            print(
                f"detection without webhook (interval {args.interval:g} s): {summary(polled)}; "
                f"budget interval + 1 s = {args.interval + 1:g} s"
            )
            print(f"detection with webhook: {summary(hooked)}; budget 1 s")


if __name__ == "__main__":
    main()
