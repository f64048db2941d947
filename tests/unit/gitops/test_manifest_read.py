"""Reading the declared image: the rules per file kind, and a precise error for every bad file."""

from __future__ import annotations

import pytest

from controller.gitops.imageref import ImageRef, parse_image
from controller.gitops.manifest import FileKind, ManifestError, detect_kind, read_image, read_pod_template

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  template:
    spec:
      containers:
      - name: app
        image: ghcr.io/acme/{name}:1.0
      - name: proxy
        image: envoyproxy/envoy:v1.30.1
"""


def test_detect_kind_by_file_name() -> None:
    assert detect_kind("apps/podinfo/kustomization.yaml", None) is FileKind.KUSTOMIZATION
    assert detect_kind("apps/podinfo/kustomization.yml", None) is FileKind.KUSTOMIZATION
    assert detect_kind("charts/podinfo/values-prod.yaml", "image.tag") is FileKind.HELM_VALUES
    assert detect_kind("apps/podinfo/deployment.yaml", None) is FileKind.MANIFEST


def test_values_file_without_values_key_is_an_error() -> None:
    with pytest.raises(ManifestError, match=r"^charts/x/values.yaml: a Helm values file needs source.git"):
        detect_kind("charts/x/values.yaml", None)


def test_values_key_on_a_kustomization_is_an_error() -> None:
    with pytest.raises(ManifestError, match="kustomization, which has no values"):
        detect_kind("kustomization.yaml", "image.tag")


def test_multi_document_picks_the_named_deployment_and_first_container() -> None:
    text = DEPLOY.format(name="web") + "---\n" + DEPLOY.format(name="podinfo")
    assert read_image(text, FileKind.MANIFEST, "podinfo") == "ghcr.io/acme/podinfo:1.0"
    assert read_image(text, FileKind.MANIFEST, "web") == "ghcr.io/acme/web:1.0"
    assert read_image(text, FileKind.MANIFEST, "podinfo", "proxy") == "envoyproxy/envoy:v1.30.1"


def test_missing_target_names_the_file_and_the_deployments_found() -> None:
    text = DEPLOY.format(name="web") + "---\n" + DEPLOY.format(name="api")
    with pytest.raises(ManifestError) as err:
        read_image(text, FileKind.MANIFEST, "podinfo", path="apps/podinfo/deployment.yaml")
    assert str(err.value) == "apps/podinfo/deployment.yaml: no Deployment named podinfo (found: web, api)"


def test_file_without_deployments_says_so() -> None:
    with pytest.raises(ManifestError, match=r"no Deployment named podinfo \(the file holds no Deployment\)"):
        read_image("kind: Service\nmetadata: {name: podinfo}\n", FileKind.MANIFEST, "podinfo")


def test_duplicate_deployments_are_ambiguous() -> None:
    text = DEPLOY.format(name="web") + "---\n" + DEPLOY.format(name="web")
    with pytest.raises(ManifestError, match="2 Deployments named web; expected exactly one"):
        read_image(text, FileKind.MANIFEST, "web")


def test_missing_container_lists_the_containers() -> None:
    with pytest.raises(ManifestError, match=r"no container named sidecar \(found: app, proxy\)"):
        read_image(DEPLOY.format(name="web"), FileKind.MANIFEST, "web", "sidecar")


def test_unparsable_yaml_gives_line_and_column() -> None:
    text = "kind: Deployment\nmetadata:\n  name: [web\n"
    with pytest.raises(ManifestError, match=r"^d.yaml: not valid YAML: .* at line \d+, column \d+"):
        read_image(text, FileKind.MANIFEST, "web", path="d.yaml")


def test_deployment_without_containers_or_image() -> None:
    with pytest.raises(ManifestError, match=r"has no spec.template.spec.containers list"):
        read_image("kind: Deployment\nmetadata: {name: a}\nspec: {}\n", FileKind.MANIFEST, "a")
    text = "kind: Deployment\nmetadata: {name: a}\nspec: {template: {spec: {containers: [{name: c}]}}}\n"
    with pytest.raises(ManifestError, match=r"container c of Deployment a .* has no image string"):
        read_image(text, FileKind.MANIFEST, "a")


def test_kustomization_rules() -> None:
    text = (
        "images:\n- name: podinfo\n  newTag: 1.2.3\n"
        "- {name: ghcr.io/acme/cart, newName: m/cart, digest: 'sha256:ab'}\n"
    )
    assert read_image(text, FileKind.KUSTOMIZATION, "podinfo") == "podinfo:1.2.3"
    # matched by the last path segment; newName replaces the name; a digest wins over any tag
    assert read_image(text, FileKind.KUSTOMIZATION, "cart") == "m/cart@sha256:ab"
    assert read_image(text, FileKind.KUSTOMIZATION, "x", container="cart") == "m/cart@sha256:ab"
    with pytest.raises(ManifestError, match=r"no images: entry named orders \(found: podinfo, ghcr.io/a"):
        read_image(text, FileKind.KUSTOMIZATION, "orders")
    one = "images:\n- name: only\n  newTag: '7'\n"
    assert read_image(one, FileKind.KUSTOMIZATION, "anything") == "only:7"
    with pytest.raises(ManifestError, match="has no images: list"):
        read_image("resources: [a.yaml]\n", FileKind.KUSTOMIZATION, "x")


def test_helm_values_rules() -> None:
    text = "image:\n  repository: ghcr.io/acme/app\n  tag: '2.0'\nsidecar:\n  tag: 9.9\nfull: ghcr.io/x:1\n"
    assert read_image(text, FileKind.HELM_VALUES, "app", values_key="image.tag") == "ghcr.io/acme/app:2.0"
    # no repository sibling: the tag alone is what the file declares
    assert read_image(text, FileKind.HELM_VALUES, "app", values_key="sidecar.tag") == "9.9"
    assert read_image(text, FileKind.HELM_VALUES, "app", values_key="full") == "ghcr.io/x:1"
    with pytest.raises(ManifestError, match=r"valuesKey image.missing: no non-empty string value"):
        read_image(text, FileKind.HELM_VALUES, "app", values_key="image.missing")
    with pytest.raises(ManifestError, match=r"valuesKey nope.tag: no mapping at nope"):
        read_image(text, FileKind.HELM_VALUES, "app", values_key="nope.tag")
    with pytest.raises(ManifestError, match="expected one YAML document, found 2"):
        read_image(text + "---\na: 1\n", FileKind.HELM_VALUES, "app", values_key="image.tag")
    with pytest.raises(ManifestError, match="the file is empty"):
        read_image("# nothing\n", FileKind.HELM_VALUES, "app", values_key="image.tag")


def test_empty_tag_in_values_is_not_a_declared_image() -> None:
    text = "image:\n  repository: ghcr.io/acme/app\n  tag: ''\n"
    with pytest.raises(ManifestError, match="no non-empty string value"):
        read_image(text, FileKind.HELM_VALUES, "app", values_key="image.tag")


def test_parse_image_splits_repository_tag_and_digest() -> None:
    assert parse_image("localhost:5000/app") == ImageRef("localhost:5000/app")
    assert parse_image("localhost:5000/app:1.0") == ImageRef("localhost:5000/app", "1.0")
    assert parse_image("app:1@sha256:ab") == ImageRef("app", "1", "sha256:ab")
    assert str(parse_image("app:1@sha256:ab")) == "app:1@sha256:ab"
    for bad in ("", "a b", "app@", "app:"):
        with pytest.raises(ValueError, match="invalid image reference"):
            parse_image(bad)


def test_pod_template_of_the_target_in_a_multi_document_manifest() -> None:
    """The whole template the file declares for the target (Serinus applies it); others are ignored."""
    text = "---\n".join([DEPLOY.format(name="web"), DEPLOY.format(name="podinfo")])
    template = read_pod_template(text, FileKind.MANIFEST, "podinfo", path="d.yaml")
    assert template is not None
    assert [c["image"] for c in template["spec"]["containers"]] == [
        "ghcr.io/acme/podinfo:1.0",
        "envoyproxy/envoy:v1.30.1",
    ]


def test_pod_template_is_none_for_kustomizations_and_values() -> None:
    """Kustomizations and Helm values declare an image, not a template."""
    assert read_pod_template("images: []\n", FileKind.KUSTOMIZATION, "podinfo") is None
    assert read_pod_template("image: {tag: '1'}\n", FileKind.HELM_VALUES, "podinfo") is None


def test_pod_template_errors_name_the_file_and_the_problem() -> None:
    """A missing target or template is a ManifestError naming the file."""
    with pytest.raises(ManifestError, match=r"d\.yaml: no Deployment named api"):
        read_pod_template(DEPLOY.format(name="web"), FileKind.MANIFEST, "api", path="d.yaml")
    bare = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {}\n"
    with pytest.raises(ManifestError, match=r"has no spec\.template"):
        read_pod_template(bare, FileKind.MANIFEST, "api", path="d.yaml")
