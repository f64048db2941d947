"""The sandbox image table: which local command stands in for a container image.

The sandbox has no container runtime, so every image a Deployment may run is listed in a YAML file
(``sandbox/images.yaml`` by default) mapping the image reference to a command template and settings::

    commands:
      demoapp: ["{python}", "-m", "sandbox.demoapp", "--host", "{host}", "--port", "{port}",
                "--version", "{tag}", "--error-rate", "{error_rate}", "--latency-ms", "{latency_ms}"]
    images:
      demo/podinfo:1.2.0: {command: demoapp, error_rate: 0.2, latency_ms: 5}
      ghcr.io/acme/podinfo:*: {command: demoapp, error_rate: 0, latency_ms: 5}

An image is looked up exactly, then as ``<repository>:*``. An image that is in neither form is an
:class:`ImageNotConfigured` error, which the workload runner reports like the kubelet's
``ErrImagePull``. Placeholders: ``{python}`` (this interpreter), ``{host}`` and ``{port}`` (the
address and port the process must listen on: the Pod's own IP and its container's first declared
``containerPort`` on the process node, 127.0.0.1 and a free port in the emulator's runner),
``{image}``, ``{repository}``, ``{tag}`` and every setting of the image entry.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).with_name("images.yaml")
DEFAULT_READINESS_PATH = "/healthz"
_RESERVED_KEYS = frozenset({"command", "readiness_path", "env"})
_BUILTIN_PLACEHOLDERS = frozenset({"python", "host", "port", "image", "repository", "tag"})


class SandboxConfigError(ValueError):
    """The sandbox config file is malformed; the message names the file and the offending entry."""


class ImageNotConfigured(LookupError):
    """An image has no entry in the sandbox config (the sandbox's ``ErrImagePull``)."""


def split_image(image: str) -> tuple[str, str]:
    """``(repository, tag)`` of an image reference; the tag is ``latest`` when absent, digests kept whole."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


@dataclass(frozen=True)
class ImageCommand:
    """How to run one image: an argument template, settings, readiness path and extra environment."""

    image_pattern: str
    template: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    readiness_path: str = DEFAULT_READINESS_PATH
    env: Mapping[str, str] = field(default_factory=dict)

    def argv(self, image: str, port: int, host: str = "127.0.0.1") -> list[str]:
        """The command line for ``image`` listening on ``host:port``."""
        repository, tag = split_image(image)
        values: dict[str, Any] = {
            **{k: _format_setting(v) for k, v in self.settings.items()},
            "python": sys.executable,
            "host": host,
            "port": port,
            "image": image,
            "repository": repository,
            "tag": tag,
        }
        return [part.format(**values) for part in self.template]


def _format_setting(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class SandboxConfig:
    """The parsed image table."""

    images: Mapping[str, ImageCommand]
    source: str = "<memory>"

    def resolve(self, image: str) -> ImageCommand:
        """The command for ``image``: exact entry, else ``<repository>:*``, else ImageNotConfigured."""
        found = self.images.get(image)
        if found is None:
            found = self.images.get(f"{split_image(image)[0]}:*")
        if found is None:
            known = ", ".join(sorted(self.images)) or "none"
            raise ImageNotConfigured(
                f"image {image!r} is not in the sandbox config {self.source} (known images: {known}); "
                "add it under 'images:'"
            )
        return found

    def container(
        self, raw: object, where: str, error: type[ValueError] = SandboxConfigError
    ) -> tuple[Mapping[str, Any], str, str, ImageCommand | None, str | None]:
        """A pod template's container as the runners need it: ``(spec, name, image, command, why)``;
        ``command`` is None and ``why`` says so when the image is not in the table (reported like
        ``ErrImagePull``). ``error`` (the caller's) is raised for a container without name or image."""
        if not isinstance(raw, Mapping):
            raise error(f"{where} must be a mapping")
        name, image = raw.get("name"), raw.get("image")
        if not isinstance(name, str) or not name:
            raise error(f"{where}.name is missing")
        if not isinstance(image, str) or not image:
            raise error(f"{where}.image is missing")
        try:
            return raw, name, image, self.resolve(image), None
        except ImageNotConfigured as exc:
            return raw, name, image, None, str(exc)


def parse_sandbox_config(data: Any, source: str = "<memory>") -> SandboxConfig:
    """Validate and parse the loaded YAML document of a sandbox config file."""
    if not isinstance(data, Mapping):
        raise SandboxConfigError(f"{source}: the document must be a mapping with 'commands' and 'images'")
    commands = data.get("commands") or {}
    images = data.get("images")
    if not isinstance(commands, Mapping):
        raise SandboxConfigError(f"{source}: 'commands' must map a name to an argument list")
    if not isinstance(images, Mapping) or not images:
        raise SandboxConfigError(f"{source}: 'images' must map at least one image to its settings")
    templates: dict[str, tuple[str, ...]] = {}
    for name, argv in commands.items():
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise SandboxConfigError(f"{source}: commands.{name} must be a non-empty list of strings")
        templates[str(name)] = tuple(argv)
    parsed: dict[str, ImageCommand] = {}
    for image, entry in images.items():
        where = f"{source}: images[{image!r}]"
        if not isinstance(entry, Mapping):
            raise SandboxConfigError(f"{where} must be a mapping with at least 'command'")
        command = entry.get("command")
        if isinstance(command, str):
            if command not in templates:
                raise SandboxConfigError(
                    f"{where}: command {command!r} is not defined under 'commands' "
                    f"(defined: {', '.join(sorted(templates)) or 'none'})"
                )
            template = templates[command]
        elif isinstance(command, list) and command and all(isinstance(a, str) for a in command):
            template = tuple(command)
        else:
            raise SandboxConfigError(f"{where}: 'command' must name a command or be a list of strings")
        settings = {str(k): v for k, v in entry.items() if k not in _RESERVED_KEYS}
        _check_placeholders(template, settings, where)
        readiness = entry.get("readiness_path", DEFAULT_READINESS_PATH)
        if not isinstance(readiness, str) or not readiness.startswith("/"):
            raise SandboxConfigError(f"{where}: 'readiness_path' must be a path starting with '/'")
        env = entry.get("env") or {}
        if not isinstance(env, Mapping):
            raise SandboxConfigError(f"{where}: 'env' must map names to values")
        parsed[str(image)] = ImageCommand(
            image_pattern=str(image),
            template=template,
            settings=settings,
            readiness_path=readiness,
            env={str(k): str(v) for k, v in env.items()},
        )
    return SandboxConfig(images=parsed, source=source)


def _check_placeholders(template: tuple[str, ...], settings: Mapping[str, Any], where: str) -> None:
    allowed = _BUILTIN_PLACEHOLDERS | set(settings)
    for part in template:
        for _, name, _, _ in string.Formatter().parse(part):
            if name is not None and name not in allowed:
                raise SandboxConfigError(
                    f"{where}: the command uses {{{name}}} but the entry has no setting {name!r}"
                )


def load_sandbox_config(path: Path | None = None) -> SandboxConfig:
    """Read the sandbox config file (``sandbox/images.yaml`` when ``path`` is None)."""
    target = path or DEFAULT_CONFIG_PATH
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise SandboxConfigError(f"cannot read the sandbox config {target}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SandboxConfigError(f"{target} is not valid YAML: {exc}") from exc
    return parse_sandbox_config(data, source=str(target))
