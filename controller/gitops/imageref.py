"""Container image references split into repository, tag and digest (pure).

The split follows the Docker reference grammar closely enough for declared images: a digest follows
the last ``@``; a tag follows the last ``:`` that comes after the last ``/`` (so a registry port such
as ``localhost:5000/app`` is not mistaken for a tag).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRef:
    """``repository[:tag][@digest]``; ``tag`` and ``digest`` are empty strings when absent."""

    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(reference: str) -> ImageRef:
    """Split an image reference; raises ``ValueError`` naming the reference when it is empty or malformed."""
    text = reference.strip()
    if not text or any(ch.isspace() for ch in text):
        raise ValueError(f"invalid image reference {reference!r}: empty or contains whitespace")
    name, _, digest = text.partition("@")
    if "@" in text and (not digest or ":" not in digest):
        raise ValueError(f"invalid image reference {reference!r}: a digest must look like algorithm:hex")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        repository, tag = name[:colon], name[colon + 1 :]
        if not tag:
            raise ValueError(f"invalid image reference {reference!r}: empty tag after ':'")
    else:
        repository, tag = name, ""
    if not repository:
        raise ValueError(f"invalid image reference {reference!r}: no repository")
    return ImageRef(repository, tag, digest)
