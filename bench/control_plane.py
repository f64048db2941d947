"""The real control plane beside the API emulator: build time, start to ready, memory, demo duration.

Figures, printed side by side, never asserted in a test:

- **build**: ``sandbox/kubernetes/build.py`` into a scratch tools directory, twice: with an empty Go
  build cache (``--cold``: a scratch ``GOCACHE``, so every package compiles; the module cache is
  kept, so nothing is downloaded) and with Go's own cache (what a fresh clone on a machine that has
  built once pays: the link step only);
- **start to ready**: the emulator (``python -m sandbox.apiserver``) until it serves, and the real
  control plane until ``/readyz`` is ok and the controller manager made the ``default``
  ServiceAccount; median of ``--starts`` rounds;
- **RSS** of each component after start (and after the demo, when it runs), from ``/proc``;
- **demo**: ``serinus sandbox demo`` on each control plane (``--demo``), wall-clock seconds and
  whether the story held.

    python -m bench.control_plane [--starts 3] [--cold] [--demo]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox.kubernetes import ControlPlane
from sandbox.kubernetes.build import MODULE_DIR

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    """Resident memory of one process, MiB (``VmRSS`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_seconds(cold: bool) -> float:
    """One build of the four binaries into a scratch tools directory."""
    with tempfile.TemporaryDirectory(prefix="serinus-bench-build-") as tmp:
        env = dict(os.environ)
        if cold:
            env["GOCACHE"] = str(Path(tmp) / "gocache")
        started = time.monotonic()
        subprocess.run([sys.executable, str(MODULE_DIR / "build.py"), "--tools", str(Path(tmp) / "tools")],
                       env=env, check=True, stderr=subprocess.DEVNULL)  # fmt: skip
        return time.monotonic() - started


def emulator_start() -> tuple[float, float]:
    """Seconds until a fresh emulator process serves, and its RSS (MiB)."""
    with tempfile.TemporaryDirectory(prefix="serinus-bench-emu-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox.apiserver", "--host", "127.0.0.1", "--port", "0",
             "--kubeconfig", str(kubeconfig)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("serving the Kubernetes API on "):
                    break
            ready = time.monotonic() - started
            return ready, rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(10)


def kubernetes_start() -> tuple[float, dict[str, float]]:
    """Seconds until the real control plane is ready, and each component's RSS (MiB)."""
    with tempfile.TemporaryDirectory(prefix="serinus-bench-k8s-") as tmp:
        started = time.monotonic()
        plane = ControlPlane(Path(tmp)).start()
        try:
            ready = time.monotonic() - started
            time.sleep(2.0)  # let the controllers' first sync finish before reading memory
            return ready, {name: rss_mib(pid) for name, pid in plane.pids().items()}
        finally:
            plane.stop()


def demo_seconds(control_plane: str) -> tuple[float, int]:
    """One ``serinus sandbox demo`` run: seconds and exit code."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "controller.cli", "sandbox", "demo", "--control-plane",
                           control_plane], cwd=ROOT, stdout=subprocess.DEVNULL, check=False)  # fmt: skip
    return time.monotonic() - started, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=3, help="start rounds per control plane")
    parser.add_argument("--cold", action="store_true", help="also time a build with an empty Go build cache")
    parser.add_argument("--demo", action="store_true", help="also run the demo on both control planes")
    args = parser.parse_args(argv)

    if args.cold:
        print(f"build, empty Go build cache (modules cached): {build_seconds(cold=True):7.1f} s")
    print(f"build, Go build cache warm (a fresh clone):    {build_seconds(cold=False):7.1f} s")

    emu = [emulator_start() for _ in range(args.starts)]
    real = [kubernetes_start() for _ in range(args.starts)]
    print(f"\n{'':28}{'emulator':>12}{'kubernetes':>12}")
    emu_ready = statistics.median(r for r, _ in emu)
    real_ready = statistics.median(r for r, _ in real)
    print(
        f"{'start to ready, median (s)':28}{emu_ready:12.2f}{real_ready:12.2f}   "
        f"x{real_ready / emu_ready:.1f}"
    )
    emu_rss = statistics.median(m for _, m in emu)
    components = real[-1][1]
    print(f"{'RSS after start (MiB)':28}{emu_rss:12.0f}{sum(components.values()):12.0f}   "
          f"x{sum(components.values()) / emu_rss:.1f}")  # fmt: skip
    for name, mib in components.items():
        print(f"{'  ' + name:28}{'':12}{mib:12.0f}")
    if args.demo:
        for kind in ("emulator", "kubernetes"):
            seconds, code = demo_seconds(kind)
            print(f"demo on {kind:<11} {seconds:7.1f} s  ({'ok' if code == 0 else f'FAILED, exit {code}'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
