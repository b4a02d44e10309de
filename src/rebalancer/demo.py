"""`rebalancer demo [--exchange binance|bybit|okx|bingx|mexc|weex]`: DOMAIN.md example 2 told with real numbers
from the local exchange.

Starts the exchange in-process, in that exchange's dialect, on a free loopback port, runs one real cycle through
that exchange's unmodified ccxt class, moves prices (BTC -10%, ETH +10%) and shows spot and hedge P&L netting to zero.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .domain import D, Snapshot
from .report import _money, report_renderable

# DOMAIN.md example 2: spot BTC $4,000 and ETH $2,000, targets 50/50.
SCENARIO: dict[str, Any] = {
    "markets": {
        "BTC": {"spot_price": 40000, "funding_rate": 0.0001, "amount_step": 0.001},
        "ETH": {"spot_price": 2000, "funding_rate": 0.0001, "amount_step": 0.001},
    },
    "spot": {"BTC": 0.1, "ETH": 1.0, "USDT": 0},
    "futures": {"wallet": 3000, "leverage": 3},
}

EXCHANGES = ("binance", "bybit", "okx", "bingx", "mexc", "weex")
NAMES = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX", "bingx": "BingX", "mexc": "MEXC", "weex": "WEEX"}
# OKX counts perps in contracts of 0.01 BTC and 0.1 ETH (its live BTC-USDT-SWAP and ETH-USDT-SWAP ctVal).
CONTRACT_SIZES: dict[str, dict[str, str]] = {"okx": {"BTC": "0.01", "ETH": "0.1"}}
SIM_CONFIG_EXCHANGE = "binance"  # the exchange of config/demo.toml and config/sim-example.toml, named in the hint


def scenario_for(exchange: str) -> dict[str, Any]:
    """SCENARIO on `exchange`: where a perp counts in contracts of another size than 1, the market's lot step is
    given in contracts (as the venue counts them), converted so every base amount of the story stays the same."""
    sizes = CONTRACT_SIZES.get(exchange, {})
    markets = {}
    for asset, market in SCENARIO["markets"].items():
        market = dict(market)
        if asset in sizes:
            size = D(sizes[asset])
            market["contract_size"] = str(size)
            market["amount_step"] = str((D(market["amount_step"]) / size).normalize())
        markets[asset] = market
    return {**SCENARIO, "markets": markets}

CONFIG = """\
[portfolio]
quote = "USDT"
nav = "spot"
targets = {{ BTC = 0.5, ETH = 0.5 }}

[rebalance]
band = 0.02
min_order_notional = 10

[venues.local]
exchange = "{exchange}"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = 3
api_key = "{api_key}"
api_secret = "{api_secret}"
{password}
[risk]
kill_switch_file = "{var}/HALT"

[journal]
path = "{var}/demo.db"

[logging]
level = "warning"
format = "console"
file = ""
"""


def spot_values(snap: Snapshot) -> dict[str, Decimal]:
    amounts = snap.spot_amounts()
    return {a: amounts.get(a, D(0)) * q.price for a, q in snap.spot_prices.items()}


def demo_config(exchange: str, *, base_url: str, api_key: str, api_secret: str, password: str | None,
                var: Path) -> str:
    """The demo's config: one venue (spot and hedge) of `exchange` on the local exchange at `base_url`."""
    line = f'password = "{password}"\n' if password else ""
    return CONFIG.format(exchange=exchange, base_url=base_url, api_key=api_key, api_secret=api_secret,
                         password=line, var=var.as_posix())


