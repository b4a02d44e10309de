"""Error tests: each Binance rejection from the local exchange raises the ccxt class production would raise.

The expected class is asserted by name and also re-derived by feeding the recorded response to stock
ccxt.binance's error handler with the production URL, so loopback mapping cannot drift from production.
"""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from rebalancer.exchange_sim import RunningExchange
from tests.exchange_sim.conftest import expect_error

pytestmark = pytest.mark.integration

PERP_BTC, PERP_ETH, SPOT_BTC = "BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT"


@pytest.fixture(scope="module")
def stock_binance() -> Any:
    return ccxt.binance()


async def test_margin_insufficient_is_insufficient_funds(ready_client: Any, stock_binance: Any) -> None:
    """-2019 (post-trade initial margin above margin balance) -> InsufficientFunds, as on fapi.binance.com."""
    await expect_error(
        ready_client, stock_binance, ccxt.InsufficientFunds,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", 1), code=-2019,
    )


async def test_min_notional_is_invalid_order(ready_client: Any, stock_binance: Any) -> None:
    """-4164: $4 of ETH is under the 5 USDT minimum."""
    await expect_error(
        ready_client, stock_binance, ccxt.InvalidOrder,
        lambda: ready_client.create_order(PERP_ETH, "market", "buy", 0.002), code=-4164,
    )


async def test_reduce_only_without_position_is_invalid_order(ready_client: Any, stock_binance: Any) -> None:
    """-2022: nothing to reduce."""
    await expect_error(
        ready_client, stock_binance, ccxt.InvalidOrder,
        lambda: ready_client.create_order(PERP_BTC, "market", "sell", 0.01, None, {"reduceOnly": True}), code=-2022,
    )


async def test_duplicate_open_client_id_is_invalid_order(ready_client: Any, stock_binance: Any) -> None:
    """-4116: a second order with the client id of a resting one."""
    await ready_client.create_order(PERP_BTC, "limit", "buy", 0.01, 30000, {"clientOrderId": "same"})
    await expect_error(
        ready_client, stock_binance, ccxt.InvalidOrder,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", 0.01, None, {"clientOrderId": "same"}), code=-4116,
    )


async def test_quantity_above_max_is_bad_request(ready_client: Any, stock_binance: Any) -> None:
    """-4005 "Quantity greater than max quantity." (fapi's answer above maxQty) -> BadRequest, as in production."""
    error = await expect_error(
        ready_client, stock_binance, ccxt.BadRequest,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", 20000), code=-4005,
    )
    assert "Quantity greater than max quantity." in str(error)


async def test_off_step_quantity_sent_raw_is_lot_size(ready_client: Any, stock_binance: Any) -> None:
    """A raw signed request with quantity 0.0015 (bypassing ccxt's truncation) gets LOT_SIZE -> InvalidOrder."""
    await expect_error(
        ready_client, stock_binance, ccxt.InvalidOrder,
        lambda: ready_client.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0015"}),
        code=-1013,
    )


async def test_bad_signature_is_authentication_error(make_client: Any, stock_binance: Any) -> None:
    """-1022: a request signed with the wrong secret."""
    client = make_client(secret="wrong-secret")
    await expect_error(client, stock_binance, ccxt.AuthenticationError, lambda: client.fetch_balance(), code=-1022)


async def test_unknown_api_key_is_authentication_error_on_a_fresh_instance(make_client: Any, stock_binance: Any) -> None:
    """-2015 (HTTP 401) on an instance that never authenticated -> AuthenticationError."""
    client = make_client(api_key="someone-else")
    await expect_error(
        client, stock_binance, ccxt.AuthenticationError, lambda: client.fetch_balance({"type": "future"}), code=-2015
    )


async def test_unknown_api_key_after_a_spot_success_is_ddos_protection(client: Any) -> None:
    """ccxt quirk kept as in production: after one successful spot private call, -2015 maps to DDoSProtection."""
    await client.fetch_balance()
    client.apiKey = "revoked"
    with pytest.raises(ccxt.DDoSProtection):
        await client.fetch_balance()


