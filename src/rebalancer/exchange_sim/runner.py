"""Start and stop the local exchange: in-process (tests, `demo`), in a thread (sync callers), or as a CLI server.

Binds loopback unless allow_remote is given, because the credentials are fixed demo values and /_sim is unauthenticated.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import signal
import sys
import threading
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Mapping

from aiohttp import web

from .dialects import DEFAULT_DIALECT, DIALECTS, dialect_class
from .engine import Engine
from .scenario import Scenario, ScenarioError, coerce_scenario
from .server import SimServer

ScenarioLike = Scenario | Mapping[str, Any] | str | Path


class RemoteBindRefused(ValueError):
    """Asked to listen on a non-loopback address without allow_remote."""


@dataclass
class RunningExchange:
    """A started exchange: where it listens, and direct handles for tests."""

    base_url: str
    host: str
    port: int
    engine: Engine
    scenario: Scenario
    server: SimServer

    @property
    def dialect(self) -> str:
        return self.server.dialect_name

    @property
    def api_key(self) -> str:
        return self.scenario.auth.api_key

    @property
    def api_secret(self) -> str:
        return self.scenario.auth.api_secret

    @property
    def password(self) -> str | None:
        """The passphrase, for the dialects whose venue signs with one (okx, weex); else None."""
        return self.scenario.auth.password if self.server.dialect.uses_password else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_address(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise RemoteBindRefused(
            f"refusing to bind {host}: the local exchange uses fixed demo credentials and an unauthenticated "
            "/_sim admin API; bind 127.0.0.1, or pass --allow-remote if you really mean to expose it"
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@asynccontextmanager
async def start_exchange(
    scenario: ScenarioLike,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    allow_remote: bool = False,
    dialect: str = DEFAULT_DIALECT,
) -> AsyncIterator[RunningExchange]:
    """Serve `scenario` in `dialect` on host:port (0 = a free port) for the duration of the `async with` block."""
    check_bind_address(host, allow_remote)
    sc = coerce_scenario(scenario)
    server = SimServer(sc, dialect=dialect, state_file=state_file)
    # handler_cancellation: a client that gives up on a held (dropped) response frees its handler.
    runner = web.AppRunner(server.app, handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield RunningExchange(
            base_url=f"http://{_url_host(host)}:{bound_port}",
            host=host,
            port=bound_port,
            engine=server.engine,
            scenario=sc,
            server=server,
        )
    finally:
        server.stopping.set()
        await runner.cleanup()


@contextmanager
def exchange_in_thread(scenario: ScenarioLike, **kwargs: Any) -> Iterator[RunningExchange]:
    """start_exchange on a private event loop in a daemon thread, for synchronous callers.

    Use the admin API (or touch `.engine` only while no request is in flight): the engine
    lives on the server thread.
    """
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        box["loop"], box["stop"] = asyncio.get_running_loop(), stop
        try:
            async with start_exchange(scenario, **kwargs) as running:
                box["running"] = running
                started.set()
                await stop.wait()
        except BaseException as exc:  # hand startup errors to the caller's thread
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="exchange-sim", daemon=True)
    thread.start()
    started.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    try:
        yield box["running"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)


def serve_forever(
    scenario_path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    allow_remote: bool = False,
    dialect: str = DEFAULT_DIALECT,
) -> int:
    """Run until SIGINT/SIGTERM, printing the base URL as the first line of stdout; returns 0.

    Raises ScenarioError / RemoteBindRefused (both ValueError) for the CLI to print.
    """
    check_bind_address(host, allow_remote)
    dialect_class(dialect)  # an unknown dialect fails here, before the port is taken
    scenario = coerce_scenario(Path(scenario_path))

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with start_exchange(
            scenario, host=host, port=port, state_file=state_file, allow_remote=allow_remote, dialect=dialect
        ) as running:
            print(running.base_url, flush=True)
            await stop.wait()
        return 0

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    """`python -m rebalancer.exchange_sim.runner --scenario FILE`: the same as `rebalancer exchange-sim`."""
    parser = argparse.ArgumentParser(prog="exchange-sim", description="Serve the local exchange in one exchange's dialect.")
    parser.add_argument("--dialect", default=DEFAULT_DIALECT, choices=sorted(DIALECTS),
                        help="which exchange's API to speak (default: %(default)s)")
    parser.add_argument("--scenario", required=True, help="scenario TOML file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-file", default=None, help="JSON file that keeps state across restarts")
    parser.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    args = parser.parse_args(argv)
    try:
        return serve_forever(args.scenario, args.host, args.port, args.state_file, args.allow_remote, args.dialect)
    except (ScenarioError, RemoteBindRefused, OSError, ValueError) as exc:
        print(f"exchange-sim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
