"""The local exchange's Bybit v5 dialect, driven by ccxt 4.5.90's unmodified `bybit` class over HTTP:
every call the rebalancer makes, payload shapes against the recorded real Bybit payloads, the
retCode -> ccxt class mapping against production ccxt, auth refusals, and ccxt's own validators.

One exchange per module; each test starts from the scenario (POST /_sim/reset).
"""

from __future__ import annotations

import json
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import pytest
import pytest_asyncio
from ccxt.test.exchange.base import test_balance as ccxt_balance
from ccxt.test.exchange.base import test_ledger_entry as ccxt_ledger_entry
from ccxt.test.exchange.base import test_leverage_tier as ccxt_leverage_tier
from ccxt.test.exchange.base import test_order as ccxt_order
from ccxt.test.exchange.base import test_position as ccxt_position
from ccxt.test.exchange.base import test_ticker as ccxt_ticker
from ccxt.test.exchange.base import test_trade as ccxt_trade

from rebalancer.exchange_sim.dialects.base import rejection_table_complete
from rebalancer.exchange_sim.dialects.bybit.codes import CODES, answer
from rebalancer.exchange_sim.rejections import Reason, Rejection
from rebalancer.exchange_sim.runner import RunningExchange, start_exchange
from tests.exchange_sim.dialect_checks import differences, keys_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ccxt-recorded"
RECORDED = json.loads((FIXTURES / "bybit_responses.json").read_text(encoding="utf-8"))
REQUESTS = json.loads((FIXTURES / "bybit_requests.json").read_text(encoding="utf-8"))
PRODUCTION_URL = "https://api.bybit.com/v5/order/create"
BTC, ETH, SOL, SPOT_BTC = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "BTC/USDT"

SCENARIO: dict[str, Any] = {
    "markets": {
        "BTC": {"spot_price": 40000, "funding_rate": 0.0001, "amount_step": 0.001, "price_tick": 0.1,
                "brackets": [{"notional_cap": 50000, "mmr": 0.004, "max_leverage": 50},
                             {"notional_cap": 250000, "mmr": 0.005, "max_leverage": 20},
                             {"notional_cap": 1000000, "mmr": 0.01, "max_leverage": 10}]},
        "ETH": {"spot_price": 2000, "mark_price": 2001, "funding_rate": -0.0002, "amount_step": 0.001,
                "price_tick": 0.01, "mmr": 0.01, "funding_interval_hours": 4},
        # Lot figures in contracts of 0.1 SOL: Bybit counts base units, so qtyStep is 0.1 SOL.
        "SOL": {"spot_price": 100, "amount_step": 1, "min_qty": 1, "price_tick": 0.01, "contract_size": 0.1},
        "BNB": {"spot_price": 300, "perp": False},
    },
    "spot": {"BTC": 0.1, "ETH": 1.0, "BNB": 2, "USDT": 50},
    "futures": {"wallet": 3000, "leverage": 5,
                "positions": [{"symbol": "SOL", "amount": -2.5, "entry_price": 100}]},
}


def point_at(client: Any, base_url: str) -> Any:
    """Every urls['api'] entry to base_url (Bybit's are templated https://api.{hostname})."""
    client.urls["api"] = {k: base_url + urllib.parse.urlsplit(v).path for k, v in client.urls["api"].items()}
    return client


def make_client(sim: RunningExchange, **overrides: Any) -> Any:
    config = {"apiKey": sim.api_key, "secret": sim.api_secret, "enableRateLimit": False,
              "options": {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False}}
    config.update(overrides)
    client = point_at(ccxt_async.bybit(config), sim.base_url)
    client.timeout_on_exit = 0
    return client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[RunningExchange]:
    async with start_exchange(SCENARIO, dialect="bybit") as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(sim: RunningExchange) -> AsyncIterator[Any]:
    exchange = make_client(sim)
    await exchange.load_markets()
    yield exchange
    await exchange.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(sim: RunningExchange) -> AsyncIterator[Callable[..., Any]]:
    async with aiohttp.ClientSession() as session:
        async def post(path: str, body: dict[str, Any] | None = None) -> Any:
            async with session.post(sim.base_url + "/_sim/" + path, json=body or {}) as response:
                assert response.status == 200, await response.text()
                return await response.json()
        yield post


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh(admin: Callable[..., Any]) -> None:
    await admin("reset")


