"""Real git servers on 127.0.0.1 for tests, benchmarks and the sandbox.

* :class:`GitDaemon` runs ``git daemon`` (``git://``, push enabled) on a free port, stopped by PID.
* :class:`GitHttpServer` runs ``git http-backend`` as CGI behind a small Python HTTP server, in a child
  process (``python -m sandbox.gitserver http ...``), optionally requiring HTTP basic auth so that
  username/password credentials can be tested over http the way they are used over https. The password
  reaches that child through its environment, never its arguments.
* :func:`seed_fleet_repo` creates a bare repository with an initial commit; :func:`commit_files` adds a
  commit to a bare repository directly (compare-and-swap on the branch ref), as a developer's push would.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import os
import socket
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Self

AUTH_PASSWORD_ENV = "SERINUS_GITSERVER_PASSWORD"  # noqa: S105 - the variable name
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Fleet Developer",
    "GIT_AUTHOR_EMAIL": "dev@fleet.test",
    "GIT_COMMITTER_NAME": "Fleet Developer",
    "GIT_COMMITTER_EMAIL": "dev@fleet.test",
}


class GitServerError(RuntimeError):
    """A git server could not be started, or a repository could not be prepared."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _git_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LANG": "C",
        **_IDENTITY,
    }


def _git(
    args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, data: bytes | None = None
) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**_git_env(), **(env or {})},
        input=data,
        capture_output=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise GitServerError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def seed_fleet_repo(
    path: Path, files: dict[str, str], *, branch: str = "main", message: str = "Initial fleet"
) -> str:
    """Create a bare repository at ``path`` whose ``branch`` holds ``files``; returns the commit SHA."""
    path = Path(path)
    _git(["init", "--bare", "--quiet", f"--initial-branch={branch}", str(path)])
    # Let pushes to the checked-out-less bare repo over git:// and http succeed without extra config.
    _git(["-C", str(path), "config", "http.receivepack", "true"])
    return commit_files(path, files, message, branch=branch)


def commit_files(path: Path, files: dict[str, str], message: str, *, branch: str = "main") -> str:
    """Commit ``files`` (path -> text) on top of ``branch`` in the bare repository ``path``; returns the SHA.

    The ref is updated with compare-and-swap, so a concurrent push makes this raise rather than lose work.
    """
    repo = str(path)
    try:
        parent: str | None = _git(["-C", repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"])
    except GitServerError:
        parent = None
    with tempfile.TemporaryDirectory(prefix="fleet-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if parent:
            _git(["-C", repo, "read-tree", parent], env=env)
        for name, text in files.items():
            blob = _git(["-C", repo, "hash-object", "-w", "--stdin"], data=text.encode())
            _git(["-C", repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}"], env=env)
        tree = _git(["-C", repo, "write-tree"], env=env)
    parents = ["-p", parent] if parent else []
    commit = _git(["-C", repo, "commit-tree", tree, *parents, "-m", message])
    _git(["-C", repo, "update-ref", f"refs/heads/{branch}", commit, parent or "0" * 40])
    return commit


def read_file(path: Path, name: str, *, ref: str = "refs/heads/main") -> str:
    """The text of ``name`` at ``ref`` in the bare repository ``path``."""
    return _git(["-C", str(path), "show", f"{ref}:{name}"]) + "\n"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GitServerError(f"{what} exited with status {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise GitServerError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


class _Server:
    """A child process serving repositories under ``base_path``; stopped by its PID."""

    what = "git server"

    def __init__(self, base_path: Path, port: int | None = None) -> None:
        self.base_path = Path(base_path)
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """PID of the server process."""
        if self._process is None:
            raise GitServerError(f"{self.what} is not running")
        return self._process.pid

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return _git_env()

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it accepts connections."""
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            self._argv(), stdout=self._log, stderr=self._log, env=self._env(), start_new_session=True
        )
        try:
            _wait_for_port(self.port, self._process, timeout, self.what)
        except GitServerError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server by PID (TERM, then KILL) and reap it."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class GitDaemon(_Server):
    """``git daemon`` exporting every repository under ``base_path`` with push enabled."""

    what = "git daemon"

    def url(self, name: str) -> str:
        """``git://127.0.0.1:<port>/<name>``."""
        return f"git://127.0.0.1:{self.port}/{name}"

    def _argv(self) -> list[str]:
        return [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            f"--base-path={self.base_path}",
            "--listen=127.0.0.1",
            f"--port={self.port}",
            str(self.base_path),
        ]


class GitHttpServer(_Server):
    """Smart HTTP (``git http-backend``) for repositories under ``base_path``, optionally with basic auth."""

    what = "git http server"

    def __init__(
        self,
        base_path: Path,
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(base_path, port)
        self.username = username
        self.password = password

    def url(self, name: str) -> str:
        """``http://127.0.0.1:<port>/<name>`` (no credentials in it)."""
        return f"http://127.0.0.1:{self.port}/{name}"

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "sandbox.gitserver", "http", str(self.base_path), str(self.port)]
        return argv + (["--username", self.username] if self.username else [])

    def _env(self) -> dict[str, str]:
        env = {**_git_env(), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        if self.password is not None:
            env[AUTH_PASSWORD_ENV] = self.password
        return env


def _make_cgi_handler(
    base_path: Path, username: str | None, password: str | None
) -> type[BaseHTTPRequestHandler]:
    expected = (
        "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode() if username else None
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet; the test output is for the tests

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _cgi(self) -> None:
            body = self._body()
            if expected is not None:
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), expected.encode()):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="fleet"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            path, _, query = self.path.partition("?")
            env = {
                **_git_env(),
                "GIT_PROJECT_ROOT": str(base_path),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.receivepack",
                "GIT_CONFIG_VALUE_0": "true",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": "127.0.0.1",
                "REMOTE_USER": username or "anonymous",
                "SERVER_PROTOCOL": "HTTP/1.1",
            }
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False, timeout=60
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = done.stdout.partition(b"\n\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode(errors="replace").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name.strip(), value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def serve_http(base_path: Path, port: int, username: str | None, password: str | None) -> None:
    """Serve smart HTTP for ``base_path`` on 127.0.0.1:``port`` until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _make_cgi_handler(base_path, username, password))
    server.daemon_threads = True
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.gitserver http BASE PORT [--username U]`` (password from the environment)."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.gitserver")
    sub = parser.add_subparsers(dest="command", required=True)
    http = sub.add_parser("http", help="serve smart HTTP with git http-backend")
    http.add_argument("base_path", type=Path)
    http.add_argument("port", type=int)
    http.add_argument("--username")
    args = parser.parse_args(argv)
    serve_http(args.base_path, args.port, args.username, os.environ.get(AUTH_PASSWORD_ENV))


if __name__ == "__main__":
    main()
