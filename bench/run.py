#!/usr/bin/env python3
"""Gatehouse's benchmark: one command, one run, ratios against a baseline measured alongside.

    python3 bench/run.py [--seconds 10] [--rounds 3] [--clients 100000] [--report-only] [--no-build]

Method
------
Every server is pinned to CPU 0 (`taskset -c 0`, TOKIO_WORKER_THREADS=1); wrk runs pinned to
CPU 1 (`wrk -t1`) on loopback. Every wrk run is bounded: a 2 s warm-up, then `--seconds`
measured. The servers:

- the baseline (bench/baseline): the same axum/hyper stack answering fixed responses;
- Gatehouse on SQLite, then on PostgreSQL when psql can reach it (a fresh database
  gh_bench_<random>, dropped afterwards; skipped with a note otherwise). Its store holds
  `--clients` extra clients and 10 live access tokens for each (1M for 100k clients: unrevoked,
  unexpired, current secret generation), seeded straight into the database before `serve`;
- panva's oidc-provider (bench/peer), twice: issuing EdDSA JWT access tokens (the like-for-like
  peer: Gatehouse issues EdDSA JWTs) and opaque ones (its fastest kind). The token format is
  checked by decoding a token before measuring.

Paired rounds (the ratio targets). Run-to-run noise on a small VM (10-15% between runs minutes
apart) is larger than the margins of the ratio targets, so the ratios are not taken from runs
measured minutes apart. The baseline, Gatehouse on SQLite (seeded store) and the JWT peer are
started together, all on CPU 0 (an idle server uses no CPU; each run records the CPU the other
servers used during it, and before each max-rate run the script waits, up to 5 s, until every
server is idle, so one server's leftover work, e.g. a WAL checkpoint, does not land in another's
run). Then, strictly one wrk run at a time, `--rounds` rounds (default 3) of token issuance:
baseline, Gatehouse, peer; baseline, Gatehouse, peer; ... and then `--rounds` rounds of the
gateway check: baseline, Gatehouse; ... (the peer has no check). Each of these runs has its own
2 s warm-up. Each round gives its ratios from its own neighbouring runs: Gatehouse/baseline
(by req/s, and by CPU per request), Gatehouse/peer, measured seconds apart. Every round's req/s
is reported; the target value of a ratio is the MEDIAN of its per-round ratios, and a server's
req/s shown beside it is the median of its rounds. Pairing cancels drift slower than a round;
a disturbance shorter than that (seen here: one server's run 15-25% slow while its neighbours
are not) still makes one round an outlier, which the median discards: with 3 rounds, one
outlier round, high or low, cannot decide a target. Pass more rounds when a ratio sits close to
its target.

Everything else is measured once, on the same processes, after the paired rounds: the half-load
runs (below, at half the median max rate), Gatehouse's token issuance with 64 clients (made
through POST /v1/clients) minting in turn, one per request (wrk's Lua request(): each batch then
reads and writes many clients' live tokens, where the paired runs mint as one client), its
introspection and its client list (GET /v1/clients page 500 of 100), and the peak RSS of each of the three processes (so
Gatehouse's is that of the process that served every SQLite run). Then Gatehouse on PostgreSQL
alone (token, check, introspection, client list) and the opaque peer alone; their ratios use
the baseline's median req/s and CPU per request from the paired rounds (so they are not paired).

Maximum rate: 32 connections, no think time.

Latency at half load: wrk has no rate option, so a Lua `delay()` gives each connection a fixed
think time (whole ms) between a response and its next request; wrk times a request from its
send, so the think time is not in the latency. Each connection then makes about
1000 / (delay_ms + service_ms) requests/s. Connections and delay are chosen for half the
measured maximum; up to three 2 s probes (which are also the warm-up) then scale the number of
connections until a probe lands within 10% of it; then the measured run, whose achieved rate is
reported beside its p99. Done for Gatehouse (SQLite) token and check and, as the reference, the
baseline token and check.

Errors are non-2xx/3xx responses plus wrk's socket errors (connect, read, write, timeout), in
warm-ups too. Peak RSS is VmHWM of the server process, read before stopping it. Each run also
records the server's CPU time (utime + stime, all threads): per request, and as a share of its
core. A max-rate run under 80% of the core was bounded by wrk or by waiting (disk, PostgreSQL,
which is not pinned), and is marked in the table; the CPU-per-request ratios against the
baseline are printed beside the req/s ratios for that reason. Each run also records how much
of CPU 0 the other benchmark servers and any other processes used meanwhile (from /proc); a run
where either took over 2% is marked in the table. A slow round with neither marked was slowed
from outside the VM's view (the host), which pairing is there to absorb.

Duration: about 4 minutes with `--seconds 5 --rounds 3` (26 measured runs), about 6 minutes
with the defaults (`--seconds 10 --rounds 3`); the total is printed at the end. Each extra
round adds five max-rate runs (3 token, 2 check) of `--seconds` + 2 s each.

Results go to target/bench/results.json (latencies in ms, plus wrk's printed strings; each paired
endpoint holds its rounds and their medians, `paired` the per-round ratios), a table and the
targets with PASS/FAIL are printed. Exit status is non-zero if any run saw an error, or if a
target fails (unless --report-only). On any failure or SIGTERM every started server is stopped.
Absolute numbers drift between runs and machines; the ratios are measured side by side.
"""

import argparse
import base64
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
GATEHOUSE = ROOT / "target/release/gatehouse"
BASELINE = ROOT / "target/release/gatehouse-bench-baseline"
PEER_DIR = ROOT / "bench/peer"