async def run_demo(console: Console | None = None, *, exchange: str = "binance") -> int:
    from .exchange_sim.runner import start_exchange
    from .service import Rebalancer
    from .settings import load_settings

    if exchange not in EXCHANGES:
        raise ValueError(f"--exchange: {exchange!r} is not one of {', '.join(EXCHANGES)}")
    console = console or Console()
    async with start_exchange(scenario_for(exchange), dialect=exchange) as ex:
        with tempfile.TemporaryDirectory(prefix="rebalancer-demo-") as var:
            path = Path(var) / "demo.toml"
            # ex.password: the passphrase where the dialect signs with one (okx), else None.
            path.write_text(demo_config(exchange, base_url=ex.base_url, api_key=ex.api_key,
                                        api_secret=ex.api_secret, password=ex.password, var=Path(var)))
            settings = load_settings(path, env={})
            console.rule(f"[bold]Synthetic rebalancing demo (DOMAIN.md example 2) on {NAMES[exchange]}")
            contracts = CONTRACT_SIZES.get(exchange)
            sizes = (f" {NAMES[exchange]} counts perps in contracts ("
                     + ", ".join(f"{a} {s}" for a, s in contracts.items()) + "); amounts below are in base units."
                     if contracts else "")
            console.print(f"Local {NAMES[exchange]}-compatible exchange at {ex.base_url}; every number below comes "
                          f"from it through ccxt's unmodified {exchange} class.{sizes}\nSpot: 0.1 BTC at 40,000 and "
                          "1 ETH at 2,000 (NAV $6,000); targets 50/50. Spot is never traded: perps carry the "
                          "adjustment.\n")
            rb = Rebalancer(settings)
            try:
                await rb.start()
                console.rule("1. One real cycle: snapshot -> plan -> risk gate -> orders")
                first = await rb.cycle(execute=True)
                console.print(report_renderable(first))
                if first.exit_code != 0:
                    return first.exit_code
                before = first.snapshot

                async with aiohttp.ClientSession() as http:
                    await http.post(f"{ex.base_url}/_sim/prices",
                                    json={"BTC": {"spot": 36000, "mark": 36000}, "ETH": {"spot": 2200, "mark": 2200}})
                console.rule("2. BTC falls 10%, ETH rises 10% (spot and mark)")
                after = await rb.venue.snapshot()
                console.print(pnl_table(before, after))
                console.rule("3. The next plan (dry run): bring the effective mix back to 50/50")
                second = await rb.cycle(execute=False, record=False)  # a look, not journaled: no id to show
                console.print(report_renderable(second))
                console.print(Text(try_it_yourself(exchange, ex.password), style="dim"))
                return 0
            finally:
                await rb.close()


def try_it_yourself(exchange: str, password: str | None) -> str:
    """The closing hint: the same story by hand, with the shipped configs (written for SIM_CONFIG_EXCHANGE)."""
    same = exchange == SIM_CONFIG_EXCHANGE
    dialect = "" if same else f" --dialect {exchange}"
    venue = "" if same else (f" (with exchange = \"{exchange}\" in its [venues.local]"
                             + (f', and password = "{password}"' if password else "") + ")")
    return ("Both adjustments shrink existing hedges, so they are reduce-only.\n"
            "Try the commands yourself: `rebalancer exchange-sim --scenario config/sim-example.toml "
            f"--port 8765{dialect}` in one terminal, then `rebalancer status --config config/demo.toml` and "
            f"`rebalancer rebalance --execute --config config/demo.toml`{venue} in another.")


def pnl_table(before: Snapshot, after: Snapshot) -> Table:
    """Spot change vs hedge P&L per asset: the hedge offsets the move, the total is unchanged."""
    spot0, spot1 = spot_values(before), spot_values(after)
    t = Table(title="Spot vs hedge P&L after the move", title_justify="left")
    for col in ("asset", "spot before", "spot after", "spot change", "perp position", "perp P&L", "net"):
        t.add_column(col, justify="right")
    total_spot: Decimal | None = D(0)
    total_perp: Decimal | None = D(0)
    for asset in sorted(spot1):
        pos = after.positions.get(asset)
        # No position: no perp P&L. A position whose uPnL the exchange did not give: unknown, never 0.
        pnl = pos.unrealized_pnl if pos else D(0)
        change = spot1[asset] - spot0[asset] if asset in spot0 else None
        total_spot = None if total_spot is None or change is None else total_spot + change
        total_perp = None if total_perp is None or pnl is None else total_perp + pnl
        net = change + pnl if change is not None and pnl is not None else None
        t.add_row(asset, _money(spot0.get(asset)), _money(spot1[asset]), _money(change),
                  str(pos.amount.normalize()) if pos else "0", _money(pnl), _money(net))
    total = total_spot + total_perp if total_spot is not None and total_perp is not None else None
    t.add_row(Text("total", style="bold"), "", "", _money(total_spot), "", _money(total_perp),
              Text(_money(total), style="bold green"))
    return t
