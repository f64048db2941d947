"""`python -m sandbox.apiserver --host 127.0.0.1 --port PORT [--kubeconfig FILE]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from sandbox.apiserver.kubeconfig import write_kubeconfig
from sandbox.apiserver.server import ApiServer


async def _serve(args: argparse.Namespace) -> None:
    server = ApiServer(history=args.history, bookmark_interval=args.bookmark_interval)
    port = await server.start(args.host, args.port)
    url = f"http://{args.host}:{port}"
    if args.kubeconfig:
        write_kubeconfig(args.kubeconfig, url)
    print(f"serving the Kubernetes API on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.apiserver", description="Kubernetes API server emulator (plain HTTP)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--kubeconfig", help="write a kubeconfig pointing at the server to this file")
    parser.add_argument(
        "--history",
        type=int,
        default=1000,
        help="watch events retained; older resourceVersions answer 410 Gone",
    )
    parser.add_argument("--bookmark-interval", type=float, default=10.0, help="seconds between BOOKMARKs")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