SERVER_CPU, WRK_CPU = "0", "1"
MAX_CONNECTIONS = 32
WARMUP_SECONDS = 2
DEFAULT_ROUNDS = 3      # paired rounds per compared endpoint
SETTLE_TIMEOUT = 5.0    # before a max-rate run, wait at most this long for every server to be idle
IDLE_SHARE = 0.05       # "idle": at most 5% of a core over SETTLE_WINDOW seconds (one 10 ms clock tick)
SETTLE_WINDOW = 0.25
CALIBRATION_PROBES = 3  # half load: at most this many 2 s probes to find the pacing
TOKENS_PER_CLIENT = 10  # the live-token cap: every seeded client is at its cap
MANY_CLIENTS = 64  # clients minting in turn in the token_many_clients run
TOKEN_LIFETIME = 3600   # seconds; seeded tokens were issued up to TOKEN_MAX_AGE seconds ago
TOKEN_MAX_AGE = 300
OWNER = "bench@example.com"
PEER_CLIENT = ("bench", "bench-secret-that-is-long-enough-0123456789")
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
FORM = "Content-Type: application/x-www-form-urlencoded"
TOKEN_FORM = "grant_type=client_credentials"


# ---------------------------------------------------------------------------------------------
# processes

def sh(*args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server pinned to CPU 0 with one runtime worker; stopped when the `with` block ends."""

    running = []  # the servers started and not yet stopped, in start order

    def __init__(self, name, cmd, env=None, cwd=None):
        self.name, self.cmd, self.cwd = name, cmd, cwd
        self.env = {**os.environ, "TOKIO_WORKER_THREADS": "1", "RUST_LOG": "warn", **(env or {})}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.log = tempfile.TemporaryFile()
        cmd = [str(part).replace("{port}", str(self.port)) for part in self.cmd]
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *cmd], env=self.env, cwd=self.cwd,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        Server.running.append(self)
        return self

    def __exit__(self, error_type, *_):
        Server.running.remove(self)
        if error_type is not None and self.proc.poll() is not None:
            print(f"note: {self.name} had exited with status {self.proc.returncode}:\n{self.output_tail()}",
                  file=sys.stderr)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def output_tail(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with status {self.proc.returncode}:\n{self.output_tail()}")

    def wait_ready(self, path, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.base + path, timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name}: {self.base}{path} did not come up within {timeout} s")

    def cpu_seconds(self):
        """User + system CPU time the server has used so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self):
        self.check_alive()
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


# ---------------------------------------------------------------------------------------------
# wrk

