"""`rebalancer demo`: DOMAIN.md example 2 told with real numbers from the local exchange.

Starts the exchange in-process on a free loopback port, runs one real cycle through ccxt,
moves prices (BTC -10%, ETH +10%) and shows spot and hedge P&L netting to zero.
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

CONFIG = """\
[portfolio]
quote = "USDT"
nav = "spot"
targets = {{ BTC = 0.5, ETH = 0.5 }}

[rebalance]
band = 0.02
min_order_notional = 10

[venues.local]
exchange = "binance"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = 3
api_key = "{api_key}"
api_secret = "{api_secret}"

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


async def run_demo(console: Console | None = None) -> int:
    from .exchange_sim.runner import start_exchange
    from .service import Rebalancer
    from .settings import load_settings

    console = console or Console()
    async with start_exchange(SCENARIO) as ex:
        with tempfile.TemporaryDirectory(prefix="rebalancer-demo-") as var:
            path = Path(var) / "demo.toml"
            path.write_text(CONFIG.format(base_url=ex.base_url, api_key=ex.api_key, api_secret=ex.api_secret,
                                          var=Path(var).as_posix()))
            settings = load_settings(path, env={})
            console.rule("[bold]Synthetic rebalancing demo (DOMAIN.md example 2)")
            console.print(f"Local Binance-compatible exchange at {ex.base_url}; every number below comes from it "
                          "through the unmodified ccxt client.\nSpot: 0.1 BTC at 40,000 and 1 ETH at 2,000 "
                          "(NAV $6,000); targets 50/50. Spot is never traded: perps carry the adjustment.\n")
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
                console.print(Text(
                    "Both adjustments shrink existing hedges, so they are reduce-only.\n"
                    "Try the commands yourself: `rebalancer exchange-sim --scenario config/sim-example.toml "
                    "--port 8765` in one terminal, then `rebalancer status --config config/demo.toml` and "
                    "`rebalancer rebalance --execute --config config/demo.toml` in another.", style="dim"))
                return 0
            finally:
                await rb.close()


def pnl_table(before: Snapshot, after: Snapshot) -> Table:
    """Spot change vs hedge P&L per asset: the hedge offsets the move, the total is unchanged."""
    spot0, spot1 = spot_values(before), spot_values(after)
    t = Table(title="Spot vs hedge P&L after the move", title_justify="left")
    for col in ("asset", "spot before", "spot after", "spot change", "perp position", "perp P&L", "net"):
        t.add_column(col, justify="right")
    total_spot = total_perp = D(0)
    for asset in sorted(spot1):
        pos = after.positions.get(asset)
        pnl = (pos.unrealized_pnl or D(0)) if pos else D(0)
        change = spot1[asset] - spot0.get(asset, D(0))
        total_spot += change
        total_perp += pnl
        t.add_row(asset, _money(spot0.get(asset)), _money(spot1[asset]), _money(change),
                  str(pos.amount.normalize()) if pos else "0", _money(pnl), _money(change + pnl))
    t.add_row(Text("total", style="bold"), "", "", _money(total_spot), "", _money(total_perp),
              Text(_money(total_spot + total_perp), style="bold green"))
    return t
