"""Real git servers for the gitops integration tests: ``git daemon``, smart HTTP, and plain files."""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.gitops.port import GitSource
from controller.gitops.repository import GitRepositories
from sandbox.gitserver import GitDaemon, GitHttpServer, seed_fleet_repo

pytestmark = pytest.mark.integration

MANIFEST_PATH = "apps/podinfo/deployment.yaml"
OLD = "ghcr.io/acme/podinfo:6.0.3"
NEW = "ghcr.io/acme/podinfo:6.1.0"
DEPLOYMENT = """\
# podinfo, managed in Git; Serinus runs the canary.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: {image} # {{"$imagepolicy": "flux-system:podinfo"}}
          ports: [{{containerPort: 9898}}]
"""
USERNAME, PASSWORD = "fleet-bot", "s3cr3t-Pa55word-xyz"
_names = itertools.count()


def deployment(image: str) -> str:
    return DEPLOYMENT.format(image=image)


@dataclass
class Servers:
    base: Path
    daemon: GitDaemon
    http: GitHttpServer
    http_auth: GitHttpServer


@dataclass
class Fleet:
    """One fresh bare repository and its URL over the transport under test."""

    path: Path
    url: str
    name: str

    def source(self, **overrides: object) -> GitSource:
        fields: dict[str, object] = {
            "url": self.url,
            "branch": "main",
            "path": MANIFEST_PATH,
            "target": "podinfo",
        }
        fields.update(overrides)
        return GitSource(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    with tempfile.TemporaryDirectory(prefix="serinus-gitsrv-") as tmp:
        base = Path(tmp)
        with (
            GitDaemon(base) as daemon,
            GitHttpServer(base) as http,
            GitHttpServer(base, username=USERNAME, password=PASSWORD) as http_auth,
        ):
            yield Servers(base, daemon, http, http_auth)


def new_repo(servers: Servers, files: dict[str, str] | None = None) -> tuple[Path, str]:
    name = f"fleet-{os.getpid()}-{next(_names)}.git"
    seed_fleet_repo(servers.base / name, files or {MANIFEST_PATH: deployment(OLD)})
    return servers.base / name, name


def url_for(servers: Servers, transport: str, name: str) -> str:
    if transport == "git":
        return servers.daemon.url(name)
    if transport == "http":
        return servers.http.url(name)
    return f"file://{servers.base / name}"


@pytest.fixture(params=["git", "http", "file"])
def fleet(request: pytest.FixtureRequest, servers: Servers) -> Fleet:
    path, name = new_repo(servers)
    return Fleet(path, url_for(servers, request.param, name), name)


@pytest.fixture
def daemon_fleet(servers: Servers) -> Fleet:
    path, name = new_repo(servers)
    return Fleet(path, servers.daemon.url(name), name)


@pytest.fixture
def adapter(tmp_path: Path) -> Iterator[GitRepositories]:
    repos = GitRepositories(tmp_path / "cache", ls_remote_max_age=0.0, backoff=0.01, timeout=20)
    yield repos
    repos.close()


def git(*args: str, cwd: Path | None = None) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@fleet.test",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@fleet.test",
        "GIT_TERMINAL_PROMPT": "0",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def push_files(url: str, files: dict[str, str], message: str, workdir: Path) -> str:
    """A developer's push over the wire: clone, commit, push (no retry); returns the pushed SHA."""
    clone = workdir / f"clone-{next(_names)}"
    git("clone", "--quiet", url, str(clone))
    for name, text in files.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text(text)
    git("add", "--all", cwd=clone)
    git("commit", "--quiet", "-m", message, cwd=clone)
    git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone)
