"""Write-side transport failures after the request left are unknown outcomes, never rejections.

ccxt wraps aiohttp's errors (ClientPayloadError -> ExchangeError, a closed connection ->
ExchangeNotAvailable); the classification looks at the exception's causes, not only its class.
"""

import json

import aiohttp
import ccxt
import pytest

from rebalancer.venues.errors import (
    InsufficientMarginError,
    OrderNotFoundError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
    transport_failure,
    translate,
)


def wrapped(outer: Exception, inner: BaseException) -> Exception:
    """`outer` raised `from inner`, as ccxt raises its transport errors."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except Exception as raised:
        return raised


HTML = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

AMBIGUOUS = [
    pytest.param(wrapped(ccxt.ExchangeError("binance POST http://127.0.0.1/fapi/v1/order"),
                         aiohttp.ClientPayloadError("Response payload is not completed")), id="cut body"),
    pytest.param(wrapped(ccxt.ExchangeNotAvailable("binance POST http://127.0.0.1/fapi/v1/order"),
                         aiohttp.ServerDisconnectedError()), id="reset"),
    pytest.param(wrapped(ccxt.ExchangeError("binance POST"), json.JSONDecodeError("Expecting value", "{", 1)),
                 id="truncated json"),
    pytest.param(ccxt.BadResponse("binance unreadable"), id="bad response"),
    pytest.param(ccxt.ExchangeNotAvailable(f"binance POST http://127.0.0.1/fapi/v1/order 502 Bad Gateway {HTML}"),
                 id="html 502"),
    pytest.param(ccxt.ExchangeError(f"binance POST http://127.0.0.1/fapi/v1/order 200 {HTML}"), id="html 200"),
    pytest.param(wrapped(ccxt.RequestTimeout("binance POST"), TimeoutError()), id="timeout"),
]


@pytest.mark.parametrize("exc", AMBIGUOUS)
def test_translate_when_write_transport_fails_after_send_then_unknown_outcome(exc):
    assert transport_failure(exc) is not None
    assert type(translate(exc, write=True)) is UnknownOutcomeError
    assert type(translate(exc, write=False)) is TransientError


@pytest.mark.parametrize("exc, write_cls", [
    (ccxt.InsufficientFunds('binance {"code":-2019,"msg":"Margin is insufficient."}'), InsufficientMarginError),
    (ccxt.InvalidOrder('binance {"code":-2022,"msg":"ReduceOnly Order is rejected."}'), RejectedError),
    (ccxt.ExchangeError('binance {"code":-9999,"msg":"unmapped"}'), RejectedError),
])
def test_translate_when_exchange_answers_in_json_then_its_own_class(exc, write_cls):
    assert transport_failure(exc) is None
    assert type(translate(exc, write=True)) is write_cls


def test_translate_when_not_found_raised_while_handling_a_reset_then_still_not_found():
    """A lookup's -2013 raised inside the handler of the order's reset carries the reset as its
    implicit context: that is where it was raised, not its cause."""
    try:
        try:
            raise wrapped(ccxt.ExchangeNotAvailable("binance POST"), aiohttp.ServerDisconnectedError())
        except ccxt.ExchangeNotAvailable:
            raise ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}')
    except ccxt.OrderNotFound as exc:
        found = exc
    assert transport_failure(found) is None
    assert type(translate(found, write=False)) is OrderNotFoundError