def D(value: Any) -> Decimal:
    return Decimal(str(value))


# --------------------------------------------------------------------------- the calls the rebalancer makes


async def test_load_markets_when_spot_and_linear_then_lot_filters_in_base_units(client: Any, sim: RunningExchange) -> None:
    """Markets: spot and linear, qtyStep/min/max/minNotional/tick/leverage from the scenario, SOL's
    contract lots scaled to base units with ccxt's contractSize 1 (Bybit's linear unit)."""
    btc, sol, bnb = client.markets[BTC], client.markets[SOL], client.markets["BNB/USDT"]
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (0.001, 0.1)
    assert btc["limits"]["cost"]["min"] == 5 and btc["limits"]["leverage"]["max"] == 50
    assert btc["contractSize"] == 1 and btc["linear"] and btc["settle"] == "USDT"
    assert (sol["precision"]["amount"], sol["limits"]["amount"]["min"], sol["contractSize"]) == (0.1, 0.1, 1)
    assert bnb["spot"] and "BNB/USDT:USDT" not in client.markets
    assert await client.fetch_time() == pytest.approx(sim.server.clock(), abs=5000)


async def test_fetch_balance_when_unified_then_usdt_is_wallet_plus_spot_and_totals_are_the_engine_account(
        client: Any, sim: RunningExchange) -> None:
    """USDT total = futures wallet + spot USDT; spot coins as held; account totals from AccountRisk."""
    balance = await client.fetch_balance()
    account = sim.engine.account()
    assert D(balance["USDT"]["total"]) == account.wallet + 50
    assert (balance["BTC"]["total"], balance["BNB"]["total"]) == (0.1, 2)
    info = balance["info"]["result"]["list"][0]
    assert info["accountType"] == "UNIFIED"
    assert D(info["totalMaintenanceMargin"]) == account.maint_margin > 0
    assert D(info["totalInitialMargin"]) == account.initial_margin
    assert D(info["totalMarginBalance"]) == D(info["totalEquity"]) == account.margin_balance + 50
    assert D(info["totalPerpUPL"]) == account.unrealized_pnl
    btc_coin = next(c for c in info["coin"] if c["coin"] == "BTC")
    assert btc_coin["marginCollateral"] is False and btc_coin["collateralSwitch"] is False


async def test_fetch_positions_by_settle_coin_then_only_open_positions_in_base_units(client: Any, sim: RunningExchange) -> None:
    """settleCoin form: the open SOL short (2.5 SOL = 25 contracts of 0.1) in base units, with the engine's numbers."""
    positions = await client.fetch_positions(None, {"settleCoin": "USDT"})
    assert [p["symbol"] for p in positions] == [SOL]
    p = positions[0]
    risk = sim.engine.position_risk("SOLUSDT")
    assert (p["side"], D(p["contracts"]), p["contractSize"]) == ("short", Decimal("2.5"), 1)
    assert D(p["entryPrice"]) == risk.entry_price and D(p["markPrice"]) == risk.mark_price
    assert D(p["maintenanceMargin"]) == risk.maint_margin and D(p["initialMargin"]) == risk.initial_margin
    assert D(p["liquidationPrice"]) == risk.liquidation_price.quantize(Decimal("0.01"))
    assert p["leverage"] == 5 and p["hedged"] is False and p["info"]["tradeMode"] == 0


async def test_fetch_positions_one_symbol_when_flat_then_one_row_without_side(client: Any) -> None:
    """The one-symbol form answers the symbol's row even when flat (side "" -> None, size 0)."""
    positions = await client.fetch_positions([BTC])
    assert len(positions) == 1 and positions[0]["contracts"] == 0 and positions[0]["side"] is None


