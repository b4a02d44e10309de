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


# --------------------------------------------------------------------------- redaction and plain words

import asyncio  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import traceback  # noqa: E402

from rebalancer.venues.binance_local import make_local_binance  # noqa: E402
from rebalancer.venues.errors import Where, scrub  # noqa: E402

KEY = "KEYzq7Hn4Vb9Tx2Lm8Rp5Wc3"
SECRET = "SECq9Zr2Kd7Yf4Nh6Bs1Xv8Jw"
LOCAL = Where(venue="main", timeout_s=0.5, local=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _signed_read_error(base_url: str, **kw) -> BaseException:
    """What ccxt raises for a signed GET (/fapi/v2/account?timestamp=..&signature=..) that fails."""
    client = make_local_binance(base_url, KEY, SECRET, timeout=500, **kw)
    try:
        await client.fapiPrivateV2GetAccount()
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever ccxt raised
        return exc
    finally:
        await client.close()
    raise AssertionError("the request did not fail")


def _translated_traceback(exc: BaseException, where: Where = LOCAL) -> tuple[object, str]:
    """translate() as the venue does it (raise ... from exc) and the full rendered traceback."""
    try:
        try:
            raise exc
        except Exception as inner:
            raise translate(inner, write=False, where=where) from inner
    except Exception as err:  # noqa: BLE001
        return err, "".join(traceback.format_exception(err))


def _assert_clean(text: str) -> None:
    for leak in ("signature=", "timestamp=", "recvWindow", KEY, SECRET):
        assert leak not in text, f"{leak!r} leaked: {text[-600:]}"
    assert not re.search(r"https?://\S*\?", text), f"a query string leaked: {text[-600:]}"


async def test_translate_when_connection_refused_then_plain_words_and_no_signed_url():
    port = _free_port()
    exc = await _signed_read_error(f"http://127.0.0.1:{port}")
    assert "signature=" in str(exc)  # ccxt really embeds the signed URL: the test can fail
    err, text = _translated_traceback(exc)
    assert type(err) is TransientError
    assert str(err) == (f"connection refused by 127.0.0.1:{port} "
                        "(is the local exchange running? check venues.main.base_url)")
    _assert_clean(text)  # the chained ccxt exception is scrubbed too


async def test_translate_when_exchange_never_answers_then_timed_out_after_timeout():
    async def hold(reader, writer):
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        exc = await _signed_read_error(f"http://127.0.0.1:{port}")
    finally:
        server.close()
    assert isinstance(exc, ccxt.RequestTimeout) and "signature=" in str(exc)
    err, text = _translated_traceback(exc)
    assert str(err).startswith(f"timed out after 0.5 s waiting for 127.0.0.1:{port} ")
    assert "venues.main.timeout_ms" in str(err)
    assert type(translate(exc, write=True)) is UnknownOutcomeError
    _assert_clean(text)


async def test_translate_when_dns_fails_then_names_the_host(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    exc = await _signed_read_error("http://exchange.invalid:8765")
    err, text = _translated_traceback(exc)
    assert str(err) == "DNS lookup failed for host exchange.invalid (check the host in venues.main.base_url)"
    _assert_clean(text)


def test_translate_when_http_5xx_then_status_in_words_without_query():
    exc = ccxt.ExchangeNotAvailable(
        "binance GET https://fapi.binance.com/fapi/v2/account?timestamp=1&recvWindow=5000&signature=ab12cd "
        "503 Service Unavailable <html>busy</html>")
    err, text = _translated_traceback(exc, Where(venue="main"))
    assert type(err) is TransientError
    assert str(err).startswith("the exchange answered HTTP 503 Service Unavailable (")
    _assert_clean(text)


def test_translate_when_auth_refused_then_exchange_words_and_the_keys_to_check():
    err = translate(ccxt.AuthenticationError(
        'binance {"code":-1022,"msg":"Signature for this request is not valid."}'), write=False, where=LOCAL)
    assert type(err) is AuthError and err.code == "-1022"
    assert str(err) == ("Signature for this request is not valid. (check venues.main.api_key and "
                        "venues.main.api_secret, the key's permissions (futures trading) and its IP whitelist)")


@pytest.mark.parametrize("text", [
    "binance POST https://x/fapi/v1/order?symbol=BTCUSDT&signature=ab12cd 400 Bad Request",
    "body symbol=BTCUSDT&side=SELL&timestamp=17&signature=ab12cd",
    "signature=ab12cd&timestamp=17",
    f"headers {{'X-MBX-APIKEY': '{KEY}'}}",
])
def test_scrub_when_signed_text_then_no_signature_query_or_key(text):
    out = scrub(text)
    assert "ab12cd" not in out and KEY not in out and not re.search(r"https?://\S*\?", out)
