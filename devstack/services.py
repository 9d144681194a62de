"""Start, watch and stop the local stack: Redis, livekit-server, the provider emulators, the
agent worker, the browser page's web server and Prometheus. Used by `make dev`, the
integration tests, the benchmark and the demo.

Each service logs to `.state/logs/<name>.log`; a service that fails to become ready raises
with the tail of its log, so the cause is on screen.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".state"


def logs_dir() -> Path:
    """Where service logs go; PHONE_AGENT_LOGS gives each test run or benchmark its own."""
    return Path(os.environ.get("PHONE_AGENT_LOGS") or STATE / "logs")

# Must match livekit.yaml.
LIVEKIT_PORT = 7880
LIVEKIT_URL = f"ws://127.0.0.1:{LIVEKIT_PORT}"
REDIS_PORT = 6390
EMULATOR_PORT = 8700
NETNS_NODE_IP = "10.213.0.1"


def livekit_keys(config: Path = ROOT / "livekit.yaml") -> tuple[str, str]:
    """The development key pair declared in livekit.yaml (`keys:` section)."""
    text = config.read_text()
    section = text.split("\nkeys:", 1)[1]
    match = re.search(r"^\s+([A-Za-z0-9_-]+):\s*(\S+)\s*$", section, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no API key found under keys: in {config}")
    return match.group(1), match.group(2)


def in_private_netns() -> bool:
    return os.environ.get("PHONE_AGENT_NETNS") == "1"


class ServiceError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[Service], bool]
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return logs_dir() / f"{self.name}.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, **self.env}, start_new_session=True,
        )
        return self

    def wait_ready(self) -> Service:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceError(self._failure(f"exited with code {self.proc.returncode}"))
            if self.ready(self):
                return self
            time.sleep(0.1)
        raise ServiceError(self._failure(f"not ready after {self.timeout:.0f} s"))

    def _failure(self, what: str) -> str:
        tail = "\n".join(self.log_text().splitlines()[-25:])
        return f"{self.name} {what}; log {self.log_path}:\n{tail}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def redis() -> Service:
    return Service(
        "redis",
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--protected-mode", "yes", "--dir", "/tmp"],
        ready=lambda s: _port_open(REDIS_PORT),
        timeout=10,
    )


def livekit_server() -> Service:
    binary = ROOT / ".bin" / "livekit-server"
    if not binary.exists():
        raise ServiceError(f"{binary} is missing; run `make install` (scripts/install.sh)")
    argv = [str(binary), "--config", str(ROOT / "livekit.yaml")]
    if not in_private_netns():
        # No private veth here: advertise and bind loopback only.
        argv += ["--node-ip", "127.0.0.1", "--bind", "127.0.0.1"]
    return Service("livekit-server", argv,
                   ready=lambda s: _http_ok(f"http://127.0.0.1:{LIVEKIT_PORT}/"), timeout=30)


SIP_PORT = 5060
SIP_HEALTH_PORT = 8082


def _sip_options_ok() -> bool:
    """The bridge answers a SIP OPTIONS on its signalling port once it is serving."""
    msg = ("OPTIONS sip:ping@127.0.0.1:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-devstack\r\n"
           "From: <sip:devstack@127.0.0.1>;tag=1\r\nTo: <sip:ping@127.0.0.1>\r\n"
           "Call-ID: devstack-ready\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.sendto(msg.encode(), ("127.0.0.1", SIP_PORT))
            return s.recv(2048).startswith(b"SIP/2.0 200")
        except OSError:
            return False


def livekit_sip() -> Service:
    binary = ROOT / ".bin" / "livekit-sip"
    if not binary.exists():
        raise ServiceError(f"{binary} is missing; run `make install` (scripts/install.sh)")
    return Service("livekit-sip", [str(binary), "--config", str(ROOT / "sip" / "livekit-sip.yaml")],
                   ready=lambda s: _sip_options_ok(), timeout=30)


# Must match monitoring/prometheus.yml, METRICS_PORT's default (agent/config.py), livekit.yaml
# (prometheus.port) and sip/livekit-sip.yaml (prometheus_port).
PROMETHEUS_PORT = 9090
PROMETHEUS_URL = f"http://127.0.0.1:{PROMETHEUS_PORT}"
WORKER_METRICS_PORT = 9100
LIVEKIT_METRICS_PORT = 6789
SIP_METRICS_PORT = 6790
MONITORING = ROOT / "monitoring"


def prometheus(data_dir: Path | None = None) -> Service:
    """Debian's Prometheus with monitoring/prometheus.yml: scrapes the worker, livekit-server
    and livekit-sip and evaluates monitoring/alerts.yml. Loopback only; it sends nothing
    anywhere (no remote write, no Alertmanager)."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServiceError("prometheus is missing; run `make install` (Debian package "
                           "prometheus, scripts/install.sh)")
    data = data_dir or STATE / "prometheus"
    data.mkdir(parents=True, exist_ok=True)
    argv = [binary, f"--config.file={MONITORING / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=2d",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"]
    return Service("prometheus", argv, timeout=30,
                   ready=lambda s: _http_ok(f"{PROMETHEUS_URL}/-/ready"))


S3_PORT = 8333


def seaweedfs(data_dir: Path, *, access_key: str, secret_key: str,
              buckets: tuple[str, ...] = ("recordings",), s3_port: int = S3_PORT) -> Service:
    """SeaweedFS's all-in-one server (`weed mini`) with its S3 gateway on 127.0.0.1:`s3_port`
    (its other components move to free ports by themselves): one identity with the given
    keys, `buckets` created at start-up, telemetry, admin UI and WebDAV off. Data lives in
    `data_dir`."""
    binary = ROOT / ".bin" / "weed"
    if not binary.exists():
        raise ServiceError(f"{binary} is missing; run `make install` (scripts/install.sh)")
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "s3-identities.json"
    config.write_text(json.dumps({"identities": [{
        "name": "phone-agent", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}]}]}))
    argv = [str(binary), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
            "-master.volumeSizeLimitMB=64", f"-s3.port={s3_port}", f"-s3.config={config}",
            f"-bucket={','.join(buckets)}"]
    return Service("seaweedfs", argv, timeout=120,  # slow to start on a loaded 2-core box
                   ready=lambda s: "components are running" in s.log_text()
                   and _port_open(s3_port))


