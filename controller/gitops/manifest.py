"""Read the declared image from a file in Git, and revert it as a minimal textual edit (pure; no git).

Three kinds of file are understood (:func:`detect_kind` picks one from the file name):

``manifest``
    Kubernetes YAML, possibly several documents. The Deployment is matched by ``kind: Deployment`` and
    ``metadata.name``; the container by ``name`` (default: the first of ``spec.template.spec.containers``).
    The declared image is that container's ``image``.
``kustomization``
    ``kustomization.yaml``/``.yml``. The ``images:`` entry is chosen as follows: the entry whose ``name``
    (or its last path segment) equals ``container`` when one is given, else equals the target name, else
    the only entry. The declared image is what the entry resolves to: ``newName`` (or ``name``), then
    ``@digest`` when a digest is set (kustomize lets a digest win over a tag), else ``:newTag`` when set.
``helm-values``
    A Helm values file read at the dotted ``valuesKey`` (``image.tag``). When the key's last segment is
    ``tag`` and the mapping holding it has a ``repository`` string, the declared image is
    ``[registry/]repository:tag`` (``registry`` when that sibling exists too); otherwise the scalar's
    value is the declared image as written (``image: ghcr.io/acme/app:1.0`` with ``valuesKey: image``).

:func:`revert_image` changes only the scalar(s) that hold the image: it locates their exact character
span from PyYAML's scanner tokens and splices a new value in the same quoting style, so comments, key
order, indentation, line endings and markers such as Flux's ``# {"$imagepolicy": "ns:policy"}`` stay
byte-identical. A plain scalar whose new value would not read back as the same string (``1.10`` would
read as a number) is written double-quoted instead. An image held by a YAML anchor is edited at the
anchor, which is the single place the file declares it. Every failure is a :class:`ManifestError` whose
message names the file and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.gitops.imageref import parse_image

STR_TAG = "tag:yaml.org,2002:str"


class FileKind(StrEnum):
    """How the declared image is stored in the tracked file."""

    MANIFEST = "manifest"
    KUSTOMIZATION = "kustomization"
    HELM_VALUES = "helm-values"


class ManifestError(ValueError):
    """The file is missing, unparsable, or does not declare the target's image where expected."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def detect_kind(path: str, values_key: str | None) -> FileKind:
    """The kind of file by its name: kustomization.yaml/.yml, a values file with ``valuesKey``, else manifest.

    A ``valuesKey`` only has a meaning for a Helm values file, so giving one selects that kind; a file
    named ``values*.yaml`` without a ``valuesKey`` is an error rather than a guess.
    """
    name = PurePosixPath(path).name
    if name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if values_key:
            raise ManifestError(path, "valuesKey is set but the file is a kustomization, which has no values")
        return FileKind.KUSTOMIZATION
    if values_key:
        return FileKind.HELM_VALUES
    if name.startswith("values") and name.endswith((".yaml", ".yml")):
        raise ManifestError(path, "a Helm values file needs source.git.valuesKey (for example image.tag)")
    return FileKind.MANIFEST


# An edit replaces one scalar node's value; a locator returns the declared image and a function that
# maps the image to restore onto the edits that make the file declare it.
Edit = tuple[ScalarNode, str]


@dataclass(frozen=True)
class _Located:
    image: str
    edits_for: Callable[[str], list[Edit]]


def read_image(
    text: str,
    kind: FileKind,
    target_name: str,
    container: str | None = None,
    values_key: str | None = None,
    *,
    path: str = "<manifest>",
) -> str:
    """The image the file declares for the target (see the module docstring for the rules per kind)."""
    return _locate(text, kind, target_name, container, values_key, path=path).image