async def test_fetch_funding_rates_then_rate_mark_next_time_and_interval(client: Any, sim: RunningExchange) -> None:
    """Funding: rate, mark, next funding time and the interval ccxt reads from fundingInterval."""
    rates = await client.fetch_funding_rates([BTC, ETH])
    eth = rates[ETH]
    m = sim.engine.markets["ETHUSDT"]
    assert (D(eth["fundingRate"]), D(eth["markPrice"]), eth["interval"]) == (Decimal("-0.0002"), Decimal("2001"), "4h")
    assert eth["fundingTimestamp"] == sim.engine.next_funding_time(m)
    assert rates[BTC]["interval"] == "8h" and eth["info"]["fundingIntervalHour"] == "4"


async def test_fetch_tickers_spot_then_bid_ask_last(client: Any) -> None:
    tickers = await client.fetch_tickers([SPOT_BTC, "BNB/USDT"])
    assert set(tickers) == {SPOT_BTC, "BNB/USDT"}
    assert tickers[SPOT_BTC]["last"] == 40000 and tickers[SPOT_BTC]["bid"] <= 40000 <= tickers[SPOT_BTC]["ask"]


async def test_fetch_market_leverage_tiers_then_the_engine_brackets(client: Any) -> None:
    tiers = await client.fetch_market_leverage_tiers(BTC)
    assert [(t["minNotional"], t["maxNotional"], t["maintenanceMarginRate"], t["maxLeverage"]) for t in tiers] == [
        (0, 50000, 0.004, 50), (50000, 250000, 0.005, 20), (250000, 1000000, 0.01, 10)]


async def test_set_leverage_when_unchanged_then_110043_bad_request(client: Any, sim: RunningExchange) -> None:
    """A new leverage is set; the same one again answers 110043 "leverage not modified" (BadRequest)."""
    await client.set_leverage(3, BTC)
    assert sim.engine.markets["BTCUSDT"].leverage == 3
    with pytest.raises(ccxt.BadRequest, match="110043"):
        await client.set_leverage(3, BTC)


async def test_set_margin_mode_when_cross_then_accepted_and_isolated_is_unsupported(client: Any) -> None:
    """Unified: an account-wide REGULAR_MARGIN switch; ISOLATED_MARGIN is not simulated (ExchangeError)."""
    response = await client.set_margin_mode("cross", BTC)
    assert response["retCode"] == 0
    with pytest.raises(ccxt.ExchangeError, match="170227"):
        await client.set_margin_mode("isolated", BTC)


async def test_create_market_order_then_reply_has_ids_only_and_lookups_by_link_id_tell_the_outcome(
        client: Any, sim: RunningExchange) -> None:
    """The create reply carries only orderId/orderLinkId (no status); realtime by orderLinkId and
    history (Filled) tell filled, average and fee; the position moved by the amount."""
    order = await client.create_order(BTC, "market", "sell", 0.025, None, {"clientOrderId": "rb-m1"})
    assert order["clientOrderId"] == "rb-m1" and order["status"] is None and order["filled"] is None
    assert set(order["info"]) == {"orderId", "orderLinkId"}
    [seen] = await client.fetch_open_orders(BTC, None, None, {"orderLinkId": "rb-m1"})
    closed = await client.fetch_closed_order("", BTC, {"orderLinkId": "rb-m1"})
    fee = Decimal("0.025") * 40000 * sim.scenario.futures.fee_rate
    for found in (seen, closed):
        assert (found["id"], found["status"], found["filled"], found["average"]) == (order["id"], "closed", 0.025, 40000)
        assert D(found["fee"]["cost"]) == fee and found["reduceOnly"] is False
    assert sim.engine.positions["BTCUSDT"].amount == Decimal("-0.025")


async def test_fetch_open_order_with_none_id_then_not_found_because_ccxt_sends_orderid_none(client: Any) -> None:
    """ccxt's fetch_open_order(None, ...) sends orderId=None, which (orderId before orderLinkId, as
    Bybit ranks them) matches nothing: the lookup by client id must not use it."""
    await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "rb-none"})
    with pytest.raises(ccxt.OrderNotFound):
        await client.fetch_open_order(None, BTC, {"orderLinkId": "rb-none"})


