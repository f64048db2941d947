"""`serinus get|explain|promote` against the API emulator through the kubernetes client and a kubeconfig.

Pins: the table lists the Canary with its status columns; explain speaks in words; promote sets the
annotation with a token, and a missing Canary is a clear error with exit code 1.
"""

from __future__ import annotations

import pytest

from controller import cli
from tests.integration.operator.conftest import NAME, NS, Cluster, canary_body


def test_get_explain_and_controls(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = str(cluster.server.kubeconfig)
    created = cluster.objs.create_namespaced_custom_object("serinus.dev", "v1alpha1", NS, "canaries",
                                                           canary_body("git://127.0.0.1:1/fleet.git"))
    created["status"] = {"phase": "Progressing", "canaryWeight": 25,
                         "currentRevision": {"commit": "9f1c2ab", "image": "ghcr.io/acme/podinfo:6.1.0"},
                         "checks": [{"time": "2026-01-01T00:00:00Z", "metric": "success-rate",
                                     "verdict": "FAIL", "value": 42.0, "range": {"min": 99},
                                     "query": "vector(42)"}]}
    cluster.objs.replace_namespaced_custom_object_status(
        "serinus.dev", "v1alpha1", NS, "canaries", NAME, created)

    assert cli.main(["get", "canaries", "-A", "--kubeconfig", kubeconfig]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAMESPACE", "NAME", "STATUS", "WEIGHT", "IMAGE", "LASTTRANSITION"]
    assert out[1].split()[:5] == [NS, NAME, "Progressing", "25", "ghcr.io/acme/podinfo:6.1.0"]

    assert cli.main(["explain", f"{NS}/{NAME}", "--kubeconfig", kubeconfig]) == 0
    text = capsys.readouterr().out
    assert "success-rate was 42, outside the accepted range (at least 99): counts as a failure" in text

    assert cli.main(["promote", f"{NS}/{NAME}", "--kubeconfig", kubeconfig]) == 0
    notes = cluster.canary()["metadata"]["annotations"]
    assert notes["serinus.dev/promote"]
    assert cli.main(["abort", f"{NS}/absent", "--kubeconfig", kubeconfig]) == 1
    assert "no Canary shop/absent" in capsys.readouterr().err
