"""The real Git adapter: poll branch tips, read the declared image, push revert commits.

One bare cache repository per URL (under ``cache_dir``) is shared by every Canary tracking that URL.
Detection is ``git ls-remote`` for the tracked branches (one call per URL, reused for
``ls_remote_max_age`` seconds so that many Canaries polling in the same tick share it); a shallow,
single-branch ``git fetch`` runs only when a tracked tip moved, and fetches every moved branch of that
URL at once. The file is read with GitPython from the cache (the ``Repo`` is closed after every read,
which stops its ``cat-file`` helpers) and the result is memoised per (source, commit), so an idle
poll is exactly one ``ls-remote``.

A revert is written with plumbing on the cache (``hash-object``, a temporary index, ``commit-tree``)
and pushed without force (``<commit>:refs/heads/<branch>``); a rejected push fetches, re-plans on the
new tip and retries with exponential backoff, a bounded number of times. See ``revert.plan_revert`` for
the decision made on each attempt (already present / superseded / edit).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import git

from controller.gitops.credentials import (
    Credentials,
    CredentialsError,
    auth_environment,
    redact_url,
    scrub,
    split_userinfo,
)
from controller.gitops.gitcli import GitCommandError, GitRunner
from controller.gitops.manifest import ManifestError, detect_kind, read_image, read_pod_template
from controller.gitops.port import (
    DeclaredRevision,
    GitErrorKind,
    GitIdentity,
    GitReadError,
    GitSource,
    RevertOutcome,
    RevertRequest,
    RevertResult,
)
from controller.gitops.revert import NewFile, plan_revert

log = logging.getLogger("serinus.gitops")

_AUTH = re.compile(
    r"Authentication failed|could not read Username|could not read Password|terminal prompts disabled|"
    r"Permission denied|Host key verification failed|HTTP (?:Basic: )?Access denied|\b40[13]\b",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"not found|no such repository|does not appear to be a git repository|No such file or directory|\b404\b|"
    r"couldn't find remote ref|not our ref|access denied or repository not exported",
    re.IGNORECASE,
)
_REJECTED = re.compile(r"\[rejected\]|non-fast-forward|fetch first|\(stale info\)")
_REMOTE_REJECTED = re.compile(r"\[remote rejected\]")
# A concurrent push won the race for the ref lock on the server: that is a rejection to retry.
_LOST_RACE = re.compile(r"cannot lock ref|failed to update ref|failed to lock|but expected")


@dataclass
class _Remote:
    """State for one URL: its cache repository and what is known about its branch tips."""

    url: str
    credentials: Credentials | None
    path: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    tracked: set[str] = field(default_factory=set)
    heads: dict[str, str] = field(default_factory=dict)
    heads_at: float = float("-inf")
    fetched: dict[str, str] = field(default_factory=dict)
    initialised: bool = False


def _source_key(source: GitSource) -> tuple[str, ...]:
    return (
        source.url,
        source.branch,
        source.path,
        source.target,
        source.container or "",
        source.values_key or "",
    )


class GitRepositories:
    """:class:`~controller.gitops.port.GitPort` over the real git; one instance per operator process."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        identity: GitIdentity | None = None,
        timeout: float = 30.0,
        ls_remote_max_age: float = 1.0,
        history_depth: int = 50,
        push_attempts: int = 8,
        backoff: float = 0.1,
        max_backoff: float = 1.0,
        extra_env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.identity = identity or GitIdentity()
        self.ls_remote_max_age = ls_remote_max_age
        self.history_depth = history_depth
        self.push_attempts = push_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._sleep = sleep
        self._home = Path(tempfile.mkdtemp(prefix="serinus-git-home-"))
        self.runner = GitRunner(self._home, timeout=timeout, extra_env=extra_env)
        self._remotes: dict[str, _Remote] = {}
        self._remotes_lock = threading.Lock()
        self._memo: dict[tuple[str, ...], tuple[str, DeclaredRevision | GitReadError]] = {}

    def close(self) -> None:
        """Remove the private ``HOME`` of git children (the cache stays for the next start)."""
        shutil.rmtree(self._home, ignore_errors=True)

    # -- the port ---------------------------------------------------------------------------------

    def declared(self, source: GitSource) -> DeclaredRevision | GitReadError:
        """The tip of ``source.branch`` and the image its file declares, or why it cannot be read."""
        try:
            remote, credentials = self._remote(source)
        except CredentialsError as exc:
            return GitReadError(GitErrorKind.CONFIG, str(exc))
        with remote.lock:
            remote.credentials = credentials
            remote.tracked.add(source.branch)
            try:
                tip = self._tip(remote, source.branch)
                if tip is None:
                    return GitReadError(
                        GitErrorKind.NOT_FOUND,
                        f"branch {source.branch} not found at {redact_url(remote.url)}",
                    )
                key = _source_key(source)
                memo = self._memo.get(key)
                if memo is not None and memo[0] == tip:
                    return memo[1]
                if remote.fetched.get(source.branch) != tip:
                    self._fetch(remote, depth=1)
                commit = remote.fetched.get(source.branch, tip)
                result = self._read(remote, source, commit)
            except GitCommandError as exc:
                return self._read_error(remote, exc)
            except CredentialsError as exc:
                return GitReadError(GitErrorKind.CONFIG, str(exc))
            self._memo[key] = (commit, result)
            return result

    def refresh(self, url: str) -> None:
        """Forget the cached ``ls-remote`` answer for ``url`` (a push webhook arrived)."""
        with self._remotes_lock:
            remote = self._remotes.get(split_userinfo(url)[0])
        if remote is not None:
            remote.heads_at = float("-inf")

    def write_revert(self, source: GitSource, request: RevertRequest) -> RevertResult:
        """Push the revert commit for ``request`` (once per run), retrying rejected pushes on the new tip."""
        try:
            remote, credentials = self._remote(source)
        except CredentialsError as exc:
            return RevertResult(RevertOutcome.FAILED, message=str(exc))
        last_error = ""
        with remote.lock:
            remote.credentials = credentials
            remote.tracked.add(source.branch)
            for attempt in range(1, self.push_attempts + 1):
                try:
                    plan = self._plan(remote, source, request)
                    if isinstance(plan, RevertResult):
                        return _with_attempts(plan, attempt)
                    commit = self._commit(remote, source, plan, request.author or self.identity)
                    self._push(remote, source.branch, commit)
                except GitCommandError as exc:
                    last_error = str(exc)
                    if _REMOTE_REJECTED.search(exc.stderr) and not _LOST_RACE.search(exc.stderr):
                        return RevertResult(
                            RevertOutcome.FAILED,
                            message=f"the server refused the push: {exc}",
                            attempts=attempt,
                        )
                    rejected = bool(_REJECTED.search(exc.stderr) or _LOST_RACE.search(exc.stderr))
                    log.info(
                        "revert push attempt %d for %s %s: %s",
                        attempt,
                        request.canary,
                        "rejected" if rejected else "failed",
                        last_error,
                    )
                    if attempt < self.push_attempts:
                        self._sleep(self._delay(attempt))
                    continue
                except CredentialsError as exc:
                    return RevertResult(RevertOutcome.FAILED, message=str(exc), attempts=attempt)
                remote.fetched[source.branch] = commit
                remote.heads[source.branch] = commit
                remote.heads_at = float("-inf")
                log.info("pushed revert %s for %s to %s", commit, request.canary, redact_url(remote.url))
                return RevertResult(RevertOutcome.PUSHED, commit=commit, attempts=attempt)
        return RevertResult(
            RevertOutcome.FAILED,
            message=f"gave up after {self.push_attempts} attempts: {last_error}",
            attempts=self.push_attempts,
        )

    def ls_remote(self, source: GitSource) -> dict[str, str]:
        """Tips of the tracked branches of the source's URL, asked of the server now (no cache)."""
        remote, credentials = self._remote(source)
        with remote.lock:
            remote.credentials = credentials
            remote.tracked.add(source.branch)
            remote.heads_at = float("-inf")
            self._tip(remote, source.branch)
            return dict(remote.heads)

    # -- internals --------------------------------------------------------------------------------

    def _remote(self, source: GitSource) -> tuple[_Remote, Credentials | None]:
        url, from_url = split_userinfo(source.url)
        credentials = source.credentials or (from_url if from_url and from_url.kind != "none" else None)
        with self._remotes_lock:
            remote = self._remotes.get(url)
            if remote is None:
                digest = hashlib.sha256(url.encode()).hexdigest()[:16]
                slug = re.sub(r"[^A-Za-z0-9._-]+", "-", url.split("://")[-1])[-48:].strip("-.")
                remote = _Remote(
                    url=url, credentials=credentials, path=self.cache_dir / f"{slug}-{digest}.git"
                )
                self._remotes[url] = remote
        # Each call brings its own credentials (a Secret may be rotated); callers set them under remote.lock.
        return remote, credentials

    def _secrets(self, remote: _Remote) -> list[str]:
        return remote.credentials.secrets() if remote.credentials else []

    def _network(self, remote: _Remote, args: list[str], *, timeout: float | None = None) -> str:
        with auth_environment(remote.url, remote.credentials) as env:
            return self.runner.run(args, env=env, timeout=timeout, secrets=self._secrets(remote)).stdout

    def _local(
        self,
        remote: _Remote,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        input_bytes: bytes | None = None,
    ) -> str:
        return self.runner.run(
            ["-C", str(remote.path), *args], env=env, input_bytes=input_bytes
        ).stdout.strip()

    def _tip(self, remote: _Remote, branch: str) -> str | None:
        """Tip of ``branch``; one ``ls-remote`` for all tracked branches when the cached answer is stale."""
        now = self._clock()
        if branch not in remote.heads or now - remote.heads_at >= self.ls_remote_max_age:
            refs = [f"refs/heads/{b}" for b in sorted(remote.tracked | {branch})]
            out = self._network(remote, ["ls-remote", "--", remote.url, *refs])
            heads: dict[str, str] = {}
            for line in out.splitlines():
                sha, _, ref = line.partition("\t")
                if ref.startswith("refs/heads/") and ref[len("refs/heads/") :] in remote.tracked | {branch}:
                    heads[ref[len("refs/heads/") :]] = sha
            remote.heads = heads
            remote.heads_at = now
        return remote.heads.get(branch)

    def _ensure_cache(self, remote: _Remote) -> None:
        if not remote.initialised:
            if not (remote.path / "HEAD").exists():
                self.runner.run(["init", "--bare", "--quiet", str(remote.path)])
            remote.initialised = True

    def _fetch(self, remote: _Remote, *, depth: int, branches: list[str] | None = None) -> None:
        """One shallow fetch of every tracked branch whose tip moved (or of ``branches``)."""
        self._ensure_cache(remote)
        wanted = branches or sorted(b for b in remote.tracked if remote.heads.get(b) != remote.fetched.get(b))
        if not wanted:
            return
        refspecs = [f"+refs/heads/{b}:refs/remotes/origin/{b}" for b in wanted]
        self._network(
            remote,
            [
                "-C",
                str(remote.path),
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                f"--depth={depth}",
                "--",
                remote.url,
                *refspecs,
            ],
        )
        for b in wanted:
            remote.fetched[b] = self._local(
                remote, ["rev-parse", "--verify", f"refs/remotes/origin/{b}^{{commit}}"]
            )

    @contextmanager
    def _repo(self, remote: _Remote) -> Iterator[git.Repo]:
        repo = git.Repo(remote.path)
        try:
            yield repo
        finally:
            repo.close()  # stops the cat-file helpers GitPython keeps per repository

    def _file_at(self, repo: git.Repo, commit: str, path: str) -> str | None:
        try:
            blob = repo.commit(commit).tree / path
        except KeyError:
            return None
        data: bytes = blob.data_stream.read()
        return data.decode("utf-8")

    def _read(self, remote: _Remote, source: GitSource, commit: str) -> DeclaredRevision | GitReadError:
        try:
            with self._repo(remote) as repo:
                text = self._file_at(repo, commit, source.path)
        except UnicodeDecodeError:
            return GitReadError(GitErrorKind.MANIFEST, f"{source.path}: not UTF-8 text at {commit[:12]}")
        if text is None:
            return GitReadError(GitErrorKind.NOT_FOUND, f"{source.path}: no such file at {commit[:12]}")
        try:
            kind = detect_kind(source.path, source.values_key)
            image = read_image(
                text, kind, source.target, source.container, source.values_key, path=source.path
            )
            template = read_pod_template(text, kind, source.target, path=source.path)
        except ManifestError as exc:
            return GitReadError(GitErrorKind.MANIFEST, str(exc))
        return DeclaredRevision(commit, image, template)

    def _read_error(self, remote: _Remote, exc: GitCommandError) -> GitReadError:
        message = scrub(f"{redact_url(remote.url)}: {exc}", self._secrets(remote))
        if exc.timed_out:
            kind = GitErrorKind.TIMEOUT
        elif _AUTH.search(exc.stderr):
            kind = GitErrorKind.AUTH
        elif _NOT_FOUND.search(exc.stderr):
            kind = GitErrorKind.NOT_FOUND
        else:
            kind = GitErrorKind.UNREACHABLE
        log.warning("git read failed (%s): %s", kind.value, message)
        return GitReadError(kind, message)

    def _plan(self, remote: _Remote, source: GitSource, request: RevertRequest) -> RevertResult | NewFile:
        # Fetch straight away (no ls-remote first): the shorter the time from reading the tip to pushing,
        # the better the odds against concurrent writers.
        remote.heads_at = float("-inf")
        try:
            self._fetch(remote, depth=self.history_depth, branches=[source.branch])
        except GitCommandError as exc:
            if "couldn't find remote ref" in exc.stderr:
                return RevertResult(RevertOutcome.FAILED, message=f"branch {source.branch} not found")
            raise
        tip = remote.fetched[source.branch]
        with self._repo(remote) as repo:
            history = [
                (c.hexsha, str(c.message)) for c in repo.iter_commits(tip, max_count=self.history_depth)
            ]
            try:
                text = self._file_at(repo, tip, source.path)
            except UnicodeDecodeError:
                return RevertResult(RevertOutcome.FAILED, message=f"{source.path}: not UTF-8 text")
        return plan_revert(source, request, tip, text, history)

    def _commit(self, remote: _Remote, source: GitSource, plan: NewFile, author: GitIdentity) -> str:
        blob = self._local(remote, ["hash-object", "-w", "--stdin"], input_bytes=plan.text.encode("utf-8"))
        listing = self._local(remote, ["ls-tree", plan.tip, "--", source.path])
        mode = listing.split(" ", 1)[0] if listing else "100644"
        with tempfile.TemporaryDirectory(prefix="serinus-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._local(remote, ["read-tree", plan.tip], env=env)
            self._local(
                remote, ["update-index", "--add", "--cacheinfo", f"{mode},{blob},{source.path}"], env=env
            )
            tree = self._local(remote, ["write-tree"], env=env)
        who = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": author.email,
        }
        return self._local(
            remote,
            ["commit-tree", tree, "-p", plan.tip, "-F", "-"],
            env=who,
            input_bytes=plan.message.encode(),
        )

    def _push(self, remote: _Remote, branch: str, commit: str) -> None:
        # No "+" and no --force: a push that is not a fast-forward is rejected by the server.
        self._network(
            remote,
            [
                "-C",
                str(remote.path),
                "push",
                "--porcelain",
                "--quiet",
                "--",
                remote.url,
                f"{commit}:refs/heads/{branch}",
            ],
        )
        self._local(remote, ["update-ref", f"refs/remotes/origin/{branch}", commit])

    def _delay(self, attempt: int) -> float:
        base: float = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security


def _with_attempts(result: RevertResult, attempts: int) -> RevertResult:
    return RevertResult(
        result.outcome, result.commit, result.tip_commit, result.tip_image, result.message, attempts
    )