async def test_limit_orders_when_resting_then_open_cancel_and_history(client: Any) -> None:
    """A resting GTC limit is New in realtime, cancel makes it Cancelled (history), a second cancel is
    OrderNotFound (110001); a non-marketable IOC limit is Cancelled unfilled."""
    rest = await client.create_order(BTC, "limit", "buy", 0.01, 30000, {"clientOrderId": "rb-l1"})
    opened = await client.fetch_open_orders(BTC)
    assert [(o["id"], o["status"], o["remaining"], o["price"]) for o in opened] == [(rest["id"], "open", 0.01, 30000)]
    await client.cancel_order(rest["id"], BTC)
    with pytest.raises(ccxt.OrderNotFound):
        await client.cancel_order(rest["id"], BTC)
    ioc = await client.create_order(BTC, "limit", "buy", 0.01, 30000, {"clientOrderId": "rb-l2", "timeInForce": "IOC"})
    canceled = await client.fetch_canceled_orders(BTC)
    assert {(o["id"], o["status"], o["filled"]) for o in canceled} == {(rest["id"], "canceled", 0), (ioc["id"], "canceled", 0)}
    assert await client.fetch_open_orders(BTC) == []


async def test_reduce_only_when_position_then_reduces_and_my_trades_carry_fees(client: Any, sim: RunningExchange) -> None:
    """A reduce-only buy closes part of the SOL short; fetch_my_trades(symbol, since) lists the fill with its fee."""
    since = sim.server.clock()
    await client.create_order(SOL, "market", "buy", 1, None, {"clientOrderId": "rb-r1", "reduceOnly": True})
    assert sim.engine.positions["SOLUSDT"].amount == Decimal("-1.5")
    [trade] = await client.fetch_my_trades(SOL, since)
    assert (trade["side"], trade["amount"], trade["price"], trade["takerOrMaker"]) == ("buy", 1, 100, "taker")
    assert D(trade["fee"]["cost"]) == 100 * sim.scenario.futures.fee_rate and trade["fee"]["currency"] == "USDT"
    assert trade["info"]["orderLinkId"] == "rb-r1"


async def test_funding_history_and_ledger_when_settled_then_the_engine_payment(
        client: Any, sim: RunningExchange, admin: Callable[..., Any]) -> None:
    """A short pays no funding at 0 rate, so SOL gets a rate; the payment is a Funding execution
    (execFee > 0 when paid, Bybit's sign) and a SETTLEMENT ledger row (signed from the account)."""
    await admin("funding", {"SOL": -0.001})  # negative: the short pays
    [paid] = (await admin("settle-funding"))["payments"]
    income = Decimal(paid["income"])
    assert income < 0
    [funding] = await client.fetch_funding_history(SOL)
    assert D(funding["amount"]) == -income and funding["symbol"] == SOL
    [entry] = await client.fetch_ledger("USDT")
    assert (entry["type"], entry["direction"], D(entry["amount"])) == ("trade", "out", -income)
    assert D(entry["after"]) == sim.engine.wallet + 50 and entry["info"]["type"] == "SETTLEMENT"


async def test_duplicate_order_link_id_when_first_filled_then_invalid_order_110072(client: Any) -> None:
    """Bybit keeps orderLinkId unique across all orders, finished ones too."""
    await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "rb-dup"})
    with pytest.raises(ccxt.InvalidOrder, match="110072"):
        await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "rb-dup"})


# --------------------------------------------------------------------------- error mapping


