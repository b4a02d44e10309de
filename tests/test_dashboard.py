"""The dashboard's access rule (loopback, bearer token, 403 beyond loopback without one), its routes over
aiohttp's test client, and that its data never carries a configured credential."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from rebalancer.dashboard import SCRUBBED, add_routes, check_access, configured_secrets, cycle_view, scrub
from rebalancer.settings import HealthSettings, load_settings

REPO = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-dashboard-token"


def health(host: str = "127.0.0.1", token: str = "") -> HealthSettings:
    return HealthSettings(host=host, token=SecretStr(token))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_check_access_when_loopback_without_token_then_open(host: str) -> None:
    """Bound to loopback with no token configured, the dashboard needs none."""
    assert check_access(health(host), None) is None


def test_check_access_when_loopback_with_token_then_token_still_required() -> None:
    """A configured token is required on loopback too; the right one opens it, as header or ?token=."""
    h = health("127.0.0.1", TOKEN)
    assert check_access(h, None).status == 401
    assert check_access(h, "Bearer wrong").status == 401
    assert check_access(h, f"Bearer {TOKEN}") is None
    assert check_access(h, None, TOKEN) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "rebalancer.internal"])
def test_check_access_when_beyond_loopback_without_token_then_403_naming_health_token(host: str) -> None:
    """Beyond loopback with no token configured, everyone gets 403 and the message says what to set."""
    denied = check_access(health(host), f"Bearer {TOKEN}")
    assert denied is not None and denied.status == 403
    assert "health.token" in denied.message and "REBALANCER_HEALTH__TOKEN" in denied.message


def test_check_access_when_beyond_loopback_with_token_then_only_the_token_opens() -> None:
    """Beyond loopback with a token: missing, wrong, other schemes and a prefix are refused (401)."""
    h = health("0.0.0.0", TOKEN)
    for header in (None, "", "Bearer", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x"):
        denied = check_access(h, header)
        assert denied is not None and denied.status == 401, header
        assert TOKEN not in denied.message
    assert check_access(h, f"bearer  {TOKEN} ") is None


def _settings(tmp_path: Path, env: dict[str, str]):
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    return load_settings(REPO / "config" / "demo.toml", env=env, secrets_dir=secrets)


def _daemon(settings) -> SimpleNamespace:
    """What the dashboard reads of a daemon before its first cycle (no rebalancer, no report yet)."""
    return SimpleNamespace(settings=settings, rebalancer=None, cycles_run=0, consecutive_failures=0,
                           last_cycle={}, health=lambda: {})


async def _client(settings) -> TestClient:
    app = web.Application()
    add_routes(app, _daemon(settings))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_dashboard_routes_when_bound_beyond_loopback_then_401_without_token_and_200_with_it(tmp_path) -> None:
    """Served for 0.0.0.0 with health.token: page and data refuse without the token (401, a Bearer
    challenge) and answer with it; the page may take ?token= once; plotly.min.js is cacheable."""
    settings = _settings(tmp_path, {"REBALANCER_HEALTH__HOST": "0.0.0.0", "REBALANCER_HEALTH__TOKEN": TOKEN})
    client = await _client(settings)
    try:
        for path in ("/dashboard", "/dashboard/data"):
            resp = await client.get(path)
            assert resp.status == 401, path
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            resp = await client.get(path, headers={"Authorization": "Bearer nope"})
            assert resp.status == 401, path
            resp = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert resp.status == 200, path
            assert resp.headers["Cache-Control"] == "no-store"
            assert TOKEN not in await resp.text()
        assert (await client.get(f"/dashboard?token={TOKEN}")).status == 200
        assert (await client.get(f"/dashboard/data?token={TOKEN}")).status == 401  # data: the header only
        data = await (await client.get("/dashboard/data", headers={"Authorization": f"Bearer {TOKEN}"})).json()
        assert data["daemon"]["cycles"] == 0 and data["allocation"]["assets"] == [] and data["cycles"] == []
        js = await client.get("/dashboard/plotly.min.js")
        assert js.status == 200 and js.headers["Content-Type"].startswith("application/javascript")
        assert "max-age" in js.headers["Cache-Control"] and len(await js.read()) > 1_000_000
        again = await client.get("/dashboard/plotly.min.js", headers={"If-None-Match": js.headers["ETag"]})
        assert again.status == 304
    finally:
        await client.close()


async def test_dashboard_routes_when_beyond_loopback_without_token_then_403_for_everyone(tmp_path) -> None:
    """No token configured and bound to 0.0.0.0: every dashboard request is 403 with the fix named."""
    settings = _settings(tmp_path, {"REBALANCER_HEALTH__HOST": "0.0.0.0"})
    client = await _client(settings)
    try:
        for path in ("/dashboard", "/dashboard/data"):
            resp = await client.get(path, headers={"Authorization": "Bearer anything"})
            assert resp.status == 403 and "health.token" in await resp.text(), path
    finally:
        await client.close()


def test_scrub_when_an_error_quotes_a_credential_then_it_is_replaced(tmp_path) -> None:
    """Every configured credential (API key and secret, webhook URL, token) is replaced in any string."""
    settings = _settings(tmp_path, {"REBALANCER_HEALTH__TOKEN": TOKEN,
                                    "REBALANCER_ALERTS__WEBHOOK_URL": "https://hooks.example.test/abc123"})
    found = configured_secrets(settings)
    assert TOKEN in found and "https://hooks.example.test/abc123" in found
    venue = next(iter(settings.venues.values()))
    doc = {"cycles": [{"error": f"GET /x?apiKey={venue.api_key.get_secret_value()} failed; token {TOKEN}"}],
           "nested": [("https://hooks.example.test/abc123",)]}
    cleaned = scrub(doc, found)
    text = repr(cleaned)
    assert all(secret not in text for secret in found), text
    assert cleaned["cycles"][0]["error"].count(SCRUBBED) == 2


def test_cycle_view_when_stops_rest_then_each_hedge_has_its_stop_and_liquidation_distance() -> None:
    """Hedges come from the cycle's post-trade positions and protection stops; the liquidation distance
    is |liquidation - mark| / mark."""
    doc = {"cycle_id": "c1", "assets": [{"asset": "BTC", "target_weight": "0.5", "effective_weight": "0.52",
                                         "drift": "0.02"}],
           "positions_after": {"BTC": "-0.025", "ETH": "0"},
           "protection": {"skipped": "", "events": [], "stops": [
               {"asset": "BTC", "symbol": "BTC/USDT:USDT", "side": "buy", "amount": "0.025", "trigger_price": "50000",
                "mark_price": "40000", "distance": "0.25", "liquidation_price": "60000", "state": "resting",
                "client_order_id": "rs1"}]}}
    view = cycle_view(doc)
    assert [h["asset"] for h in view["hedges"]] == ["BTC"]
    hedge = view["hedges"][0]
    assert hedge["amount"] == "-0.025" and hedge["stop"]["state"] == "resting"
    assert hedge["liquidation_distance"] == "0.5000"
    assert view["assets"][0]["drift"] == "0.02"


@pytest.mark.parametrize("enabled", [True, False])
async def test_daemon_health_server_when_dashboard_on_or_off_then_routes_follow(tmp_path, enabled: bool) -> None:
    """The daemon registers the dashboard on its health server when health.dashboard is on (loopback, no
    token: 200), and not at all when it is off (404); /livez answers either way."""
    import aiohttp

    from rebalancer.daemon import Daemon
    from tests.integration.test_daemon import free_port

    settings = _settings(tmp_path, {"REBALANCER_HEALTH__PORT": str(free_port()),
                                    "REBALANCER_HEALTH__DASHBOARD": str(enabled).lower()})
    daemon = Daemon(settings)
    await daemon._start_health()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{daemon.health_url}/dashboard") as resp:
                assert resp.status == (200 if enabled else 404)
                if enabled:
                    page = await resp.text()
                    assert 'src="dashboard/plotly.min.js"' in page and "Content-Security-Policy" in resp.headers
            async with http.get(f"{daemon.health_url}/livez") as resp:
                assert resp.status == 200
    finally:
        await daemon._runner.cleanup()
