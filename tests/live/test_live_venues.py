"""Real demo/testnet accounts, plus offline checks that each mode reaches the right hosts.

The `live` tests are skipped unless their keys are in the environment:
  binance demo trading (demo.binance.com keys): REBALANCER_LIVE_BINANCE_DEMO_KEY, REBALANCER_LIVE_BINANCE_DEMO_SECRET
  bybit testnet (testnet.bybit.com keys):       REBALANCER_LIVE_BYBIT_TESTNET_KEY, REBALANCER_LIVE_BYBIT_TESTNET_SECRET
  bybit demo trading (mainnet demo keys):       REBALANCER_LIVE_BYBIT_DEMO_KEY, REBALANCER_LIVE_BYBIT_DEMO_SECRET
  okx demo trading (demo keys + passphrase):    REBALANCER_LIVE_OKX_DEMO_KEY, REBALANCER_LIVE_OKX_DEMO_SECRET,
                                                REBALANCER_LIVE_OKX_DEMO_PASSWORD
They connect, read a snapshot, prepare the symbols twice (a restart) and look up a made-up client id;
with REBALANCER_LIVE_ALLOW_ORDERS=1 they also open and close one minimum-size
position (the close is reduce-only). Before any request, each asserts its client points at demo/testnet
hosts, so a live key can never reach a production endpoint through these tests.

    REBALANCER_LIVE_BINANCE_DEMO_KEY=... REBALANCER_LIVE_BINANCE_DEMO_SECRET=... pytest -m live tests/live -v

The routing tests and the order-pair test against the local exchange run always and need no network.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from urllib.parse import urlsplit

import pytest

from rebalancer.domain import Market, OrderResult, OrderState, PlannedOrder, Side, Snapshot
from rebalancer.venues.ccxt_venue import CcxtVenue, VenueConfig, build_client
from rebalancer.venues.errors import FatalError

ASSETS = ("BTC", "ETH")
QUOTE = "USDT"
ALLOW_ORDERS = "REBALANCER_LIVE_ALLOW_ORDERS"


@dataclass(frozen=True)
class LiveAccount:
    label: str
    exchange: str
    mode: str
    key_env: str
    secret_env: str
    password_env: str | None = None

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.key_env, self.secret_env, self.password_env) if n)

    def config_or_skip(self) -> VenueConfig:
        missing = [n for n in self.env_names if not os.environ.get(n)]
        if missing:
            pytest.skip(f"{self.label}: set {', '.join(self.env_names)} to run (missing {', '.join(missing)})")
        return VenueConfig(
            name="live",
            exchange=self.exchange,
            mode=self.mode,
            api_key=os.environ[self.key_env],
            api_secret=os.environ[self.secret_env],
            password=os.environ[self.password_env] if self.password_env else None,
            timeout_ms=20000,
        )


ACCOUNTS = [
    LiveAccount("binance demo trading", "binance", "demo",
                "REBALANCER_LIVE_BINANCE_DEMO_KEY", "REBALANCER_LIVE_BINANCE_DEMO_SECRET"),
    LiveAccount("bybit testnet", "bybit", "testnet",
                "REBALANCER_LIVE_BYBIT_TESTNET_KEY", "REBALANCER_LIVE_BYBIT_TESTNET_SECRET"),
    LiveAccount("bybit demo trading", "bybit", "demo",
                "REBALANCER_LIVE_BYBIT_DEMO_KEY", "REBALANCER_LIVE_BYBIT_DEMO_SECRET"),
    LiveAccount("okx demo trading", "okx", "demo",
                "REBALANCER_LIVE_OKX_DEMO_KEY", "REBALANCER_LIVE_OKX_DEMO_SECRET", "REBALANCER_LIVE_OKX_DEMO_PASSWORD"),
]
ACCOUNT_IDS = [f"{a.exchange}-{a.mode}" for a in ACCOUNTS]


# --------------------------------------------------------------------------- routing (offline)


def api_hosts(client) -> set[str]:  # type: ignore[no-untyped-def]
    """Every host in client.urls['api'], after ccxt's {hostname} templating."""
    api = client.urls["api"]
    urls = api.values() if isinstance(api, dict) else [api]
    return {urlsplit(client.implode_hostname(u)).hostname for u in urls if isinstance(u, str)}


