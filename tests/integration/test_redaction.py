"""No signed URL, query string, signature, key or secret reaches a log line, a /healthz body, an alert
or a journal row while requests fail: the exchange answers 5xx, refuses the key, then is gone.
And the failures are said in plain words ("connection refused by 127.0.0.1:PORT ...")."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from rebalancer.exchange_sim.runner import exchange_in_thread
from tests.integration.conftest import EXAMPLE_1_SCENARIO, REBALANCER, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "KEYzq7Hn4Vb9Tx2Lm8Rp5Wc3"
SECRET = "SECq9Zr2Kd7Yf4Nh6Bs1Xv8Jw"
SCENARIO = {**EXAMPLE_1_SCENARIO, "auth": {"api_key": KEY, "api_secret": SECRET}}
# a URL whose query is a signed one (public reads like ?symbols=... may keep theirs)
SIGNED_QUERY = re.compile(r"https?://[^\s\"'<>?]*\?[^\s\"'<>]*(?:signature|timestamp|recvWindow)", re.IGNORECASE)


class Webhook:
    """A local webhook receiver (127.0.0.1) recording every alert body."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failing_requests_when_5xx_auth_and_unreachable_then_nothing_signed_anywhere(tmp_path):
    webhook = Webhook()
    health_port = free_port()
    health_bodies: list[str] = []

    def poll_health(until, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                body = requests.get(f"http://127.0.0.1:{health_port}/healthz", timeout=1).text
                health_bodies.append(body)
                if until(json.loads(body)):
                    return True
            except (requests.RequestException, ValueError):
                pass
            if proc.poll() is not None:
                return False
            time.sleep(0.3)
        return False

    def last_error(h: dict) -> str:
        return (h.get("last_cycle") or {}).get("error") or ""

    log_file = tmp_path / "log.jsonl"
    outputs: list[str] = []
    env = {**os.environ, "REBALANCER_REBALANCE__MAX_CONSECUTIVE_FAILURES": "2"}
    try:
        with exchange_in_thread(SCENARIO) as ex:
            extra = (f'\n[health]\nhost = "127.0.0.1"\nport = {health_port}\n'
                     f'\n[alerts]\nwebhook_url = "{webhook.url}"\nmin_interval_s = 0\n')
            path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1s", extra=extra)
            path.write_text(path.read_text().replace('level = "warning"', 'level = "debug"').replace(
                'file = ""', f'file = "{log_file.as_posix()}"'))
            stderr = (tmp_path / "daemon.stderr").open("w")
            proc = subprocess.Popen([REBALANCER, "run", "--config", str(path)], stdout=subprocess.DEVNULL,
                                    stderr=stderr, stdin=subprocess.DEVNULL, env=env)
            try:
                assert poll_health(lambda h: h.get("cycles", 0) >= 1, timeout=40), "the daemon never ran a cycle"
                # every request answers 5xx: reads are retried, then the cycle fails
                requests.post(f"{ex.base_url}/_sim/faults", json={"error_rate_5xx": 1.0, "faults_on": "all"},
                              timeout=5).raise_for_status()
                saw_5xx = poll_health(lambda h: "Internal error" in last_error(h) or "HTTP 5" in last_error(h),
                                      timeout=40)
                requests.post(f"{ex.base_url}/_sim/faults", json={"error_rate_5xx": 0.0}, timeout=5)
                # a wrong secret: the exchange refuses the signature (a one-off command on the same files)
                bad = tmp_path / "bad.toml"
                bad.write_text(path.read_text().replace(SECRET, SECRET[::-1]))
                for args in (["status", "--json"], ["rebalance", "--execute", "--json"]):
                    done = subprocess.run([REBALANCER, *args, "--config", str(bad)], capture_output=True, text=True,
                                          timeout=90, stdin=subprocess.DEVNULL, env=env)
                    outputs.append(done.stdout + done.stderr)
            except BaseException:
                proc.kill()
                raise
        # the exchange is gone: connection refused
        saw_refused = poll_health(lambda h: "connection refused" in last_error(h), timeout=40)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        stderr.close()
        time.sleep(0.5)  # the last alert delivery
    finally:
        webhook.close()

    haystacks = {f"health body {i}": b for i, b in enumerate(health_bodies)}
    haystacks.update({f"alert {i}": b for i, b in enumerate(webhook.bodies)})
    haystacks.update({f"command output {i}": o for i, o in enumerate(outputs)})
    haystacks["daemon stderr"] = (tmp_path / "daemon.stderr").read_text()
    haystacks["log file"] = log_file.read_text()
    con = sqlite3.connect(tmp_path / "journal.db")
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            haystacks[f"journal {table}"] = repr(con.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608
    finally:
        con.close()

    everything = "\n".join(haystacks.values())
    # the runs really failed the ways this test is about (else it would prove nothing)
    assert saw_5xx, health_bodies[-3:]
    assert saw_refused, health_bodies[-3:]
    assert re.search(r"connection refused by 127\.0\.0\.1:\d+ \(is the local exchange running\? "
                     r"check venues\.main\.base_url\)", everything)
    assert "Signature for this request is not valid" in everything
    assert webhook.bodies, "no alert was sent"
    assert haystacks["log file"].count("\n") > 20  # debug logging really ran
    for where, text in haystacks.items():
        for leak in ("signature=", "&timestamp=", KEY, SECRET, SECRET[::-1]):
            assert leak not in text, f"{leak!r} leaked into {where}: ...{text[max(0, text.find(leak) - 200):][:400]}"
        found = SIGNED_QUERY.search(text)
        assert found is None, f"a query string leaked into {where}: {text[found.start():found.start() + 200]}"