async def test_stale_timestamp_is_invalid_nonce(ready_client: Any, admin: Any, stock_binance: Any) -> None:
    """-1021: the server clock runs 30 s ahead of the client's timestamps; a resync fixes it."""
    await admin("POST", "faults", {"clock_skew_ms": 30_000})
    await expect_error(ready_client, stock_binance, ccxt.InvalidNonce, lambda: ready_client.fetch_balance(), code=-1021)
    await ready_client.load_time_difference()
    assert (await ready_client.fetch_balance())["total"]["BTC"] == 0.1


async def test_unknown_order_is_order_not_found(ready_client: Any, stock_binance: Any) -> None:
    """-2013 on fapi and on spot order queries; -2011 on cancel -> OrderNotFound."""
    await expect_error(
        ready_client, stock_binance, ccxt.OrderNotFound,
        lambda: ready_client.fetch_order(None, PERP_BTC, {"clientOrderId": "never-sent"}), code=-2013,
    )
    await expect_error(
        ready_client, stock_binance, ccxt.OrderNotFound,
        lambda: ready_client.fetch_order(None, SPOT_BTC, {"clientOrderId": "never-sent"}), code=-2013,
    )
    await expect_error(
        ready_client, stock_binance, ccxt.OrderNotFound, lambda: ready_client.cancel_order("12345", PERP_BTC), code=-2011
    )


async def test_hedge_mode_order_without_position_side_is_operation_rejected(
    ready_client: Any, admin: Any, stock_binance: Any
) -> None:
    """-4061 when the account is in hedge (dual-side) mode and the order has no positionSide."""
    await admin("POST", "position-mode", {"dualSidePosition": True})
    await expect_error(
        ready_client, stock_binance, ccxt.OperationRejected,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", 0.01), code=-4061,
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("-2019", ccxt.InsufficientFunds),
        ("-2018", ccxt.InsufficientFunds),
        ("-1008", ccxt.OperationFailed),
        ("-1007", ccxt.RequestTimeout),
        ("-2027", ccxt.OperationRejected),
        ("-1015", ccxt.RateLimitExceeded),
    ],
)
async def test_forced_rejections_map_like_production(
    ready_client: Any, admin: Any, stock_binance: Any, code: str, expected: type
) -> None:
    """reject_orders_with forces a Binance code on new orders; the class matches production's linear map."""
    await admin("POST", "faults", {"reject_orders_with": code})
    await expect_error(
        ready_client, stock_binance, expected,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", 0.01), code=int(code),
    )


async def test_unknown_route_is_a_json_error_not_a_retryable_404(client: Any, sim: RunningExchange) -> None:
    """A route the sim lacks answers HTTP 404 {"code":-5000}: ccxt raises ExchangeError, not a NetworkError."""
    with pytest.raises(ccxt.ExchangeError) as info:
        await client.fapiPublicGetFundingRate({"symbol": "BTCUSDT"})
    assert not isinstance(info.value, ccxt.NetworkError)
    assert "-5000" in str(info.value) and "/fapi/v1/fundingRate" in str(info.value)
    assert sim.server.requests["GET /fapi/v1/fundingRate"] == 1


async def test_sim_refusals_are_permanent_exchange_errors(ready_client: Any) -> None:
    """Things the sim does not simulate (spot orders) fail with a clear, non-retryable ExchangeError."""
    with pytest.raises(ccxt.ExchangeError, match="does not simulate spot trading") as info:
        await ready_client.create_order(SPOT_BTC, "market", "buy", 0.01)
    assert not isinstance(info.value, ccxt.OperationFailed)


def test_every_neutral_reason_has_a_binance_code() -> None:
    """The engine refuses in neutral reasons; the binance dialect must answer each in a Binance code
    (a reason left out would surface as a KeyError inside the server, not as Binance's error)."""
    from rebalancer.exchange_sim.dialects.base import rejection_table_complete
    from rebalancer.exchange_sim.dialects.binance.codes import CODES

    assert rejection_table_complete(CODES) == []