def read_pod_template(
    text: str, kind: FileKind, target_name: str, *, path: str = "<manifest>"
) -> dict[str, Any] | None:
    """The pod template of the target Deployment in a manifest file; None for kustomizations and Helm values.

    Serinus applies this template to the target when a revision starts (it is the applier), so what
    runs is what the file declares, not only its image. Errors are those of :func:`read_image`.
    """
    if kind is not FileKind.MANIFEST:
        return None
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(path, f"not valid YAML: {exc}") from None
    for doc in documents:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "Deployment"
            and isinstance(doc.get("metadata"), dict)
            and doc["metadata"].get("name") == target_name
        ):
            template = (doc.get("spec") or {}).get("template")
            if not isinstance(template, dict):
                raise ManifestError(path, f"Deployment {target_name} has no spec.template")
            return template
    raise ManifestError(path, f"no Deployment named {target_name}")


def revert_image(
    text: str,
    kind: FileKind,
    target_name: str,
    container: str | None = None,
    values_key: str | None = None,
    *,
    to_image: str,
    path: str = "<manifest>",
) -> str:
    """``text`` with the target's image set to ``to_image``, changing nothing but the image scalar(s).

    Returns ``text`` unchanged when it already declares ``to_image``.
    """
    located = _locate(text, kind, target_name, container, values_key, path=path)
    if located.image == to_image:
        return text
    try:
        parse_image(to_image)
    except ValueError as exc:
        raise ManifestError(path, str(exc)) from None
    edits = located.edits_for(to_image)
    spans = _scalar_spans(text, path)
    result = text
    # Splice from the end so earlier offsets stay valid; one node may back several aliases, edit it once.
    unique: dict[int, Edit] = {}
    for node, value in edits:
        unique[node.end_mark.index] = (node, value)
    for end in sorted(unique, reverse=True):
        node, value = unique[end]
        start = spans.get(end)
        if start is None:
            raise ManifestError(path, f"cannot locate the scalar at line {_line(node)} to edit it")
        result = result[:start] + _render(node, value, path) + result[end:]
    after = _locate(result, kind, target_name, container, values_key, path=path).image
    if after != to_image:
        raise ManifestError(path, f"editing the image produced {after!r} instead of {to_image!r}")
    return result


# -- locating --------------------------------------------------------------------------------------


def _locate(
    text: str, kind: FileKind, target: str, container: str | None, values_key: str | None, *, path: str
) -> _Located:
    if kind is FileKind.MANIFEST:
        return _locate_deployment(_documents(text, path), target, container, path)
    if kind is FileKind.KUSTOMIZATION:
        return _locate_kustomization(_single_document(text, path), target, container, path)
    if not values_key:
        raise ManifestError(path, "a Helm values file needs source.git.valuesKey (for example image.tag)")
    return _locate_values(_single_document(text, path), values_key, path)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"