def emulators(profile: str = "none", script: Path | None = None,
              phrases: Path | None = None) -> Service:
    argv = [sys.executable, "-m", "emulators", "--port", str(EMULATOR_PORT),
            "--profile", profile]
    if script:
        argv += ["--script", str(script)]
    if phrases:
        argv += ["--phrases", str(phrases)]
    return Service("emulators", argv, ready=lambda s: _port_open(EMULATOR_PORT), timeout=30)


def emulator_env() -> dict[str, str]:
    """The worker's provider settings for the emulators started by `emulators()`: the same
    URLs and keys `python -m emulators` prints (one definition, in ProviderEmulators)."""
    from emulators import ProviderEmulators

    return ProviderEmulators(port=EMULATOR_PORT).env()


def livekit_env() -> dict[str, str]:
    key, secret = livekit_keys()
    return {"LIVEKIT_URL": LIVEKIT_URL, "LIVEKIT_API_KEY": key, "LIVEKIT_API_SECRET": secret}


def worker(mode: str = "start", env: Mapping[str, str] | None = None,
           name: str = "worker") -> Service:
    return Service(
        name, [sys.executable, str(ROOT / "agent.py"), mode],
        ready=lambda s: "registered worker" in s.log_text(),
        env={**livekit_env(), **(env or {})},
        timeout=120,
    )


WEB_PORT = 8090  # agent/config.py's WEB_PORT default


def web_port(env: Mapping[str, str] | None = None) -> int:
    """The web server's port: WEB_PORT from `env` or the environment, else the default."""
    value = (env or {}).get("WEB_PORT") or os.environ.get("WEB_PORT") or ""
    return int(value) if value.isdigit() else WEB_PORT


def web(env: Mapping[str, str] | None = None, name: str = "web") -> Service:
    """The browser page and its token endpoint (`python -m agent.web`). It reads the worker's
    settings (`env`: provider keys or the emulators' stand-ins, WEB_* if set)."""
    port = web_port(env)
    return Service(
        name, [sys.executable, "-m", "agent.web"],
        ready=lambda s: _http_ok(f"http://127.0.0.1:{port}/healthz"),
        env={**livekit_env(), "WEB_PORT": str(port), **(env or {})},
        timeout=120,  # imports alone (phonenumbers, livekit) take 30 s on a loaded 2-core box
    )


def web_url(env: Mapping[str, str] | None = None) -> str:
    return f"http://127.0.0.1:{web_port(env)}/"


class Stack:
    """Starts services in order and stops them in reverse, whatever happens in between."""

    def __init__(self) -> None:
        self.services: list[Service] = []

    def up(self, service: Service, *, quiet: bool = False) -> Service:
        if not quiet:
            print(f"[stack] starting {service.name} (log: {service.log_path})", flush=True)
        self.services.append(service.start())
        service.wait_ready()
        if not quiet:
            print(f"[stack] {service.name} ready", flush=True)
        return service

    def down(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