def assert_not_production(client, exchange: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    """The client built for `mode` can only reach that mode's hosts (or, for OKX, sends the demo header)."""
    hosts = api_hosts(client)
    if exchange in ("binance", "binanceusdm") and mode == "demo":
        assert hosts and all(h.startswith("demo-") and h.endswith(".binance.com") for h in hosts), hosts
    elif exchange == "bybit" and mode == "testnet":
        assert hosts == {"api-testnet.bybit.com"}, hosts
    elif exchange == "bybit" and mode == "demo":
        assert hosts == {"api-demo.bybit.com"}, hosts
    elif exchange == "okx" and mode == "demo":
        assert client.headers.get("x-simulated-trading") == "1", client.headers
    else:  # pragma: no cover - a new account type must add its rule here first
        raise AssertionError(f"no host rule for {exchange} {mode}")


def offline(exchange: str, mode: str, **kw: str) -> VenueConfig:
    return VenueConfig(name="main", exchange=exchange, mode=mode, api_key="k", api_secret="s", **kw)


async def test_binance_demo_routes_to_demo_hosts() -> None:
    client = build_client(offline("binance", "demo"))
    try:
        hosts = api_hosts(client)
        assert {"demo-api.binance.com", "demo-fapi.binance.com"} <= hosts
        assert_not_production(client, "binance", "demo")
        assert client.urls["api"]["fapiPrivate"].startswith("https://demo-fapi.binance.com/")
        assert client.urls["api"]["private"].startswith("https://demo-api.binance.com/")
        assert not any(k.startswith("sapi") for k in client.urls["api"]), "no sapi on demo: it would hit production"
        assert client.options["enableDemoTrading"] is True and not client.isSandboxModeEnabled
    finally:
        await client.close()


async def test_binanceusdm_demo_routes_to_demo_hosts() -> None:
    client = build_client(offline("binanceusdm", "demo"))
    try:
        assert "demo-fapi.binance.com" in api_hosts(client)
        assert_not_production(client, "binanceusdm", "demo")
    finally:
        await client.close()


async def test_bybit_testnet_routes_to_testnet_host() -> None:
    client = build_client(offline("bybit", "testnet"))
    try:
        assert all("testnet" in u for u in client.urls["api"].values())
        assert api_hosts(client) == {"api-testnet.bybit.com"}
        assert client.isSandboxModeEnabled
    finally:
        await client.close()


async def test_bybit_demo_routes_to_demo_host() -> None:
    client = build_client(offline("bybit", "demo"))
    try:
        assert api_hosts(client) == {"api-demo.bybit.com"}
        assert client.options["enableDemoTrading"] is True and not client.isSandboxModeEnabled
    finally:
        await client.close()


async def test_okx_demo_sends_the_simulated_trading_header() -> None:
    client = build_client(offline("okx", "demo", password="p"))
    try:
        assert client.headers.get("x-simulated-trading") == "1"
        assert api_hosts(client) == {"www.okx.com"}  # OKX demo shares the host; the header makes it demo
        assert client.password == "p"
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("exchange", "hosts"),
    [("binance", {"api.binance.com", "fapi.binance.com"}), ("bybit", {"api.bybit.com"}), ("okx", {"www.okx.com"})],
)
async def test_live_mode_is_production_without_demo_switches(exchange: str, hosts: set[str]) -> None:
    """The control: "live" really is production, so the demo assertions above are not vacuous."""
    client = build_client(offline(exchange, "live", password="p"))
    try:
        assert hosts <= api_hosts(client)
        assert not any(h.startswith(("demo-", "api-demo", "api-testnet")) for h in api_hosts(client))
        assert "x-simulated-trading" not in (client.headers or {})
        assert not client.isSandboxModeEnabled
    finally:
        await client.close()


@pytest.mark.parametrize(("exchange", "mode"), [("binance", "testnet"), ("okx", "testnet"), ("binanceusdm", "testnet")])
def test_unavailable_modes_are_refused(exchange: str, mode: str) -> None:
    with pytest.raises(FatalError, match="not available"):
        build_client(offline(exchange, mode))