# What the rebalancer needs each refusal to be (a ccxt class the venue layer decides by).
EXPECTED: dict[Reason, type[Exception]] = {
    Reason.MISSING_PARAMETER: ccxt.BadRequest, Reason.BAD_PARAMETER: ccxt.BadRequest,
    Reason.AUTH_MISSING_KEY: ccxt.AuthenticationError, Reason.AUTH_BAD_KEY: ccxt.AuthenticationError,
    Reason.BAD_SIGNATURE: ccxt.AuthenticationError, Reason.TIMESTAMP_OUTSIDE_WINDOW: ccxt.InvalidNonce,
    Reason.RATE_LIMITED: ccxt.RateLimitExceeded, Reason.SERVICE_UNAVAILABLE: ccxt.ExchangeNotAvailable,
    Reason.UNKNOWN_ROUTE: ccxt.BadRequest, Reason.INTERNAL: ccxt.ExchangeError, Reason.UNSUPPORTED: ccxt.ExchangeError,
    Reason.UNKNOWN_SYMBOL: ccxt.BadSymbol, Reason.ORDER_NOT_FOUND: ccxt.OrderNotFound,
    Reason.CANCEL_UNKNOWN_ORDER: ccxt.OrderNotFound, Reason.BAD_SIDE: ccxt.BadRequest,
    Reason.BAD_ORDER_TYPE: ccxt.BadRequest, Reason.BAD_TIME_IN_FORCE: ccxt.BadRequest,
    Reason.PRICE_NOT_ALLOWED: ccxt.BadRequest, Reason.BAD_PRICE_TICK: ccxt.BadRequest,
    Reason.QUANTITY_NOT_POSITIVE: ccxt.BadRequest, Reason.QUANTITY_ABOVE_MAX: ccxt.BadRequest,
    Reason.LOT_SIZE: ccxt.InvalidOrder, Reason.MIN_NOTIONAL: ccxt.InvalidOrder,
    Reason.DUPLICATE_CLIENT_ID: ccxt.InvalidOrder, Reason.REDUCE_ONLY_REJECTED: ccxt.InvalidOrder,
    Reason.POSITION_SIDE_MISMATCH: ccxt.BadRequest, Reason.POSITION_LIMIT: ccxt.InvalidOrder,
    Reason.INSUFFICIENT_MARGIN: ccxt.InsufficientFunds, Reason.BAD_LEVERAGE: ccxt.BadRequest,
    Reason.LEVERAGE_INSUFFICIENT_MARGIN: ccxt.InsufficientFunds, Reason.LEVERAGE_UNCHANGED: ccxt.BadRequest,
    Reason.MARGIN_MODE_UNCHANGED: ccxt.MarginModeAlreadySet, Reason.MARGIN_MODE_OPEN_ORDERS: ccxt.ExchangeError,
    Reason.MARGIN_MODE_POSITION: ccxt.ExchangeError, Reason.POSITION_MODE_UNCHANGED: ccxt.NoChange,
    Reason.POSITION_MODE_POSITION: ccxt.BadRequest, Reason.STOP_WOULD_TRIGGER: ccxt.InvalidOrder,
    Reason.INSUFFICIENT_BALANCE: ccxt.InsufficientFunds,
}


