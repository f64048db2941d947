"""Build the real control plane from its published Go modules into ``.tools/``, once per version.

``python3 sandbox/kubernetes/build.py [--tools DIR]`` (what ``./dev setup`` runs; standard library
only, so it runs before the virtualenv exists) builds, from the Go module beside this file:

- ``etcd`` from ``go.etcd.io/etcd/server/v3`` (the release ``k8s.io/kubernetes`` itself requires),
- ``kube-apiserver``, ``kube-controller-manager`` and ``kube-scheduler`` from ``k8s.io/kubernetes``,

into ``DIR/kubernetes-<version>/bin/`` with a stamp naming what was built. A second run whose go.mod,
go.sum, Go version and flags are unchanged builds nothing. Go's module and build caches stay where Go
keeps them, so a fresh clone on the same machine only links. It prints what it builds and how long each
step took; a failed build names the module and ends with Go's own error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parent
KUBERNETES_VERSION = "v1.37.2"
# The version the binaries report (kubectl version, /version): what `make` would stamp from the tag.
_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
BUILD_FLAGS = ("-trimpath", "-buildvcs=false")

# binary name -> (package, module that provides it)
BINARIES: dict[str, tuple[str, str]] = {
    "etcd": ("go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/server/v3"),
    "kube-apiserver": ("k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes"),
    "kube-controller-manager": ("k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes"),
    "kube-scheduler": ("k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes"),
}


class BuildError(RuntimeError):
    """A binary could not be built; the message names the module and carries Go's error."""


def install_dir(tools: Path, version: str = KUBERNETES_VERSION) -> Path:
    """Where the binaries of ``version`` live under ``tools``."""
    return Path(tools) / f"kubernetes-{version}"


def ldflags(version: str = KUBERNETES_VERSION) -> str:
    """Linker flags: no symbol tables, and the release's version stamped as Kubernetes' build does."""
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean",
             "gitCommit": "0000000000000000000000000000000000000000",
             "buildDate": "1970-01-01T00:00:00Z"}  # fmt: skip
    parts = ["-s", "-w"]
    for package in _VERSION_PACKAGES:
        parts += [f"-X {package}.{key}={value}" for key, value in stamp.items()]
    return " ".join(parts)


def _go_version(go: str) -> str:
    return subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def fingerprint(go: str) -> dict[str, str]:
    """What the binaries depend on: the module files, Go's version and the flags."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((MODULE_DIR / name).read_bytes())
    return {
        "kubernetes": KUBERNETES_VERSION,
        "modules": digest.hexdigest(),
        "go": _go_version(go),
        "flags": " ".join(BUILD_FLAGS) + " " + ldflags(),
    }


def is_built(tools: Path, go: str) -> bool:
    """True when every binary is there and was built from what the module declares now."""
    target = install_dir(tools)
    stamp = target / "build.json"
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return recorded == fingerprint(go) and all((target / "bin" / name).is_file() for name in BINARIES)


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def build(tools: Path, go: str = "go") -> bool:
    """Build every binary that is missing or stale; return False when there was nothing to do."""
    if shutil.which(go) is None:
        raise BuildError(f"the Go toolchain ({go}) is not installed; the real control plane needs Go 1.26+")
    if is_built(tools, go):
        return False
    target = install_dir(tools)
    staging = target / "bin.part"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env = dict(os.environ)
    started = time.monotonic()
    _say(f"downloading the modules of {MODULE_DIR / 'go.mod'}")
    _run([go, "mod", "download"], env, "the Go modules of sandbox/kubernetes/go.mod")
    _say(f"modules ready in {time.monotonic() - started:.0f}s")
    for name, (package, module) in BINARIES.items():
        step = time.monotonic()
        _say(f"building {name} ({package}, module {module}@{_module_version(module, go)})")
        _run([go, "build", *BUILD_FLAGS, "-ldflags", ldflags(), "-o", str(staging / name), package], env,
             f"{name} from module {module}")  # fmt: skip
        _say(f"built {name} in {time.monotonic() - step:.0f}s")
    shutil.rmtree(target / "bin", ignore_errors=True)
    staging.rename(target / "bin")
    (target / "build.json").write_text(json.dumps(fingerprint(go), indent=2) + "\n")
    size = sum(p.stat().st_size for p in (target / "bin").iterdir()) / 2**20
    _say(f"control plane {KUBERNETES_VERSION} built in {time.monotonic() - started:.0f}s "
         f"({size:.0f} MiB in {target / 'bin'})")  # fmt: skip
    return True


def _module_version(module: str, go: str) -> str:
    result = subprocess.run([go, "list", "-m", "-f", "{{.Version}}", module], cwd=MODULE_DIR,
                            capture_output=True, text=True, check=False)  # fmt: skip
    return result.stdout.strip() or "?"


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, cwd=MODULE_DIR, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-30:])
        raise BuildError(
            f"building {what} failed ({' '.join(command[:2])} exited {result.returncode}):\n{tail}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", type=Path, default=MODULE_DIR.parents[1] / ".tools")
    parser.add_argument("--go", default="go", help="the go command (default: go on PATH)")
    args = parser.parse_args(argv)
    try:
        if not build(args.tools, args.go):
            _say(f"control plane {KUBERNETES_VERSION} already built in {install_dir(args.tools) / 'bin'}")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