def _documents(text: str, path: str) -> list[Node]:
    try:
        return [doc for doc in yaml.compose_all(text, Loader=yaml.SafeLoader) if doc is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(path, _yaml_problem(exc)) from None


def _single_document(text: str, path: str) -> MappingNode:
    docs = _documents(text, path)
    if not docs:
        raise ManifestError(path, "the file is empty")
    if len(docs) > 1:
        raise ManifestError(path, f"expected one YAML document, found {len(docs)}")
    if not isinstance(docs[0], MappingNode):
        raise ManifestError(path, "the top level is not a mapping")
    return docs[0]


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _pairs(mapping: MappingNode) -> Iterator[tuple[Node, Node]]:
    """Key/value pairs, explicit keys first (last duplicate wins), then those merged in by ``<<``."""
    explicit = [(k, v) for k, v in mapping.value if not (isinstance(k, ScalarNode) and k.value == "<<")]
    yield from reversed(explicit)
    for key, value in mapping.value:
        if isinstance(key, ScalarNode) and key.value == "<<":
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                if isinstance(source, MappingNode):
                    yield from _pairs(source)


def _get(mapping: Node, key: str) -> Node | None:
    if not isinstance(mapping, MappingNode):
        return None
    for k, v in _pairs(mapping):
        if isinstance(k, ScalarNode) and k.value == key:
            return v
    return None


def _get_path(node: Node, dotted: str) -> Node | None:
    current: Node | None = node
    for part in dotted.split("."):
        current = _get(current, part) if current is not None else None
    return current


def _string(node: Node | None) -> str | None:
    """The scalar's text as written (a plain ``1.10`` stays ``"1.10"``); None for non-scalars and null."""
    if not isinstance(node, ScalarNode):
        return None
    if node.style is None and node.tag == "tag:yaml.org,2002:null":
        return None
    return str(node.value)


def _locate_deployment(docs: list[Node], target: str, container: str | None, path: str) -> _Located:
    found: list[tuple[str, MappingNode]] = []
    for doc in docs:
        if isinstance(doc, MappingNode) and _string(_get(doc, "kind")) == "Deployment":
            name = _string(_get_path(doc, "metadata.name")) or "<unnamed>"
            found.append((name, doc))
    matches = [doc for name, doc in found if name == target]
    if not matches:
        names = ", ".join(name for name, _ in found)
        seen = f"found: {names}" if names else "the file holds no Deployment"
        raise ManifestError(path, f"no Deployment named {target} ({seen})")
    if len(matches) > 1:
        raise ManifestError(path, f"{len(matches)} Deployments named {target}; expected exactly one")
    deployment = matches[0]
    containers = _get_path(deployment, "spec.template.spec.containers")
    if not isinstance(containers, SequenceNode) or not containers.value:
        raise ManifestError(
            path, f"Deployment {target} (line {_line(deployment)}) has no spec.template.spec.containers list"
        )
    if container is None:
        chosen = containers.value[0]
        label = _string(_get(chosen, "name")) or "#0"
    else:
        by_name = [c for c in containers.value if _string(_get(c, "name")) == container]
        if not by_name:
            names = ", ".join(_string(_get(c, "name")) or "<unnamed>" for c in containers.value)
            raise ManifestError(
                path, f"Deployment {target} has no container named {container} (found: {names})"
            )
        chosen, label = by_name[0], container
    image = _get(chosen, "image")
    value = _string(image)
    if not isinstance(image, ScalarNode) or not value:
        raise ManifestError(
            path, f"container {label} of Deployment {target} (line {_line(chosen)}) has no image string"
        )

    def edits(to_image: str) -> list[Edit]:
        return [(image, to_image)]

    return _Located(value, edits)


def _locate_kustomization(doc: MappingNode, target: str, container: str | None, path: str) -> _Located:
    images = _get(doc, "images")
    if not isinstance(images, SequenceNode) or not images.value:
        raise ManifestError(path, "the kustomization has no images: list")
    entries = [e for e in images.value if isinstance(e, MappingNode)]
    names = [_string(_get(e, "name")) or "" for e in entries]

    def matching(wanted: str) -> list[int]:
        return [i for i, n in enumerate(names) if n == wanted or n.rsplit("/", 1)[-1] == wanted]

    wanted = container or target
    picks = matching(wanted)
    if not picks and container is None and len(entries) == 1:
        picks = [0]
    if len(picks) != 1:
        listed = ", ".join(names) or "none"
        how = "no" if not picks else f"{len(picks)}"
        raise ManifestError(path, f"{how} images: entry named {wanted} (found: {listed})")
    entry = entries[picks[0]]
    name_node, new_name, new_tag, digest = (_get(entry, k) for k in ("name", "newName", "newTag", "digest"))
    repository = _string(new_name) or _string(name_node)
    if not repository:
        raise ManifestError(path, f"images: entry at line {_line(entry)} has no name")
    digest_value, tag_value = _string(digest) or "", _string(new_tag) or ""
    image = repository + (f"@{digest_value}" if digest_value else f":{tag_value}" if tag_value else "")

    def edits(to_image: str) -> list[Edit]:
        ref = parse_image(to_image)
        out: list[Edit] = []
        if ref.repository != repository:
            if not isinstance(new_name, ScalarNode):
                raise ManifestError(
                    path, f"restoring {to_image} needs a newName in the images: entry {names[picks[0]]}"
                )
            out.append((new_name, ref.repository))
        if ref.digest:
            if ref.tag or not isinstance(digest, ScalarNode):
                raise ManifestError(
                    path, f"restoring {to_image} needs a digest (and no tag) in the images: entry {wanted}"
                )
            out.append((digest, ref.digest))
        else:
            if digest_value:
                raise ManifestError(path, f"restoring {to_image} would need removing the entry's digest")
            if not ref.tag or not isinstance(new_tag, ScalarNode):
                raise ManifestError(
                    path, f"restoring {to_image} needs a newTag in the images: entry {wanted}"
                )
            out.append((new_tag, ref.tag))
        return out

    return _Located(image, edits)


def _locate_values(doc: MappingNode, values_key: str, path: str) -> _Located:
    parts = values_key.split(".")
    if any(not p for p in parts):
        raise ManifestError(path, f"valuesKey {values_key!r} has an empty segment")
    parent: Node = doc
    for depth, part in enumerate(parts[:-1]):
        child = _get(parent, part)
        if not isinstance(child, MappingNode):
            where = ".".join(parts[: depth + 1])
            raise ManifestError(path, f"valuesKey {values_key}: no mapping at {where}")
        parent = child
    leaf = _get(parent, parts[-1])
    value = _string(leaf)
    if not isinstance(leaf, ScalarNode) or not value:
        raise ManifestError(path, f"valuesKey {values_key}: no non-empty string value")
    repository_node = _get(parent, "repository") if parts[-1] == "tag" else None
    repository = _string(repository_node)
    if not isinstance(repository_node, ScalarNode) or not repository:

        def single(to_image: str) -> list[Edit]:
            return [(leaf, to_image)]

        return _Located(value, single)
    registry_node = _get(parent, "registry")
    registry = _string(registry_node) or ""
    full = f"{registry}/{repository}" if registry else repository

    def composite(to_image: str) -> list[Edit]:
        ref = parse_image(to_image)
        if not ref.tag:
            raise ManifestError(path, f"valuesKey {values_key} holds a tag, but {to_image} has none")
        out: list[Edit] = [(leaf, to_image[len(ref.repository) + 1 :])]
        if ref.repository != full:
            if registry and isinstance(registry_node, ScalarNode) and "/" in ref.repository:
                new_registry, new_repository = ref.repository.split("/", 1)
                out.append((registry_node, new_registry))
                out.append((repository_node, new_repository))
            else:
                out.append((repository_node, ref.repository))
        return [(node, v) for node, v in out if v != node.value]

    return _Located(f"{full}:{value}", composite)


# -- splicing --------------------------------------------------------------------------------------


def _scalar_spans(text: str, path: str) -> dict[int, int]:
    """End offset -> start offset of every scalar token (without its anchor or tag)."""
    spans: dict[int, int] = {}
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.ScalarToken):
                spans[token.end_mark.index] = token.start_mark.index
    except yaml.YAMLError as exc:
        raise ManifestError(path, _yaml_problem(exc)) from None
    return spans


_PLAIN_UNSAFE = re.compile(r"[,\[\]{}#\s]|:$")  # also unsafe inside flow collections
_PLAIN_UNSAFE_FIRST = set("-?:,[]{}#&*!|>'\"%@`")


def _render(node: ScalarNode, value: str, path: str) -> str:
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise ManifestError(path, f"refusing to write a control character in {value!r}")
    if node.style == "'":
        return "'" + value.replace("'", "''") + "'"
    if node.style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if node.style in ("|", ">"):
        raise ManifestError(path, f"the image at line {_line(node)} is a block scalar; not rewriting it")
    if _plain_reads_back(value, node.tag):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain_reads_back(value: str, tag: str) -> bool:
    """Whether ``value`` written plain reads back as the same text with the same resolved type."""
    if not value or value[0] in _PLAIN_UNSAFE_FIRST or _PLAIN_UNSAFE.search(value):
        return False
    try:
        node = yaml.compose(f"k: {value}\n", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    if not isinstance(node, MappingNode) or len(node.value) != 1:
        return False
    parsed = node.value[0][1]
    # A plain scalar that was a string must stay a string; one that read as a number may stay a number.
    return isinstance(parsed, ScalarNode) and parsed.value == value and parsed.tag in (tag, STR_TAG)