async def test_local_mode_reaches_only_the_base_url() -> None:
    client = build_client(offline("binance", "local", base_url="http://127.0.0.1:8765"))
    try:
        assert api_hosts(client) == {"127.0.0.1"}
    finally:
        await client.close()


# --------------------------------------------------------------------------- the order pair


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def min_contracts(market: Market, price: Decimal) -> Decimal:
    """The smallest order the market accepts, with 25% headroom over a notional minimum (price moves)."""
    step = market.amount_step or market.min_amount
    assert step, f"{market.symbol}: no amount step or minimum"
    contracts = max(market.min_amount or step, step)
    # OKX publishes no notional minimum in its instruments, yet refuses tiny orders (51020 on the local
    # exchange): 5 USDT stands in when the market says nothing.
    min_cost = market.min_cost or Decimal(5)
    contracts = max(contracts, ceil_to_step(min_cost * Decimal("1.25") / (price * market.contract_size), step))
    return contracts


def new_client_id(cfg: VenueConfig) -> str:
    cid = f"rbt{secrets.token_hex(8)}"  # letters and digits only: valid on binance, bybit and okx
    assert cfg.spec.valid_client_id(cid)
    return cid


async def wait_for_fill(venue: CcxtVenue, symbol: str, result: OrderResult, timeout_s: float = 15) -> OrderResult:
    """A market order may be acknowledged before it fills (Binance answers NEW): look it up until final."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while result.state in (OrderState.OPEN, OrderState.PENDING, OrderState.UNKNOWN):
        assert asyncio.get_running_loop().time() < deadline, f"{result.client_order_id} still {result.state}"
        await asyncio.sleep(0.5)
        found = await venue.lookup(symbol, result.client_order_id)
        result = found or result
    return result


async def open_and_close_min_order(venue: CcxtVenue, cfg: VenueConfig, snap: Snapshot) -> tuple[Decimal, Decimal]:
    """Open the cheapest minimum-size position on BTC or ETH, then close exactly it with a reduce-only order.

    It trades in the direction of an existing position (buy when flat), so the reduce-only close always
    has something of its own side to reduce. Returns (position before, position after) in base units.
    """
    candidates = []
    for asset in ASSETS:
        market, mark = snap.markets[asset], snap.mark_prices[asset].price
        contracts = min_contracts(market, mark)
        candidates.append((contracts * market.contract_size * mark, asset, market, contracts, mark))
    _, asset, market, contracts, mark = min(candidates)
    before = snap.positions[asset].amount if asset in snap.positions else Decimal(0)
    side = Side.SELL if before < 0 else Side.BUY
    back = Side.BUY if side is Side.SELL else Side.SELL
    await venue.prepare([market.symbol])

    def order(s: Side, reduce_only: bool, cid: str) -> PlannedOrder:
        return PlannedOrder(asset=asset, symbol=market.symbol, side=s, amount=contracts,
                            base_amount=contracts * market.contract_size, price=mark, reduce_only=reduce_only,
                            leg="close" if reduce_only else "open", client_order_id=cid)

    opened = closed = False
    try:
        cid = new_client_id(cfg)
        result = await wait_for_fill(venue, market.symbol, await venue.place(order(side, False, cid), cid, "market", None))
        assert result.state is OrderState.FILLED, result
        assert result.filled == contracts, result
        opened = True
        cid = new_client_id(cfg)
        result = await wait_for_fill(venue, market.symbol, await venue.place(order(back, True, cid), cid, "market", None))
        assert result.state is OrderState.FILLED, result
        closed = True
    finally:
        if opened and not closed:  # best effort: never leave the test's position behind
            cid = new_client_id(cfg)
            try:
                await venue.place(order(back, True, cid), cid, "market", None)
            except Exception:  # noqa: BLE001 - the original failure is the one to report
                pass
    after = before
    for _ in range(20):  # positions can lag the fill by a moment
        positions = await venue.positions()
        after = positions[asset].amount if asset in positions else Decimal(0)
        if after == before:
            break
        await asyncio.sleep(0.5)
    return before, after


@pytest.mark.parametrize("dialect", ["binance", "bybit", "okx"])
async def test_order_pair_against_the_local_exchange(dialect: str) -> None:
    """The live order test's own logic, exercised offline against the local exchange in each dialect."""
    from rebalancer.exchange_sim import example_scenario, start_exchange

    async with start_exchange(example_scenario(), dialect=dialect) as sim:
        cfg = VenueConfig(name="local", exchange=dialect, mode="local", base_url=sim.base_url,
                          api_key=sim.api_key, api_secret=sim.api_secret, password=sim.password, timeout_ms=5000)
        venue = CcxtVenue(hedge=cfg, spot=cfg, quote=QUOTE, assets=ASSETS)
        try:
            await venue.connect()
            snap = await venue.snapshot()
            before, after = await open_and_close_min_order(venue, cfg, snap)
        finally:
            await venue.close()
        assert after == before == 0
        opened, closed = sim.engine.orders  # exactly two orders reached the exchange
        assert (opened.side, opened.reduce_only, closed.side, closed.reduce_only) == ("BUY", False, "SELL", True)
        assert opened.symbol == closed.symbol and opened.orig_qty == closed.orig_qty
        assert opened.status == closed.status == "FILLED"
        assert opened.client_order_id.startswith("rbt") and closed.client_order_id.startswith("rbt")


