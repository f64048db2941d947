"""A revert edits only the image scalar(s): every other byte of the file stays identical.

Each corpus file is real-world shaped (comments, Flux ``$imagepolicy`` markers, multi-document files,
anchors and merge keys, flow style, quoted and plain scalars, digests, kustomize and Helm values). For
each one the test reads the declared image, reverts it, and proves that the new text equals the old
text with only the expected scalar token(s) replaced, in the same quoting style, for LF and CRLF files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from controller.gitops.manifest import FileKind, ManifestError, read_image, revert_image

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Case:
    file: str
    target: str
    declared: str
    to_image: str
    container: str | None = None
    values_key: str | None = None
    scalars_changed: int = 1


DIGEST_B = "sha256:" + "b" * 64
CASES = [
    Case(
        "01-flux-marker.yaml",
        "podinfo",
        "ghcr.io/stefanprodan/podinfo:6.5.1",
        "ghcr.io/stefanprodan/podinfo:6.5.0",
    ),
    Case(
        "02-multi-doc.yaml",
        "podinfo",
        "ghcr.io/stefanprodan/podinfo:6.5.1",
        "ghcr.io/stefanprodan/podinfo:6.4.0",
    ),
    Case("02-multi-doc.yaml", "web", "nginx:1.25.3", "nginx:1.25.2"),
    Case(
        "03-sidecar-named-container.yaml",
        "checkout",
        "ghcr.io/acme/checkout:2.4.0",
        "ghcr.io/acme/checkout:2.3.9",
        container="app",
    ),
    Case(
        "03-sidecar-named-container.yaml", "checkout", "envoyproxy/envoy:v1.30.1", "envoyproxy/envoy:v1.30.0"
    ),
    Case(
        "04-double-quoted.yaml",
        "api",
        "registry.example.com:5000/team/api:v2.3.1",
        "registry.example.com:5000/team/api:v2.3.0",
    ),
    Case(
        "05-single-quoted.yaml",
        "frontend",
        "docker.io/library/nginx:1.25.3-alpine",
        "docker.io/library/nginx:1.25.2-alpine",
    ),
    Case(
        "06-digest.yaml",
        "payments",
        "ghcr.io/acme/payments@sha256:4b0f2f8b3b1f1e0b5b8a9a2c6d7e8f90123456789abcdef0123456789abcdef0",
        f"ghcr.io/acme/payments@{DIGEST_B}",
    ),
    Case(
        "07-tag-and-digest.yaml",
        "search",
        "ghcr.io/acme/search:3.1.0@sha256:" + "1" * 64,
        f"ghcr.io/acme/search:3.0.0@{DIGEST_B}",
    ),
    Case("08-anchors-merge.yaml", "worker", "ghcr.io/acme/worker:1.8.0", "ghcr.io/acme/worker:1.7.3"),
    Case(
        "08-anchors-merge.yaml",
        "worker",
        "ghcr.io/acme/worker:1.8.0",
        "ghcr.io/acme/worker:1.7.3",
        container="metrics",
    ),
    Case("09-flow-style.yaml", "tiny", "ghcr.io/acme/tiny:0.1.0", "ghcr.io/acme/tiny:0.0.9"),
    Case("10-flow-plain.yaml", "edge", "ghcr.io/acme/edge:5.0.0", "ghcr.io/acme/edge:4.9.1"),
    Case(
        "11-kustomization-flux.yaml",
        "podinfo",
        "ghcr.io/stefanprodan/podinfo:6.5.1",
        "ghcr.io/stefanprodan/podinfo:6.5.0",
    ),
    Case(
        "12-kustomization-newname.yaml",
        "podinfo",
        "registry.example.com/mirror/podinfo:6.5.1",
        "registry.example.com/mirror/podinfo:6.5.0",
    ),
    Case(
        "12-kustomization-newname.yaml",
        "podinfo",
        "registry.example.com/mirror/podinfo:6.5.1",
        "ghcr.io/stefanprodan/podinfo:6.4.0",
        scalars_changed=2,
    ),
    Case("12-kustomization-newname.yaml", "cache", "redis:7.2.4", "redis:7.2.3", container="redis"),
    Case(
        "13-kustomization-digest.yaml",
        "ledger",
        "ghcr.io/acme/ledger@sha256:aaaa" + "0" * 60,
        f"ghcr.io/acme/ledger@{DIGEST_B}",
    ),
    Case(
        "14-values-tag.yaml",
        "podinfo",
        "ghcr.io/stefanprodan/podinfo:6.5.1",
        "ghcr.io/stefanprodan/podinfo:6.5.0",
        values_key="image.tag",
    ),
    Case(
        "15-values-registry.yaml",
        "redis",
        "docker.io/bitnami/redis:7.2.4-debian-12-r9",
        "docker.io/bitnami/redis:7.2.4-debian-12-r8",
        values_key="image.tag",
    ),
    Case(
        "16-values-full-image.yaml",
        "orders",
        "ghcr.io/acme/orders:4.0.2",
        "ghcr.io/acme/orders:4.0.1",
        values_key="app.image",
    ),
    Case(
        "17-values-numeric-tag.yaml",
        "legacy",
        "ghcr.io/acme/legacy:v1.10",
        "ghcr.io/acme/legacy:v1.9",
        values_key="image.tag",
    ),
    Case(
        "18-indentless-four-spaces.yaml",
        "billing",
        "ghcr.io/acme/billing:1.4.2",
        "ghcr.io/acme/billing:1.4.1",
    ),
    Case("19-tagged-scalar.yaml", "tagged", "ghcr.io/acme/tagged:2.0.0", "ghcr.io/acme/tagged:1.9.0"),
    Case("20-list-with-deployments.yaml", "cart", "ghcr.io/acme/cart:1.1.0", "ghcr.io/acme/cart:1.0.0"),
]


def kind_of(case: Case) -> FileKind:
    """Corpus files carry a numeric prefix, so the kind is given here rather than detected from the name."""
    if "kustomization" in case.file:
        return FileKind.KUSTOMIZATION
    return FileKind.HELM_VALUES if case.values_key else FileKind.MANIFEST


def scalar_tokens(text: str) -> list[yaml.ScalarToken]:
    return [t for t in yaml.scan(text, Loader=yaml.SafeLoader) if isinstance(t, yaml.ScalarToken)]


def changed_scalars(old: str, new: str) -> list[tuple[str, str]]:
    """The (old, new) source text of every scalar token that differs; fails unless nothing else differs."""
    old_tokens, new_tokens = scalar_tokens(old), scalar_tokens(new)
    assert len(old_tokens) == len(new_tokens), "the revert added or removed scalars"
    changed = [
        (o, n)
        for o, n in zip(old_tokens, new_tokens, strict=True)
        if old[o.start_mark.index : o.end_mark.index] != new[n.start_mark.index : n.end_mark.index]
    ]
    rebuilt = old
    for o, n in reversed(changed):
        rebuilt = rebuilt[: o.start_mark.index] + source(new, n) + rebuilt[o.end_mark.index :]
    assert rebuilt == new, "bytes outside the image scalar changed"
    return [(source(old, o), source(new, n)) for o, n in changed]


def source(text: str, token: yaml.ScalarToken) -> str:
    return text[token.start_mark.index : token.end_mark.index]


def test_corpus_is_large_and_every_file_is_covered() -> None:
    files = {p.name for p in CORPUS.glob("*.yaml")}
    assert len(files) >= 15
    assert files == {c.file for c in CASES}


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.file}:{c.container or c.target}>{c.to_image[-9:]}")
def test_revert_changes_only_the_image_scalar(case: Case, newline: str) -> None:
    text = (CORPUS / case.file).read_text().replace("\n", newline)
    kind = kind_of(case)
    assert read_image(text, kind, case.target, case.container, case.values_key) == case.declared

    new = revert_image(text, kind, case.target, case.container, case.values_key, to_image=case.to_image)

    assert read_image(new, kind, case.target, case.container, case.values_key) == case.to_image
    changes = changed_scalars(text, new)
    assert len(changes) == case.scalars_changed
    for before, after in changes:
        # Quoting style is kept: a quoted scalar stays quoted with the same quote character.
        if before[0] in "'\"":
            assert after[0] == before[0] and after[-1] == before[-1]
        assert "\n" not in after and "\r" not in after
    assert new.count("\r\n") == text.count("\r\n")
    if "$imagepolicy" in text:
        marker = next(ln for ln in text.splitlines() if "$imagepolicy" in ln).split("#", 1)[1]
        assert next(ln for ln in new.splitlines() if "$imagepolicy" in ln).endswith(marker)


def test_revert_to_the_declared_image_returns_the_text_unchanged() -> None:
    text = (CORPUS / "01-flux-marker.yaml").read_text()
    same = "ghcr.io/stefanprodan/podinfo:6.5.1"
    assert revert_image(text, FileKind.MANIFEST, "podinfo", to_image=same) is text


def test_anchor_is_edited_at_its_definition_so_aliases_follow() -> None:
    text = (CORPUS / "08-anchors-merge.yaml").read_text()
    new = revert_image(text, FileKind.MANIFEST, "worker", "metrics", to_image="ghcr.io/acme/worker:1.7.3")
    assert 'image: &img ghcr.io/acme/worker:1.7.3 # {"$imagepolicy": "apps:worker"}' in new
    assert "image: *img" in new


def test_plain_scalar_that_would_change_type_is_quoted() -> None:
    """``v1.10`` -> ``1.9`` must not become the float 1.9 in Helm: the new tag is double-quoted."""
    text = (CORPUS / "17-values-numeric-tag.yaml").read_text()
    new = revert_image(
        text, FileKind.HELM_VALUES, "legacy", values_key="image.tag", to_image="ghcr.io/acme/legacy:1.9"
    )
    assert changed_scalars(text, new) == [("v1.10", '"1.9"')]
    assert yaml.safe_load(new)["image"]["tag"] == "1.9"


def test_plain_scalar_in_flow_mapping_with_comma_gets_quoted() -> None:
    text = "kind: Deployment\nmetadata: {name: a}\nspec: {template: {spec: {containers: [{image: x:1}]}}}\n"
    new = revert_image(text, FileKind.MANIFEST, "a", to_image="x:1,2")
    assert 'image: "x:1,2"}' in new
    assert read_image(new, FileKind.MANIFEST, "a") == "x:1,2"


def test_single_quotes_inside_a_single_quoted_scalar_are_doubled() -> None:
    text = "kind: Deployment\nmetadata: {name: a}\nspec: {template: {spec: {containers: [{image: 'x:1'}]}}}\n"
    new = revert_image(text, FileKind.MANIFEST, "a", to_image="x:it's")
    assert "image: 'x:it''s'" in new


def test_block_scalar_image_is_refused_rather_than_rewritten() -> None:
    text = (
        "kind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - image: |\n          x:1\n"
    )
    with pytest.raises(ManifestError, match="block scalar"):
        revert_image(text, FileKind.MANIFEST, "a", to_image="x:2")


def test_invalid_target_image_is_refused() -> None:
    text = (CORPUS / "01-flux-marker.yaml").read_text()
    with pytest.raises(ManifestError, match="invalid image reference"):
        revert_image(text, FileKind.MANIFEST, "podinfo", to_image="ghcr.io/x y")


def test_kustomization_digest_entry_cannot_be_reverted_to_a_tag() -> None:
    text = (CORPUS / "13-kustomization-digest.yaml").read_text()
    with pytest.raises(ManifestError, match="removing the entry's digest"):
        revert_image(text, FileKind.KUSTOMIZATION, "ledger", to_image="ghcr.io/acme/ledger:1.0")


def test_kustomization_without_newname_cannot_change_repository() -> None:
    text = (CORPUS / "11-kustomization-flux.yaml").read_text()
    with pytest.raises(ManifestError, match="needs a newName"):
        revert_image(text, FileKind.KUSTOMIZATION, "podinfo", to_image="quay.io/other/podinfo:1")
