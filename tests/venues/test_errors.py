"""ccxt exceptions map to the venue error that says what to do, for reads and for writes."""

import ccxt
import pytest

from rebalancer.venues.errors import (
    AuthError,
    ClockSkewError,
    FatalError,
    InsufficientMarginError,
    OrderNotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
    translate,
)


@pytest.mark.parametrize(
    "exc, read_cls, write_cls",
    [
        (ccxt.RequestTimeout("binance timeout"), TransientError, UnknownOutcomeError),
        (ccxt.ExchangeNotAvailable("502"), TransientError, UnknownOutcomeError),
        (ccxt.OperationFailed('binance {"code":-1006,"msg":"Unexpected response"}'), TransientError, UnknownOutcomeError),
        (ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp outside recvWindow"}'), ClockSkewError, ClockSkewError),
        (ccxt.DDoSProtection('binance {"code":-1003,"msg":"Too many requests"}'), RateLimitedError, UnknownOutcomeError),
        (ccxt.AuthenticationError('binance {"code":-2015,"msg":"Invalid API-key"}'), AuthError, AuthError),
        (ccxt.InsufficientFunds('binance {"code":-2019,"msg":"Margin is insufficient."}'), InsufficientMarginError, InsufficientMarginError),
        (ccxt.InvalidOrder('binance {"code":-2022,"msg":"ReduceOnly Order is rejected."}'), RejectedError, RejectedError),
        (ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}'), OrderNotFoundError, OrderNotFoundError),
        (ccxt.BadSymbol("binance does not have market symbol DOGE/USDT:USDT"), FatalError, RejectedError),
        (ccxt.NotSupported("sandbox"), FatalError, FatalError),
        (TimeoutError(), TransientError, UnknownOutcomeError),
    ],
)
def test_translate_when_ccxt_error_then_decision_class(exc, read_cls, write_cls):
    """Each ccxt class lands in the class whose docstring says what the caller must do."""
    assert type(translate(exc, write=False)) is read_cls
    assert type(translate(exc, write=True)) is write_cls


def test_translate_keeps_code_and_retry_after():
    """The exchange's code and the Retry-After header survive translation."""
    err = translate(ccxt.DDoSProtection('binance {"code":-1003,"msg":"Too many"}'), write=False,
                    headers={"Retry-After": "2"})
    assert err.code == "-1003" and err.retry_after == 2.0 and str(err) == "Too many"