# --------------------------------------------------------------------------- live accounts


@pytest.mark.live
@pytest.mark.parametrize("account", ACCOUNTS, ids=ACCOUNT_IDS)
async def test_live_snapshot(account: LiveAccount) -> None:
    cfg = account.config_or_skip()
    venue = CcxtVenue(hedge=cfg, spot=cfg, quote=QUOTE, assets=ASSETS)
    try:
        assert_not_production(venue.hedge_client, cfg.exchange, cfg.mode)
        await venue.connect()
        for asset in ASSETS:
            market = venue.markets.get(asset)
            assert market is not None, f"{account.label}: no linear {asset}/{QUOTE} perpetual"
            assert market.symbol == f"{asset}/{QUOTE}:{QUOTE}" and market.contract_size > 0
            assert market.amount_step or market.min_amount
        snap = await venue.snapshot()
        assert snap.account is not None, f"{account.label}: no hedge-account equity in the futures balance"
        assert snap.account.equity >= 0
        for asset in ASSETS:
            assert snap.mark_prices[asset].price > 0
            assert asset in snap.funding
    finally:
        await venue.close()


@pytest.mark.live
@pytest.mark.parametrize("account", ACCOUNTS, ids=ACCOUNT_IDS)
async def test_live_prepare_twice_and_lookup_of_a_made_up_client_id(account: LiveAccount) -> None:
    """Margin/leverage setup is idempotent across restarts (Bybit 110043, Binance -4046 are success), and a
    client id that was never sent is "not found" (None) through the venue's own lookup path (Binance
    origClientOrderId, Bybit orderLinkId in open + history, OKX clOrdId / 51603), never an error."""
    cfg = account.config_or_skip()
    symbols = []
    for attempt in range(2):  # the second venue is a restart: every setting is already as wanted
        venue = CcxtVenue(hedge=cfg, spot=cfg, quote=QUOTE, assets=ASSETS)
        try:
            assert_not_production(venue.hedge_client, cfg.exchange, cfg.mode)
            await venue.connect()
            symbols = [m.symbol for m in venue.markets.values()]
            await venue.prepare(symbols)
            if attempt == 1:
                assert await venue.lookup(symbols[0], new_client_id(cfg)) is None
        finally:
            await venue.close()
    assert symbols


@pytest.mark.live
@pytest.mark.parametrize("account", ACCOUNTS, ids=ACCOUNT_IDS)
async def test_live_min_order_pair(account: LiveAccount) -> None:
    cfg = account.config_or_skip()
    if os.environ.get(ALLOW_ORDERS) != "1":
        pytest.skip(f"{account.label}: set {ALLOW_ORDERS}=1 to place and close a minimum-size order")
    venue = CcxtVenue(hedge=cfg, spot=cfg, quote=QUOTE, assets=ASSETS)
    try:
        assert_not_production(venue.hedge_client, cfg.exchange, cfg.mode)
        await venue.connect()
        snap = await venue.snapshot()
        before, after = await open_and_close_min_order(venue, cfg, snap)
        assert after == before, f"{account.label}: position {before} -> {after} after the order pair"
    finally:
        await venue.close()