@dataclass
class Request:
    url: str
    headers: list = field(default_factory=list)
    method: str = "GET"
    body: str | None = None
    # Authorization header values taken in turn, one per request (many clients minting).
    rotate_authorization: list | None = None


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def to_ms(text):
    """wrk's printed time ("312.00us", "1.25ms", "2.01s", "1.00m") in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()
    return float(number) * UNIT_MS[unit]


def parse_wrk(out):
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+[a-z]+)", out, re.M))
    socket_line = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             map(int, socket_line.groups()) if socket_line else (0, 0, 0, 0)))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non_2xx = int(non_2xx.group(1)) if non_2xx else 0
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "latency_ms": {f"p{k}": to_ms(v) for k, v in latency.items()},
        "latency": {f"p{k}": v for k, v in latency.items()},
        "non_2xx": non_2xx,
        "socket_errors": socket_errors,
        "errors": non_2xx + sum(socket_errors.values()),
    }


def lua_script(request, delay_ms):
    """A wrk script for the method, body and think time, or None when wrk needs none."""
    lines = []
    if request.method != "GET":
        lines.append(f"wrk.method = {json.dumps(request.method)}")
    if request.body is not None:
        lines.append(f"wrk.body = {json.dumps(request.body)}")
    if delay_ms is not None:
        lines.append(f"function delay() return {int(delay_ms)} end")
    if request.rotate_authorization:
        lines += [f"local credentials = {{{', '.join(json.dumps(value) for value in request.rotate_authorization)}}}",
                  "local turn = 0",
                  "function request()",
                  "  turn = turn % #credentials + 1",
                  "  wrk.headers[\"Authorization\"] = credentials[turn]",
                  "  return wrk.format()",
                  "end"]
    if not lines:
        return None
    script = tempfile.NamedTemporaryFile("w", prefix="gatehouse-bench-", suffix=".lua", delete=False)
    script.write("\n".join(lines) + "\n")
    script.close()
    return script.name


def settle():
    """Wait (at most SETTLE_TIMEOUT) until every running server is idle, so no server's leftover
    work (a WAL checkpoint, a garbage collection) lands in the next run; the seconds waited."""
    started = time.time()
    while True:
        before = [s.cpu_seconds() for s in Server.running]
        time.sleep(SETTLE_WINDOW)
        busy = [s.name for s, b in zip(Server.running, before)
                if s.cpu_seconds() - b > IDLE_SHARE * SETTLE_WINDOW]
        waited = time.time() - started
        if not busy:
            return waited
        if waited >= SETTLE_TIMEOUT:
            print(f"   note: still busy after {waited:.1f} s: {', '.join(busy)}", flush=True)
            return waited


def core_busy_seconds(cpu):
    """Time the core `cpu` has spent running tasks (user, nice, system), from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            return sum(map(int, line.split()[1:4])) / os.sysconf("SC_CLK_TCK")
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def wrk_once(server, request, seconds, connections, delay_ms=None):
    """One bounded wrk run from CPU 1; its figures, the CPU time the server spent on it, the CPU
    time every other running server (all on the same core) spent meanwhile, and the time other
    processes had on that core."""
    args = ["taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in request.headers:
        args += ["-H", header]
    script = lua_script(request, delay_ms)
    try:
        if script:
            args += ["-s", script]
        others = [s for s in Server.running if s is not server]
        others_before, core_before = [s.cpu_seconds() for s in others], core_busy_seconds(SERVER_CPU)
        cpu_before, started = server.cpu_seconds(), time.time()
        done = subprocess.run(args + [request.url], capture_output=True, text=True)
        cpu, elapsed = server.cpu_seconds() - cpu_before, time.time() - started
        others_cpu = sum(s.cpu_seconds() - b for s, b in zip(others, others_before))
        foreign_cpu = core_busy_seconds(SERVER_CPU) - core_before - cpu - others_cpu
    finally:
        if script:
            os.unlink(script)
    if done.returncode != 0 or "Requests/sec" not in done.stdout:
        raise RuntimeError(f"wrk failed on {request.url} (status {done.returncode}): "
                           f"{(done.stdout + done.stderr).strip()[-500:]}")
    figures = parse_wrk(done.stdout)
    return {**figures, "connections": connections, "delay_ms": delay_ms, "seconds": seconds,
            # under 1.0 at the maximum rate: the server waited (I/O) or something else had CPU 0
            "server_cpu_share": cpu / elapsed,
            "server_cpu_us_per_request": cpu * 1e6 / max(figures["requests"], 1),
            # the idle servers sharing CPU 0: near 0 unless one of them did work meanwhile
            "other_servers_cpu_share": others_cpu / elapsed,
            # any other process (or kernel thread) on CPU 0; interrupts are not counted
            "other_processes_cpu_share": max(foreign_cpu, 0.0) / elapsed}


def wrk_max(server, request, seconds):
    """The maximum rate: wait for every server to be idle, a warm-up, then the measured run,
    32 connections without think time."""
    settled = settle()
    warmup = wrk_once(server, request, WARMUP_SECONDS, MAX_CONNECTIONS)
    return {**wrk_once(server, request, seconds, MAX_CONNECTIONS), "warmup_errors": warmup["errors"],
            "settle_seconds": settled}


def pace(target_rps, service_ms, tolerance=0.05):
    """Connections and whole-ms think time whose rate, connections * 1000 / (delay + service),
    is within `tolerance` of the target with the shortest think time (else the closest)."""
    candidates = []
    for delay in range(1, 21):
        connections = min(1000, max(1, round(target_rps * (delay + service_ms) / 1000)))
        error = abs(connections * 1000 / (delay + service_ms) - target_rps) / target_rps
        if error <= tolerance:
            return connections, delay
        candidates.append((error, connections, delay))
    _, connections, delay = min(candidates)
    return connections, delay


def wrk_half_load(server, request, seconds, max_rps):
    """Latency at about half the maximum rate, paced by think time (see the docstring)."""
    target = max_rps / 2
    connections, delay = pace(target, service_ms=1000 / max_rps)
    settled = settle()
    probes = []
    for _ in range(CALIBRATION_PROBES):
        probe = wrk_once(server, request, WARMUP_SECONDS, connections, delay)
        probes.append(probe)
        achieved = max(probe["requests_per_second"], 1.0)
        if abs(achieved / target - 1) <= 0.10:
            break
        # the think time stays; the connection count scales (wrk's timers overshoot, so the
        # real cycle per connection is only known from a probe)
        connections = min(1000, max(1, round(connections * target / achieved)))
    run = wrk_once(server, request, seconds, connections, delay)
    return {**run, "warmup_errors": sum(p["errors"] for p in probes), "target_rps": target,
            "settle_seconds": settled,
            "fraction_of_max": run["requests_per_second"] / max_rps,
            "method": "wrk Lua delay() think time per request",
            "calibration": [{"connections": p["connections"], "delay_ms": p["delay_ms"],
                             "requests_per_second": p["requests_per_second"]} for p in probes]}


# ---------------------------------------------------------------------------------------------
# HTTP helpers

def basic(client_id, secret):
    return "Authorization: Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def post_token(url, auth_header, body):
    request = urllib.request.Request(url, data=body.encode(), headers={
        "Authorization": auth_header.split(": ", 1)[1], "Content-Type": FORM.split(": ", 1)[1]})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def create_clients(base, bearer_token, count):
    """`count` standard clients created with POST /v1/clients: [(client_id, client_secret)]."""
    created = []
    for number in range(count):
        body = json.dumps({"name": f"bench minting {number}", "locked": None,
                           "scopes": {"products": ["SuperSIM"]}}).encode()
        request = urllib.request.Request(f"{base}/v1/clients", data=body, method="POST", headers={
            "Authorization": f"Bearer {bearer_token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            client = json.load(response)
        created.append((client["client_id"], client["client_secret"]))
    return created


def token_format(token):
    """The token's format: a JWT (with its header's alg and typ) or opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return {"format": "opaque", "length": len(token)}
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    return {"format": "jwt", "alg": header.get("alg"), "typ": header.get("typ")}


# ---------------------------------------------------------------------------------------------
# stores

@dataclass
class Store:
    """Where Gatehouse keeps its data for one run, and how to seed it."""
    name: str               # "sqlite" or "postgres"
    url: str                # the --database URL
    env: dict               # extra environment for init and serve (e.g. the master key)
    seed: object            # seed(account_id, owner, clients): adds clients and their tokens


def random_id():
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


@contextmanager
def sqlite_store():
    work = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    try:
        path = work / "bench.db"
        yield Store("sqlite", f"sqlite://{path}", {}, lambda *a: seed_sqlite(path, *a))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def seed_sqlite(path, account_id, owner, count):
    """`count` standard clients, each with its 10 live tokens, in one transaction."""
    now = int(time.time())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    ids = [random_id() for _ in range(count)]
    db = sqlite3.connect(path)
    try:
        db.execute("pragma synchronous = off")
        db.executemany(
            "insert into clients (client_id, account_id, name, description, client_owner, client_type, locked, "
            "enabled, global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_hash, "
            "secret_generation, version, date_created, date_updated) "
            "values (?, ?, ?, '', ?, 'standard', null, 1, '[]', '[\"SuperSIM\"]', ?, '[]', null, ?, 1, 1, ?, ?)",
            ((client_id, account_id, f"seeded {i}", owner, TOKEN_LIFETIME, os.urandom(32), stamp, stamp)
             for i, client_id in enumerate(ids)))
        db.executemany(
            "insert into access_tokens (jti, client_id, profile_id, secret_generation, issued_at, expires_at, "
            "revoked) values (?, ?, null, 1, ?, ?, 0)",
            seeded_tokens(ids, now))
        db.commit()
    finally:
        db.close()


def seeded_tokens(client_ids, now):
    """(jti, client_id, issued_at, expires_at): TOKENS_PER_CLIENT live tokens per client."""
    for client_id in client_ids:
        for _ in range(TOKENS_PER_CLIENT):
            issued = now - random.randrange(TOKEN_MAX_AGE)
            yield random_id(), client_id, issued, issued + TOKEN_LIFETIME


def psql(url, sql, variables=None, capture=False):
    args = ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    for name, value in (variables or {}).items():
        args += ["-v", f"{name}={value}"]
    output = {"capture_output": True} if capture else {"stdout": subprocess.DEVNULL}
    return subprocess.run(args, input=sql, check=True, text=True, **output).stdout


def postgres_unreachable(server_url):
    """Why psql cannot reach PostgreSQL, or None when it can."""
    if not shutil.which("psql"):
        return "psql is not installed"
    try:
        psql(f"{server_url}/postgres", "select 1;", capture=True)
    except subprocess.CalledProcessError as error:
        return f"psql cannot reach {server_url}: {' '.join(error.stderr.split())}"
    return None


@contextmanager
def postgres_store(server_url):
    name = f"gh_bench_{secrets.token_hex(4)}"
    psql(f"{server_url}/postgres", f"create database {name};")
    try:
        url = f"{server_url}/{name}"
        env = {"GATEHOUSE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        yield Store("postgres", url, env, lambda *a: seed_postgres(url, *a))
    finally:
        psql(f"{server_url}/postgres", f"drop database if exists {name} with (force);")


# a random 22-character base64url id, like random_id()
PG_RANDOM_ID = "translate(encode(uuid_send(gen_random_uuid()), 'base64'), '+/=', '-_')"

PG_SEED = f"""
begin;
insert into clients (client_id, account_id, name, description, client_owner, client_type, locked, enabled,
                     global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_hash,
                     secret_generation, version, date_created, date_updated)
select {PG_RANDOM_ID}, :'account', 'seeded ' || i, '', :'owner', 'standard', null, true, '[]', '["SuperSIM"]',
       :lifetime, '[]', null, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 1, 1, now(), now()
from generate_series(0, :count - 1) as i;
insert into access_tokens (jti, client_id, profile_id, secret_generation, issued_at, expires_at, revoked)
select {PG_RANDOM_ID}, client_id, null, 1, issued, issued + :lifetime, false
from (select c.client_id, extract(epoch from now())::bigint - floor(random() * :max_age)::bigint as issued
      from clients c cross join generate_series(1, :per_client)
      where c.account_id = :'account' and c.name like 'seeded %' order by c.seq) as t;
commit;
analyze clients;
analyze access_tokens;
"""


def seed_postgres(url, account_id, owner, count):
    """`count` standard clients, each with its 10 live tokens, generated inside PostgreSQL; then
    ANALYZE, so autovacuum's first analyze of the fresh rows does not land mid-run."""
    psql(url, PG_SEED, {"account": account_id, "owner": owner, "count": count, "lifetime": TOKEN_LIFETIME,
                        "max_age": TOKEN_MAX_AGE, "per_client": TOKENS_PER_CLIENT})


def count_store(store):
    """Clients and live tokens in the store, as Gatehouse will see them."""
    now = int(time.time())
    sql = (f"select (select count(*) from clients), (select count(*) from access_tokens "
           f"where revoked = false and expires_at > {now})")
    if store.name == "sqlite":
        db = sqlite3.connect(store.url.removeprefix("sqlite://"))
        try:
            clients, tokens = db.execute(sql).fetchone()
        finally:
            db.close()
    else:
        clients, tokens = psql(store.url, sql + ";", capture=True).strip().split("|")
    return {"clients": int(clients), "live_tokens": int(tokens)}


# ---------------------------------------------------------------------------------------------
# the servers

def measure(server, name, request, seconds, half_load=False):
    """{name: the max-rate run}, plus {name_half_load: the half-load run} when asked. `request`
    builds the request and is called before each run, so a bearer token is fresh for each."""
    runs = {name: wrk_max(server, request(), seconds)}
    if half_load:
        runs[f"{name}_half_load"] = wrk_half_load(server, request(), seconds, runs[name]["requests_per_second"])
    return runs


def paired(endpoint, contenders, rounds, seconds):
    """`rounds` rounds of one max-rate run (warm-up included) per contender, in the given order,
    strictly one after the other: [(group, server, request)] -> {group: its rounds, summarized}."""
    by_group = {group: [] for group, _, _ in contenders}
    for number in range(1, rounds + 1):
        for group, server, request in contenders:
            by_group[group].append({**wrk_max(server, request(), seconds), "round": number})
        print(f"   {endpoint} round {number}/{rounds}: "
              + ", ".join(f"{group} {runs[-1]['requests_per_second']:.0f}" for group, runs in by_group.items())
              + " req/s", flush=True)
    return {group: summarize(runs) for group, runs in by_group.items()}


def summarize(rounds):
    """A paired endpoint of one server: its rounds, and their medians (what the ratios of other,
    unpaired runs and the half-load calibration use)."""
    return {"paired_rounds": len(rounds),
            "requests_per_second": statistics.median(r["requests_per_second"] for r in rounds),
            "server_cpu_us_per_request": statistics.median(r["server_cpu_us_per_request"] for r in rounds),
            "requests_per_second_rounds": [r["requests_per_second"] for r in rounds],
            "rounds": rounds}


def in_order(results, names):
    """The results with the runs in `names` first, in that order (the table's order)."""
    return {**{name: results[name] for name in names if name in results}, **results}


def baseline_server():
    return Server("baseline", [BASELINE, "127.0.0.1:{port}"])


def baseline_requests(server):
    return {"token": lambda: Request(f"{server.base}/token", [FORM], "POST", TOKEN_FORM),
            "check": lambda: Request(f"{server.base}/check")}


def init_and_seed(store, clients):
    """`gatehouse init`, then the seeded clients and tokens; the bootstrap credentials."""
    env = {**os.environ, **store.env}
    init = subprocess.run([GATEHOUSE, "init", "--owner-email", OWNER, "--database", store.url, "--json"],
                          check=True, capture_output=True, text=True, env=env)
    creds = json.loads(init.stdout)
    started = time.time()
    store.seed(creds["account_id"], OWNER, clients)
    return creds, time.time() - started


def seed_gatehouse(store, clients):
    """The seeded store; the bootstrap credentials, and the start of Gatehouse's results."""
    print(f"   seeding {clients} clients and {clients * TOKENS_PER_CLIENT} live tokens ({store.name})", flush=True)
    creds, seed_seconds = init_and_seed(store, clients)
    results = {"database": store.name, "seed_seconds": seed_seconds, "store": count_store(store)}
    print(f"   seeded in {seed_seconds:.1f} s: {results['store']}", flush=True)
    return creds, results


def gatehouse_server(store):
    serve = [GATEHOUSE, "serve", "--listen", "127.0.0.1:{port}", "--database", store.url]
    return Server(f"gatehouse ({store.name})", serve, env=store.env)


def gatehouse_requests(server, creds):
    """Request builders for Gatehouse's measured endpoints, and a function minting a token."""
    auth = basic(creds["client_id"], creds["client_secret"])
    token_url = f"{server.base}/api-services/v1/auth/token"

    def fresh_token():
        """A token minted now: the live-token cap revokes the oldest, so mint one per run."""
        return post_token(token_url, auth, TOKEN_FORM)

    def bearer(path):
        return lambda: Request(server.base + path, [f"Authorization: Bearer {fresh_token()}"])

    def introspect():
        return Request(f"{server.base}/api-services/v1/auth/introspect", [auth, FORM], "POST",
                       f"token={fresh_token()}")

    def many_clients():
        """Minting in turn as MANY_CLIENTS clients made through the API (once per server): each
        batch then touches many clients' rows and live tokens, not one client's."""
        if not minting_clients:
            minting_clients.extend(create_clients(server.base, fresh_token(), MANY_CLIENTS))
        header_values = [basic(*client).split(": ", 1)[1] for client in minting_clients]
        return Request(token_url, [FORM], "POST", TOKEN_FORM, rotate_authorization=header_values)

    minting_clients = []
    return {"token": lambda: Request(token_url, [auth, FORM], "POST", TOKEN_FORM),
            "token_many_clients": many_clients,
            "check": bearer("/v1/auth/products/SuperSIM/check"),
            "introspection": introspect,
            "list_clients": bearer("/v1/clients?page_size=100&page_number=500")}, fresh_token


def wait_gatehouse(server, results):
    started = time.time()
    server.wait_ready("/healthz")
    results["startup_seconds"] = time.time() - started


GATEHOUSE_ORDER = ("token", "token_half_load", "token_many_clients", "check", "check_half_load", "introspection", "list_clients")


def bench_gatehouse(store, seconds, clients, half_load):
    """Gatehouse alone on one store, each run once: token, check, introspection, deep client
    page; half load too when asked. (PostgreSQL; SQLite is measured in bench_paired.)"""
    creds, results = seed_gatehouse(store, clients)
    with gatehouse_server(store) as server:
        wait_gatehouse(server, results)
        requests, fresh_token = gatehouse_requests(server, creds)
        results["token_format"] = token_format(fresh_token())
        results.update(measure(server, "token", requests["token"], seconds, half_load))
        results.update(measure(server, "token_many_clients", requests["token_many_clients"], seconds))
        results.update(measure(server, "check", requests["check"], seconds, half_load))
        results.update(measure(server, "introspection", requests["introspection"], seconds))
        results.update(measure(server, "list_clients", requests["list_clients"], seconds))
        results["peak_rss_mib"] = server.peak_rss_mib()
    return results


def peer_server(token_kind):
    return Server(f"peer ({token_kind})", ["node", "server.mjs", "{port}", token_kind], cwd=PEER_DIR)


def peer_request(server, token_kind):
    """The peer's token request, once its token format is checked: `jwt` (EdDSA) or `opaque`."""
    server.wait_ready("/.well-known/openid-configuration")
    auth = basic(*PEER_CLIENT)
    request = Request(f"{server.base}/token", [auth, FORM], "POST", f"{TOKEN_FORM}&scope=SuperSIM")
    seen = token_format(post_token(request.url, auth, request.body))
    expected = {"format": "jwt", "alg": "EdDSA"} if token_kind == "jwt" else {"format": "opaque"}
    if any(seen.get(key) != value for key, value in expected.items()):
        raise RuntimeError(f"peer in {token_kind} mode issued {seen}, expected {expected}")
    return request, seen


def bench_peer(seconds, token_kind):
    """oidc-provider alone, issuing `jwt` (EdDSA) or `opaque` access tokens, measured once."""
    with peer_server(token_kind) as server:
        request, seen = peer_request(server, token_kind)
        results = {"token_format": seen, **measure(server, "token", lambda: request, seconds)}
        results["peak_rss_mib"] = server.peak_rss_mib()
    return results


def bench_paired(store, seconds, rounds, clients):
    """The baseline, Gatehouse on the seeded SQLite store and the JWT peer, all running at once
    (see the docstring): the paired token and check rounds, then the runs measured once, then
    each process's peak RSS. {group: results} for the three."""
    creds, gatehouse_results = seed_gatehouse(store, clients)
    baseline_results, peer_results = {}, {}
    with ExitStack() as servers:  # every server started here is stopped on the way out, error or not
        baseline = servers.enter_context(baseline_server())
        gatehouse = servers.enter_context(gatehouse_server(store))
        peer = servers.enter_context(peer_server("jwt"))
        wait_gatehouse(gatehouse, gatehouse_results)
        baseline.wait_ready("/check")
        peer_token, peer_results["token_format"] = peer_request(peer, "jwt")
        base_requests = baseline_requests(baseline)
        gh_requests, fresh_token = gatehouse_requests(gatehouse, creds)
        gatehouse_results["token_format"] = token_format(fresh_token())

        print(f"   token issuance, {rounds} paired rounds of {seconds} s (+{WARMUP_SECONDS} s warm-up) each: "
              "baseline, gatehouse (SQLite), peer (jwt)", flush=True)
        token = paired("token", [("baseline", baseline, base_requests["token"]),
                                 ("gatehouse_sqlite", gatehouse, gh_requests["token"]),
                                 ("peer_jwt", peer, lambda: peer_token)], rounds, seconds)
        print(f"   gateway check, {rounds} paired rounds: baseline, gatehouse (SQLite)", flush=True)
        check = paired("check", [("baseline", baseline, base_requests["check"]),
                                 ("gatehouse_sqlite", gatehouse, gh_requests["check"])], rounds, seconds)
        baseline_results.update(token=token["baseline"], check=check["baseline"])
        gatehouse_results.update(token=token["gatehouse_sqlite"], check=check["gatehouse_sqlite"])
        peer_results["token"] = token["peer_jwt"]

        print("   measured once: half load (at half the median max rate), 64 clients minting, introspection, "
              "client list", flush=True)
        for name in ("token", "check"):
            baseline_results[f"{name}_half_load"] = wrk_half_load(
                baseline, base_requests[name](), seconds, baseline_results[name]["requests_per_second"])
        for name in ("token", "check"):
            gatehouse_results[f"{name}_half_load"] = wrk_half_load(
                gatehouse, gh_requests[name](), seconds, gatehouse_results[name]["requests_per_second"])
        gatehouse_results.update(measure(gatehouse, "token_many_clients", gh_requests["token_many_clients"], seconds))
        gatehouse_results.update(measure(gatehouse, "introspection", gh_requests["introspection"], seconds))
        gatehouse_results.update(measure(gatehouse, "list_clients", gh_requests["list_clients"], seconds))

        # the Gatehouse process that served every SQLite run, with the seeded store
        gatehouse_results["peak_rss_mib"] = gatehouse.peak_rss_mib()
        baseline_results["peak_rss_mib"] = baseline.peak_rss_mib()
        peer_results["peak_rss_mib"] = peer.peak_rss_mib()
    return {"baseline": in_order(baseline_results, GATEHOUSE_ORDER),
            "gatehouse_sqlite": in_order(gatehouse_results, GATEHOUSE_ORDER),
            "peer_jwt": peer_results}


# ---------------------------------------------------------------------------------------------
# report

def rps(results, group, run):
    return results[group][run]["requests_per_second"]


def cpu_ratio(results, group, run):
    """Baseline CPU per request over Gatehouse's: the ratio as the server's core sees it, whatever
    bounded the request rate (wrk on the other core can be the limit for fast endpoints)."""
    return (results["baseline"][run]["server_cpu_us_per_request"]
            / results[group][run]["server_cpu_us_per_request"])


PAIRED_RATIOS = ("vs_baseline", "vs_baseline_cpu", "vs_peer_jwt")


def paired_ratios(results):
    """Per paired round, Gatehouse (SQLite) over the runs next to it in the same round; and the
    medians over the rounds (of the ratios, and of each server's req/s)."""
    gatehouse, baseline, peer = results["gatehouse_sqlite"], results["baseline"], results["peer_jwt"]
    paired_results = {}
    for run in ("token", "check"):
        rounds = []
        for index, ours in enumerate(gatehouse[run]["rounds"]):
            base = baseline[run]["rounds"][index]
            row = {"round": index + 1,
                   "baseline_rps": base["requests_per_second"],
                   "gatehouse_sqlite_rps": ours["requests_per_second"],
                   "vs_baseline": ours["requests_per_second"] / base["requests_per_second"],
                   "vs_baseline_cpu": base["server_cpu_us_per_request"] / ours["server_cpu_us_per_request"]}
            if run == "token":
                theirs = peer["token"]["rounds"][index]
                row.update(peer_jwt_rps=theirs["requests_per_second"],
                           vs_peer_jwt=ours["requests_per_second"] / theirs["requests_per_second"])
            rounds.append(row)
        keys = [key for key in rounds[0] if key != "round"]
        paired_results[run] = {"rounds": rounds,
                               "median": {key: statistics.median(r[key] for r in rounds) for key in keys},
                               "min": {key: min(r[key] for r in rounds) for key in keys},
                               "max": {key: max(r[key] for r in rounds) for key in keys}}
    return paired_results


def compute_ratios(results, paired_results):
    """The ratios; for SQLite against the baseline and the JWT peer, the medians of the paired
    rounds' ratios; the others (not paired) from the paired servers' median req/s and CPU."""
    ratios = {}
    for store in ("sqlite", "postgres"):
        group = f"gatehouse_{store}"
        if "token" not in results[group]:
            continue
        if store == "sqlite":
            token, check = paired_results["token"]["median"], paired_results["check"]["median"]
            ratios["sqlite_token_vs_baseline"] = token["vs_baseline"]
            ratios["sqlite_check_vs_baseline"] = check["vs_baseline"]
            ratios["sqlite_token_vs_baseline_cpu"] = token["vs_baseline_cpu"]
            ratios["sqlite_check_vs_baseline_cpu"] = check["vs_baseline_cpu"]
        else:
            ratios[f"{store}_token_vs_baseline"] = rps(results, group, "token") / rps(results, "baseline", "token")
            ratios[f"{store}_check_vs_baseline"] = rps(results, group, "check") / rps(results, "baseline", "check")
            ratios[f"{store}_token_vs_baseline_cpu"] = cpu_ratio(results, group, "token")
            ratios[f"{store}_check_vs_baseline_cpu"] = cpu_ratio(results, group, "check")
        for kind in ("jwt", "opaque"):
            if store == "sqlite" and kind == "jwt":
                ratios["sqlite_token_vs_peer_jwt"] = paired_results["token"]["median"]["vs_peer_jwt"]
            else:
                ratios[f"{store}_token_vs_peer_{kind}"] = (rps(results, group, "token")
                                                           / rps(results, f"peer_{kind}", "token"))
    return ratios


def runs(results):
    """(group, name, run) for every wrk run in the results (each round of a paired endpoint)."""
    for group, value in results.items():
        if isinstance(value, dict):
            for name, run in value.items():
                if isinstance(run, dict) and "paired_rounds" in run:
                    for one in run["rounds"]:
                        yield group, f"{name} round {one['round']}/{len(run['rounds'])}", one
                elif isinstance(run, dict) and "requests_per_second" in run:
                    yield group, name, run


def target(name, measured, passed, shown):
    return {"target": name, "measured": measured, "pass": passed, "shown": shown}


def per_round(paired_results, run, key, digits=3):
    values = [f"{r[key]:.{digits}f}" for r in paired_results[run]["rounds"]]
    return f"median of {len(values)} paired rounds: {', '.join(values)}"


def evaluate_targets(results, ratios, clients, paired_results):
    sqlite = results["gatehouse_sqlite"]
    targets = [
        target("token issuance >= 0.35 x baseline token", ratios["sqlite_token_vs_baseline"],
               ratios["sqlite_token_vs_baseline"] >= 0.35,
               f"{ratios['sqlite_token_vs_baseline']:.3f} ({per_round(paired_results, 'token', 'vs_baseline')}; "
               f"median {rps(results, 'gatehouse_sqlite', 'token'):.0f} / {rps(results, 'baseline', 'token'):.0f} "
               f"req/s; by CPU per request {ratios['sqlite_token_vs_baseline_cpu']:.3f})"),
        target("gateway check >= 0.70 x baseline check", ratios["sqlite_check_vs_baseline"],
               ratios["sqlite_check_vs_baseline"] >= 0.70,
               f"{ratios['sqlite_check_vs_baseline']:.3f} ({per_round(paired_results, 'check', 'vs_baseline')}; "
               f"median {rps(results, 'gatehouse_sqlite', 'check'):.0f} / {rps(results, 'baseline', 'check'):.0f} "
               f"req/s; by CPU per request {ratios['sqlite_check_vs_baseline_cpu']:.3f})"),
    ]
    for run in ("token", "check"):
        half = sqlite[f"{run}_half_load"]
        targets.append(target(f"{run} p99 < 2 ms at half the max rate", half["latency_ms"]["p99"],
                              half["latency_ms"]["p99"] < 2.0,
                              f"{half['latency']['p99']} at {half['requests_per_second']:.0f} req/s "
                              f"({half['fraction_of_max']:.2f} of max)"))
    targets.append(target("token issuance >= 10 x peer (EdDSA JWT) token", ratios["sqlite_token_vs_peer_jwt"],
                          ratios["sqlite_token_vs_peer_jwt"] >= 10,
                          f"{ratios['sqlite_token_vs_peer_jwt']:.2f} "
                          f"({per_round(paired_results, 'token', 'vs_peer_jwt', 2)}; median "
                          f"{rps(results, 'gatehouse_sqlite', 'token'):.0f} / "
                          f"{rps(results, 'peer_jwt', 'token'):.0f} req/s)"))
    for store in ("sqlite", "postgres"):
        group = results[f"gatehouse_{store}"]
        if "peak_rss_mib" not in group:
            continue
        held = group["store"]
        small = "" if clients >= 100_000 else " [store below the target's 100k clients / 1M tokens]"
        targets.append(target(f"Gatehouse ({store}) peak RSS < 64 MiB with 100k clients and 1M live tokens",
                              group["peak_rss_mib"], group["peak_rss_mib"] < 64,
                              f"{group['peak_rss_mib']:.1f} MiB with {held['clients']} clients, "
                              f"{held['live_tokens']} live tokens{small}"))
    errors = [(f"{g}/{n}", r["errors"] + r.get("warmup_errors", 0)) for g, n, r in runs(results)]
    failed = [f"{where}: {count}" for where, count in errors if count]
    targets.append(target("no error responses during any run", sum(count for _, count in errors), not failed,
                          ", ".join(failed) if failed else f"0 errors in {len(errors)} runs"))
    return targets


SATURATED = 0.8  # a max-rate run whose server used less of its core was bounded elsewhere
DISTURBED = 0.02  # a run during which the other (idle) servers used more of CPU 0 is marked


def print_table(results):
    print("\n| run | req/s | p50 | p99 | errors | server CPU/req | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    unsaturated = False
    for group, name, run in runs(results):
        label = f"{group} {name}"
        if "target_rps" in run:
            label += f" ({run['connections']} conns, {run['delay_ms']} ms think time)"
        elif run["server_cpu_share"] < SATURATED:
            label += f" (*{run['server_cpu_share']:.0%} CPU)"
            unsaturated = True
        if run.get("other_servers_cpu_share", 0) > DISTURBED:
            label += f" (+{run['other_servers_cpu_share']:.0%} of CPU 0 used by the other servers)"
        if run.get("other_processes_cpu_share", 0) > DISTURBED:
            label += f" (+{run['other_processes_cpu_share']:.0%} of CPU 0 used by other processes)"
        errors = run["errors"] + run.get("warmup_errors", 0)
        print(f"| {label} | {run['requests_per_second']:.0f} | {run['latency'].get('p50')} | "
              f"{run['latency'].get('p99')} | {errors} | {run['server_cpu_us_per_request']:.0f} us | "
              f"{results[group]['peak_rss_mib']:.1f} MiB |")
    if unsaturated:
        print(f"\n* the server used under {SATURATED:.0%} of its core at the maximum rate: the rate was bounded "
              "by wrk (CPU 1) or by waiting (disk, database), not by the server's CPU")


def print_paired(paired_results):
    print("\npaired rounds (max rate; each round's ratios from its own neighbouring runs, seconds apart):")
    print("| endpoint | round | baseline req/s | gatehouse (SQLite) req/s | peer (jwt) req/s "
          "| gatehouse/baseline | by CPU/request | gatehouse/peer |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run, data in paired_results.items():
        for label, row in [(str(r["round"]), r) for r in data["rounds"]] + [("median", data["median"])]:
            peer = f"{row['peer_jwt_rps']:.0f}" if "peer_jwt_rps" in row else "-"
            versus_peer = f"{row['vs_peer_jwt']:.2f}" if "vs_peer_jwt" in row else "-"
            print(f"| {run} | {label} | {row['baseline_rps']:.0f} | {row['gatehouse_sqlite_rps']:.0f} | {peer} | "
                  f"{row['vs_baseline']:.3f} | {row['vs_baseline_cpu']:.3f} | {versus_peer} |")
    print("spread of the per-round ratios (min-max, and max/min - 1):")
    for run, data in paired_results.items():
        for key in PAIRED_RATIOS:
            if key in data["median"]:
                low, high = data["min"][key], data["max"][key]
                print(f"  {run} {key}: {low:.3f}-{high:.3f} ({high / low - 1:.1%})")


def print_targets(targets):
    print("\ntargets:")
    for t in targets:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['shown']}")


def machine_state(when):
    """A concurrent compile skews every figure: say so, and record it with the load average."""
    busy = subprocess.run(["pgrep", "-x", "cargo|rustc"], capture_output=True, text=True).stdout.split()
    if busy:
        print(f"warning: cargo/rustc running at {when} (pids {', '.join(busy)}): figures are noisy",
              file=sys.stderr)
    return {f"load_average_at_{when}": os.getloadavg(), f"compiles_running_at_{when}": len(busy)}


def ensure_tools():
    if not shutil.which("wrk"):
        print("== installing wrk (Debian)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env).returncode != 0:
            sh("apt-get", "update", "-qq", env=env)
            sh("apt-get", "install", "-y", "-qq", "wrk", env=env)
    if not (PEER_DIR / "node_modules/oidc-provider").exists():
        print("== installing oidc-provider (npm)")
        sh("npm", "ci", "--silent", "--no-audit", "--no-fund", cwd=PEER_DIR)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per run (default 10)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"paired rounds per compared endpoint (default {DEFAULT_ROUNDS})")
    parser.add_argument("--clients", type=int, default=100_000, help="seeded clients, 10 live tokens each")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help=f"PostgreSQL server URL ({DEFAULT_POSTGRES})")
    parser.add_argument("--report-only", action="store_true", help="exit 0 when targets fail (not on errors)")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    args = parser.parse_args()
    if args.seconds < 1 or args.rounds < 1:
        parser.error("--seconds and --rounds must be at least 1")
    # SIGTERM unwinds like Ctrl-C, so every `with` block stops its servers and removes its store
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    started = time.time()
    ensure_tools()
    if not args.no_build:
        print("== building (release)", flush=True)
        sh("cargo", "build", "--release", "--locked", "-p", "gatehouse-server", "-p", "gatehouse-bench-baseline",
           cwd=ROOT)
    machine = {"cpus": os.cpu_count(), **machine_state("start")}

    print("== paired: baseline, gatehouse (SQLite), peer (oidc-provider, jwt access tokens), all running",
          flush=True)
    with sqlite_store() as store:
        side_by_side = bench_paired(store, args.seconds, args.rounds, args.clients)
    results = {"baseline": side_by_side["baseline"], "gatehouse_sqlite": side_by_side["gatehouse_sqlite"]}
    print("== gatehouse (PostgreSQL)", flush=True)
    if reason := postgres_unreachable(args.postgres):
        print(f"   skipped: {reason}", flush=True)
        results["gatehouse_postgres"] = {"skipped": reason}
    else:
        with postgres_store(args.postgres) as store:
            results["gatehouse_postgres"] = bench_gatehouse(store, args.seconds, args.clients, half_load=False)
    results["peer_jwt"] = side_by_side["peer_jwt"]
    print("== peer (oidc-provider, opaque access tokens)", flush=True)
    results["peer_opaque"] = bench_peer(args.seconds, "opaque")

    machine.update(machine_state("end"))
    paired_results = paired_ratios(results)
    ratios = compute_ratios(results, paired_results)
    targets = evaluate_targets(results, ratios, args.clients, paired_results)
    results.update(ratios=ratios, paired=paired_results, targets=targets, machine=machine, method={
        "server": f"taskset -c {SERVER_CPU}, TOKIO_WORKER_THREADS=1",
        "max_rate": f"taskset -c {WRK_CPU} wrk -t1 -c{MAX_CONNECTIONS} -d{args.seconds}s after a "
                    f"{WARMUP_SECONDS} s warm-up",
        "paired": f"baseline, gatehouse (SQLite) and peer (jwt) running together on CPU {SERVER_CPU}; "
                  f"{args.rounds} rounds of token (baseline, gatehouse, peer) then {args.rounds} rounds of check "
                  "(baseline, gatehouse), one wrk run at a time, each after every server is idle; ratio per "
                  "round from its neighbouring runs, target = median of the per-round ratios",
        "rounds": args.rounds,
        "half_load": "wrk Lua delay() think time; connections and delay calibrated for half the max rate",
        "store": f"{args.clients} seeded clients + bootstrap, {TOKENS_PER_CLIENT} live tokens per seeded client",
        "errors": "non-2xx/3xx responses + socket errors (connect, read, write, timeout), warm-ups included",
        "postgres": "PostgreSQL itself is not pinned: it shares both CPUs with the server and wrk",
    }, elapsed_seconds=time.time() - started)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))

    print_table(results)
    print_paired(paired_results)
    print("\nratios (sqlite vs baseline and vs peer_jwt: medians of the paired rounds' ratios; the rest against "
          "the paired servers' medians):")
    for key, value in ratios.items():
        print(f"  {key}: {value:.3f}")
    if "skipped" in results["gatehouse_postgres"]:
        print(f"\nPostgreSQL skipped: {results['gatehouse_postgres']['skipped']}")
    print_targets(targets)
    elapsed = time.time() - started
    print(f"\nwritten to {OUT / 'results.json'}; total time {elapsed:.0f} s ({elapsed // 60:.0f} min "
          f"{elapsed % 60:.0f} s)")

    errors = next(t for t in targets if t["target"].startswith("no error"))
    if not errors["pass"]:
        print(f"error responses during: {errors['shown']}", file=sys.stderr)
        sys.exit(1)
    if not args.report_only and not all(t["pass"] for t in targets):
        print("targets failed (pass --report-only to exit 0 anyway)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
