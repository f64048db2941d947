"""Git credentials from a Secret, handed to git without ever appearing in arguments, logs or errors.

The Secret's data (already base64-decoded by the Kubernetes adapter) is one of:

* ``username`` + ``password`` (HTTPS basic auth);
* ``token`` (HTTPS; sent as the password, with ``username`` if given, else ``x-access-token``);
* ``identity`` (a private key) + ``known_hosts`` (SSH; host keys are always checked strictly).

:func:`auth_environment` turns them into environment variables for ONE git child process: HTTPS
secrets go through ``GIT_ASKPASS``, a small script that prints variables set only in that child's
environment; an SSH key and ``known_hosts`` go into 0600 files in a 0700 directory deleted afterwards,
named by ``GIT_SSH_COMMAND``. :func:`scrub` removes secrets and URL user-info from any text git prints.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TOKEN_USERNAME = "x-access-token"  # noqa: S105 - a user name, not a secret
REDACTED = "***"

_ASKPASS = """#!/bin/sh
# Answers git's credential prompts from this process's environment only.
case "$1" in
  Username*) printf '%s\\n' "$SERINUS_GIT_USERNAME" ;;
  *) printf '%s\\n' "$SERINUS_GIT_PASSWORD" ;;
esac
"""

_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?[^/:\s]+:(?!//)")


class CredentialsError(ValueError):
    """The Secret or URL does not provide usable credentials; the message never contains a secret."""


@dataclass(frozen=True)
class Credentials:
    """Secrets for one repository. ``repr`` shows only which kind they are."""

    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    identity: str = field(default="", repr=False)
    known_hosts: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind})"

    @property
    def kind(self) -> str:
        """``ssh``, ``basic`` or ``none``."""
        if self.identity or self.known_hosts:
            return "ssh"
        return "basic" if self.password or self.username else "none"

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str | bytes], secret_name: str = "<secret>") -> Credentials:  # noqa: S107
        """Credentials from decoded Secret data; raises :class:`CredentialsError` naming missing keys."""
        text = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in data.items()}
        if "identity" in text or "known_hosts" in text:
            missing = [k for k in ("identity", "known_hosts") if not text.get(k)]
            if missing:
                raise CredentialsError(f"Secret {secret_name}: SSH needs {' and '.join(missing)}")
            identity = text["identity"] if text["identity"].endswith("\n") else text["identity"] + "\n"
            return cls(identity=identity, known_hosts=text["known_hosts"])
        if text.get("token"):
            return cls(username=text.get("username") or DEFAULT_TOKEN_USERNAME, password=text["token"])
        if text.get("username") and text.get("password"):
            return cls(username=text["username"], password=text["password"])
        keys = ", ".join(sorted(text)) or "none"
        raise CredentialsError(
            f"Secret {secret_name}: expected username+password, token, or identity+known_hosts (keys: {keys})"
        )

    def secrets(self) -> list[str]:
        """Every secret value, for :func:`scrub`."""
        values = [self.password, self.identity.strip()]
        if self.username and self.username != DEFAULT_TOKEN_USERNAME and not self.password:
            values.append(self.username)  # a token given as the user name of a URL
        values += [line.strip() for line in self.identity.splitlines() if len(line.strip()) >= 8]
        return [v for v in values if v]


def transport_of(url: str) -> str:
    """``https``, ``http``, ``ssh``, ``git`` or ``file``; :class:`CredentialsError` for anything else."""
    if "://" not in url:
        if _SCP_LIKE.match(url):
            return "ssh"
        raise CredentialsError(
            f"unsupported git URL {redact_url(url)!r}: expected https://, ssh://, git:// or file://"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("https", "http", "ssh", "git", "file"):
        return scheme
    raise CredentialsError(f"unsupported git URL scheme {scheme!r} in {redact_url(url)!r}")


def split_userinfo(url: str) -> tuple[str, Credentials | None]:
    """The URL without user-info, and basic credentials taken from it (so git never sees them in argv)."""
    if "://" not in url:
        return url, None
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    if parts.scheme in ("ssh",):
        # ssh://git@host/...: the user name is not a secret and ssh needs it in the URL.
        return url, None
    return clean, Credentials(username=user, password=password)


def redact_url(url: str) -> str:
    """``url`` with any user-info replaced by ``***``."""
    return _USERINFO.sub(rf"\1{REDACTED}@", url)


_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without URL user-info and without any of ``secrets``."""
    out = redact_url(text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        out = out.replace(secret, REDACTED)
    return out


@contextmanager
def auth_environment(
    url: str, credentials: Credentials | None, *, connect_timeout: int = 10
) -> Iterator[dict[str, str]]:
    """Environment variables that let one git child process authenticate to ``url``; cleaned up on exit."""
    transport = transport_of(url)
    with tempfile.TemporaryDirectory(prefix="serinus-git-auth-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, stat.S_IRWXU)
        askpass = directory / "askpass.sh"
        askpass.write_text(_ASKPASS)
        os.chmod(askpass, stat.S_IRWXU)
        env = {"GIT_ASKPASS": str(askpass), "SERINUS_GIT_USERNAME": "", "SERINUS_GIT_PASSWORD": ""}
        if transport == "ssh":
            if credentials is None or credentials.kind != "ssh":
                raise CredentialsError(
                    f"{redact_url(url)}: ssh needs a secretRef with identity and known_hosts "
                    "(host keys are always verified)"
                )
            key = _private_file(directory / "identity", credentials.identity)
            hosts = _private_file(directory / "known_hosts", credentials.known_hosts)
            env["GIT_SSH_COMMAND"] = " ".join(
                [
                    "ssh",
                    "-F",
                    "/dev/null",
                    "-i",
                    shlex.quote(str(key)),
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    f"UserKnownHostsFile={shlex.quote(str(hosts))}",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    f"ConnectTimeout={connect_timeout}",
                ]
            )
        elif credentials is not None and credentials.kind == "basic":
            if transport not in ("https", "http"):
                raise CredentialsError(
                    f"{redact_url(url)}: username/password credentials need an http(s) URL"
                )
            env["SERINUS_GIT_USERNAME"] = credentials.username
            env["SERINUS_GIT_PASSWORD"] = credentials.password
        yield env


def _private_file(path: Path, content: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return path