def production_class(rejection: Rejection) -> type[Exception] | None:
    """The class stock ccxt.bybit raises for this answer at Bybit's production URL (body first, then HTTP status)."""
    code, message, status = answer(rejection)
    stock = ccxt.bybit()
    body = message if code is None else json.dumps({"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}})
    parsed = None if code is None else json.loads(body)
    try:
        stock.handle_errors(status, "", PRODUCTION_URL, "POST", {}, body, parsed, {}, "")
        stock.handle_http_status_code(status, "", PRODUCTION_URL, "POST", body)
    except ccxt.BaseError as exc:
        return type(exc)
    return None


async def test_code_table_covers_every_reason() -> None:
    assert rejection_table_complete(CODES) == []
    assert set(EXPECTED) == set(CODES)


@pytest.mark.parametrize("reason", list(CODES), ids=lambda r: r.value)
async def test_each_reason_maps_to_the_class_production_ccxt_raises(reason: Reason) -> None:
    """Production ccxt raises, for the code each reason answers, exactly the class the rebalancer expects."""
    assert production_class(Rejection(reason)) is EXPECTED[reason]


async def test_forced_code_maps_like_production() -> None:
    """reject_orders_with="110007" answers retCode 110007: InsufficientFunds, as in production."""
    assert production_class(Rejection(Reason.FORCED, code="110007")) is ccxt.InsufficientFunds


async def _raises(call: Callable[[], Any], cls: type[Exception], code: str | None = None) -> Exception:
    with pytest.raises(cls) as caught:
        await call()
    assert type(caught.value) is cls, f"{type(caught.value).__name__}: {caught.value}"
    if code is not None:
        assert f'"retCode": {code}' in str(caught.value)
    return caught.value


async def test_insufficient_margin_through_the_client_is_insufficient_funds(client: Any) -> None:
    await _raises(lambda: client.create_order(BTC, "market", "buy", 1), ccxt.InsufficientFunds, "110007")


async def test_min_notional_and_lot_size_through_the_client_are_invalid_order(client: Any) -> None:
    """$4 of ETH is under 5 USDT (110094); 0.0015 BTC sent raw is off the lot grid (170136)."""
    await _raises(lambda: client.create_order(ETH, "market", "buy", 0.002), ccxt.InvalidOrder, "110094")
    await _raises(lambda: client.privatePostV5OrderCreate(
        {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.0015"}),
        ccxt.InvalidOrder, "170136")


async def test_reduce_only_when_flat_through_the_client_is_invalid_order(client: Any) -> None:
    await _raises(lambda: client.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True}),
                  ccxt.InvalidOrder, "110017")


async def test_unknown_symbol_through_the_client_is_bad_symbol(client: Any) -> None:
    await _raises(lambda: client.publicGetV5MarketTickers({"category": "linear", "symbol": "DOGEUSDT"}), ccxt.BadSymbol)


async def test_forced_rejection_fault_through_the_client(client: Any, admin: Callable[..., Any]) -> None:
    """reject_orders_with answers the configured Bybit code before execution."""
    await admin("faults", {"reject_orders_with": "110007"})
    await _raises(lambda: client.create_order(BTC, "market", "buy", 0.01), ccxt.InsufficientFunds, "110007")


async def test_rate_limit_fault_is_rate_limit_exceeded_with_retry_after(client: Any, admin: Callable[..., Any]) -> None:
    await admin("faults", {"rate_limit_429": 1})
    await _raises(lambda: client.fetch_positions([BTC]), ccxt.RateLimitExceeded, "10006")
    assert client.last_response_headers.get("Retry-After") == "1"


async def test_5xx_fault_is_exchange_not_available(client: Any, admin: Callable[..., Any]) -> None:
    """A 503 gateway answer is retryable (ccxt ExchangeNotAvailable, a NetworkError) and executes nothing."""
    await admin("faults", {"error_rate_5xx": 1.0})
    await _raises(lambda: client.create_order(BTC, "market", "buy", 0.01), ccxt.ExchangeNotAvailable)
    await admin("faults", {"error_rate_5xx": 0.0})
    assert await client.fetch_open_orders(BTC, None, None, {"openOnly": 1}) == []


# --------------------------------------------------------------------------- auth


async def test_wrong_secret_is_10004_authentication_error(sim: RunningExchange) -> None:
    bad = make_client(sim, secret="wrong-secret")
    try:
        await _raises(lambda: bad.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"}),
                      ccxt.AuthenticationError, "10004")
    finally:
        await bad.close()


async def test_wrong_key_is_10003_authentication_error(sim: RunningExchange) -> None:
    bad = make_client(sim, apiKey="wrong-key")
    try:
        await _raises(lambda: bad.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"}),
                      ccxt.AuthenticationError, "10003")
    finally:
        await bad.close()


@pytest.mark.parametrize("skew_ms", [-60_000, 60_000], ids=["server-behind", "server-ahead"])
async def test_timestamp_outside_window_is_10002_invalid_nonce(client: Any, admin: Callable[..., Any], skew_ms: int) -> None:
    """Bybit's window: server - recv_window <= timestamp < server + 1000 ms; outside it, 10002."""
    await admin("faults", {"clock_skew_ms": skew_ms})
    await _raises(lambda: client.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"}), ccxt.InvalidNonce, "10002")


# --------------------------------------------------------------------------- shapes vs the recordings


# ccxt writes result.nextPageCursor into list[0] of what it recorded (add_pagination_cursor_to_result)
# and a numeric `timestamp` into funding tickers: artefacts of the recording, not of Bybit.
ARTEFACTS = {".result.list[].nextPageCursor", ".result.list[].timestamp"}
# Fields Bybit sends that the (older or spot) recordings lack, each said where it is built.
EXTRAS: dict[str, set[str]] = {
    "fetchFundingRate": {".result.list[].fundingIntervalHour extra"},
    "fetchFundingRates": {".result.list[].fundingIntervalHour extra"},
    "fetchTicker": {".result.list[].fundingIntervalHour extra", ".result.list[].preOpenPrice extra",
                    ".result.list[].preQty extra", ".result.list[].curPreListingPhase extra"},
    "fetchOrder": {".result.list[].tpslMode extra", ".result.list[].createType extra", ".result.list[].cumFeeDetail extra"},
}


def shaped(recorded: Any) -> Any:
    keys = keys_of(recorded)
    for artefact in ARTEFACTS:
        node = keys
        *parents, leaf = [p for p in artefact.replace("[]", ".[]").split(".") if p]
        for part in parents:
            node = node[0] if part == "[]" and isinstance(node, list) else (node or {}).get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return keys


async def _our_payload(method: str, client: Any, admin: Callable[..., Any]) -> Any:
    """Our raw answer to the request the recorded entry's method sends, with state that fills it."""
    if method in ("fetchPositions",):
        return await client.privateGetV5PositionList({"category": "linear", "settleCoin": "USDT"})
    if method == "fetchPosition":
        return await client.privateGetV5PositionList({"category": "linear", "symbol": "BTCUSDT"})
    if method == "fetchBalance":
        return await client.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"})
    if method in ("fetchFundingRate", "fetchFundingRates", "fetchTicker"):
        return await client.publicGetV5MarketTickers({"category": "linear", "symbol": "BTCUSDT"})
    if method == "createOrder":
        return await client.privatePostV5OrderCreate({"category": "linear", "symbol": "BTCUSDT", "side": "Buy",
                                                      "orderType": "Market", "qty": "0.01", "orderLinkId": "shape-1"})
    if method == "fetchOrder":
        await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "shape-2"})
        return await client.privateGetV5OrderHistory({"category": "linear", "orderLinkId": "shape-2"})
    if method == "fetchLedger":
        await admin("funding", {"SOL": -0.001})
        await admin("settle-funding")
        return await client.privateGetV5AccountTransactionLog({"currency": "USDT"})
    if method == "fetchFundingHistory":
        await admin("funding", {"SOL": -0.001})
        await admin("settle-funding")
        return await client.privateGetV5ExecutionList({"category": "linear", "execType": "Funding"})
    raise AssertionError(method)


# Recorded responses of calls the sim does not serve: options tickers (no option markets here).
NOT_SERVED = {"fetchTickers"}
SHAPE_CASES = [(m, e["description"]) for m, entries in RECORDED["methods"].items() if m not in NOT_SERVED for e in entries]


@pytest.mark.parametrize(("method", "description"), SHAPE_CASES)
async def test_payload_keys_match_the_recorded_bybit_payload(
        method: str, description: str, client: Any, admin: Callable[..., Any]) -> None:
    """Our payload has the recorded httpResponse's keys, recursively (types and values may differ)."""
    recorded = next(e for e in RECORDED["methods"][method] if e["description"] == description)["httpResponse"]
    ours = await _our_payload(method, client, admin)
    found = set(differences(shaped(recorded), keys_of(ours)))
    assert found == EXTRAS.get(method, set())


def _served_request_cases() -> list[tuple[str, str, dict[str, Any]]]:
    """Recorded requests of the calls the rebalancer makes (linear/spot reads, linear orders without
    triggers, tp/sl or trailing), as (method, path, params)."""
    skip_words = ("trigger", "stopLoss", "takeProfit", "trailing", "marketUnit", "orderFilter", "inverse", "ISOLATED")
    cases = []
    for method, entries in REQUESTS["methods"].items():
        for entry in entries:
            url = urllib.parse.urlsplit(entry["url"])
            body = json.loads(entry["output"]) if entry.get("output") else None
            text = entry["url"] + (entry.get("output") or "")
            if any(word in text for word in skip_words) or (body or {}).get("category") == "spot" and method == "createOrder":
                continue
            params = body if body is not None else dict(urllib.parse.parse_qsl(url.query))
            cases.append((method, url.path, params))
    return cases


SYMBOLS = {"LTCUSDT": "BTCUSDT", "ADAUSDT": "BTCUSDT", "TRXUSDT": "BTCUSDT", "XRPUSDT": "BTCUSDT"}


@pytest.mark.parametrize(("method", "path", "params"), _served_request_cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
async def test_recorded_request_is_accepted_by_our_route(method: str, path: str, params: dict[str, Any], client: Any) -> None:
    """The request ccxt recorded against Bybit (path, params/body keys) reaches a route of ours and is
    not refused as malformed (10001 / 10017); business refusals (unknown order id, margin) may answer."""
    params = {k: SYMBOLS.get(v, v) if k == "symbol" else v for k, v in params.items()}
    signed = not path.startswith("/v5/market/")
    verb = "POST" if path in ("/v5/order/create", "/v5/order/cancel", "/v5/position/set-leverage",
                              "/v5/account/set-margin-mode") else "GET"
    try:
        response = await client.request(path.lstrip("/"), ["private" if signed else "public"], verb, params)
    except ccxt.ExchangeError as exc:
        message = str(exc)
        assert '"retCode": 10001' not in message and '"retCode": 10017' not in message, message
        assert any(f'"retCode": {code}' in message for code in (110001, 110007, 110016, 110017, 110043)), message
        return
    assert response["retCode"] == 0


# --------------------------------------------------------------------------- ccxt's own validators


# Calibrated on the recorded real payloads' parsedResponse (the same validators fail there too):
# - position: bybit's parse_position leaves `marginMode` None (tradeMode was deprecated) and
#   `percentage` None, where the validator wants values;
# - ledger: parse_ledger_entry reads `account` from wallet_id, which v5 rows do not have.
POSITION_SKIPS = {"marginMode": True, "percentage": True}
LEDGER_SKIPS = {"account": True}
# Only for the recordings themselves: the recorded position predates ccxt's positionMargin field,
# and a stock client without loaded markets knows no currency codes.
RECORDING_ONLY = {"positionMargin": True, "currency": True}


async def test_validator_skips_are_exactly_what_the_recorded_real_payloads_need() -> None:
    """With the skips the recorded payloads pass; without any one of them they fail."""
    exchange = ccxt.bybit()
    now = exchange.milliseconds()
    position = RECORDED["methods"]["fetchPositions"][0]["parsedResponse"][0]
    ledger = RECORDED["methods"]["fetchLedger"][0]["parsedResponse"][0]
    checks = [
        (lambda skips: ccxt_position(exchange, skips, "fetchPositions", position, None, now), POSITION_SKIPS),
        (lambda skips: ccxt_ledger_entry(exchange, skips, "fetchLedger", ledger, "USDT", now), LEDGER_SKIPS),
    ]
    for check, skips in checks:
        check({**skips, **RECORDING_ONLY})
        for key in skips:
            with pytest.raises(AssertionError, match=key):
                check({**{k: v for k, v in skips.items() if k != key}, **RECORDING_ONLY})
    ccxt_balance(exchange, {}, "fetchBalance", RECORDED["methods"]["fetchBalance"][0]["parsedResponse"])


async def test_ccxt_validators_accept_what_ccxt_parses_from_our_payloads(client: Any, sim: RunningExchange) -> None:
    now = client.milliseconds()
    order = await client.create_order(BTC, "market", "sell", 0.02, None, {"clientOrderId": "rb-v1"})
    [seen] = await client.fetch_open_orders(BTC, None, None, {"orderLinkId": "rb-v1"})
    ccxt_order(client, {}, "fetchOpenOrders", seen, BTC, now)
    for position in await client.fetch_positions(None, {"settleCoin": "USDT"}):
        ccxt_position(client, POSITION_SKIPS, "fetchPositions", position, None, now)
    ccxt_balance(client, {}, "fetchBalance", await client.fetch_balance())
    for trade in await client.fetch_my_trades(BTC):
        ccxt_trade(client, {}, "fetchMyTrades", trade, BTC, now, False)
    for symbol, ticker in (await client.fetch_tickers([SPOT_BTC, "BNB/USDT"])).items():
        ccxt_ticker(client, {}, "fetchTickers", ticker, symbol)
    for tier in await client.fetch_market_leverage_tiers(BTC):
        ccxt_leverage_tier(client, {}, "fetchMarketLeverageTiers", tier)
    for entry in await client.fetch_ledger("USDT"):
        ccxt_ledger_entry(client, LEDGER_SKIPS, "fetchLedger", entry, "USDT", now)
    assert order["id"] == seen["id"]
