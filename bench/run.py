#!/usr/bin/env python3
"""Gatehouse's benchmark: one command, one run, ratios against a baseline measured alongside.

Starts, one at a time and pinned to CPU 0: the baseline (bench/baseline, the same axum/hyper
stack answering fixed responses), Gatehouse on SQLite, and the peer users pick instead (panva's
oidc-provider from npm). wrk, pinned to CPU 1, drives each for a bounded run on loopback.
Prints requests/s, p50/p99 latency, errors and peak RSS for each, the ratios Gatehouse/baseline
and Gatehouse/peer, and writes them to target/bench/results.json.

    python3 bench/run.py [--seconds 10] [--clients 100000]
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
WRK_CONNECTIONS = 32


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def ensure_tools():
    if not shutil.which("wrk"):
        print("== installing wrk (Debian)")
        sh("apt-get", "install", "-y", "-qq", "wrk", env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not (ROOT / "bench/peer/node_modules/oidc-provider").exists():
        print("== installing oidc-provider (npm)")
        sh("npm", "install", "--silent", "--no-audit", "--no-fund", cwd=ROOT / "bench/peer")


def start(cmd, env=None, cwd=None):
    """A server pinned to CPU 0, one runtime worker, so every server gets the same core."""
    env = {**os.environ, "TOKIO_WORKER_THREADS": "1", "RUST_LOG": "warn", **(env or {})}
    return subprocess.Popen(["taskset", "-c", "0", *cmd], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def peak_rss_mib(proc):
    status = Path(f"/proc/{proc.pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def stop(proc):
    rss = peak_rss_mib(proc)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    return rss


def wrk(url, seconds, headers=(), body=None, method="GET"):
    """One bounded wrk run from CPU 1, after a short warm-up; its figures."""
    script = None
    if body is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(f'wrk.method = "{method}"\nwrk.body = {json.dumps(body)}\n')
        script.close()
    args = ["taskset", "-c", "1", "wrk", "-t1", f"-c{WRK_CONNECTIONS}", "--latency"]
    for header in headers:
        args += ["-H", header]
    if script:
        args += ["-s", script.name]
    subprocess.run(args + ["-d2s", url], check=True, capture_output=True)  # warm-up
    out = subprocess.run(args + [f"-d{seconds}s", url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_second": rps,
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "requests": total,
        "errors": errors,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def basic(client_id, secret):
    return "Authorization: Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


FORM = "Content-Type: application/x-www-form-urlencoded"


def bench_baseline(seconds):
    port = free_port()
    proc = start([str(ROOT / "target/release/gatehouse-bench-baseline"), f"127.0.0.1:{port}"])
    wait_http(f"http://127.0.0.1:{port}/check")
    base = f"http://127.0.0.1:{port}"
    results = {
        "token": wrk(f"{base}/token", seconds, [FORM], "grant_type=client_credentials", "POST"),
        "check": wrk(f"{base}/check", seconds),
    }
    results["peak_rss_mib"] = stop(proc)
    return results


def seed_clients(db_path, account_id, owner, count):
    """Adds `count` standard clients straight into the database (the API would take minutes)."""
    db = sqlite3.connect(db_path)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = (
        (base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="), account_id, f"seeded {i}", owner,
         now, now, os.urandom(32))
        for i in range(count)
    )
    db.executemany(
        "insert into clients (client_id, account_id, name, description, client_owner, client_type, locked, "
        "enabled, global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_hash, "
        "secret_generation, version, date_created, date_updated) "
        "values (?, ?, ?, '', ?, 'standard', null, 1, '[]', '[\"SuperSIM\"]', 3600, '[]', null, ?, 1, 1, ?, ?)",
        ((r[0], r[1], r[2], r[3], r[6], r[4], r[5]) for r in rows),
    )
    db.commit()
    db.close()


def bench_gatehouse(seconds, clients):
    binary = str(ROOT / "target/release/gatehouse")
    work = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    database = f"sqlite://{work}/bench.db"
    init = subprocess.run([binary, "init", "--owner-email", "bench@example.com", "--database", database, "--json"],
                          check=True, capture_output=True, text=True)
    creds = json.loads(init.stdout)
    seed_clients(work / "bench.db", creds["account_id"], "bench@example.com", clients)
    port = free_port()
    proc = start([binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", database])
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz")
    auth = basic(creds["client_id"], creds["client_secret"])

    def token():
        request = urllib.request.Request(f"{base}/api-services/v1/auth/token", data=b"grant_type=client_credentials",
                                         headers={"Authorization": auth.split(": ", 1)[1],
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)["access_token"]

    results = {"token": wrk(f"{base}/api-services/v1/auth/token", seconds, [auth, FORM],
                            "grant_type=client_credentials", "POST")}
    warm = token()
    results["check"] = wrk(f"{base}/v1/auth/check?product=SuperSIM", seconds, [f"Authorization: Bearer {warm}"])
    warm = token()
    results["introspection"] = wrk(f"{base}/api-services/v1/auth/introspect", seconds, [auth, FORM],
                                   f"token={warm}", "POST")
    warm = token()
    results["list_clients"] = wrk(f"{base}/v1/clients?page_size=100&page_number=500", seconds,
                                  [f"Authorization: Bearer {warm}"])
    results["clients_in_store"] = clients + 1
    results["peak_rss_mib"] = stop(proc)
    shutil.rmtree(work, ignore_errors=True)
    return results


def bench_peer(seconds):
    port = free_port()
    proc = start(["node", "server.mjs", str(port)], cwd=ROOT / "bench/peer")
    wait_http(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
    auth = basic("bench", "bench-secret-that-is-long-enough-0123456789")
    results = {"token": wrk(f"http://127.0.0.1:{port}/token", seconds, [auth, FORM],
                            "grant_type=client_credentials&scope=SuperSIM", "POST")}
    results["peak_rss_mib"] = stop(proc)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=100_000)
    args = parser.parse_args()
    ensure_tools()
    print("== building (release)")
    sh("cargo", "build", "--release", "--locked", "-p", "gatehouse-server", "-p", "gatehouse-bench-baseline", cwd=ROOT)

    print("== baseline");
    baseline = bench_baseline(args.seconds)
    print("== gatehouse (SQLite)")
    gatehouse = bench_gatehouse(args.seconds, args.clients)
    print("== peer (oidc-provider)")
    peer = bench_peer(args.seconds)

    ratios = {
        "token_vs_baseline": gatehouse["token"]["requests_per_second"] / baseline["token"]["requests_per_second"],
        "check_vs_baseline": gatehouse["check"]["requests_per_second"] / baseline["check"]["requests_per_second"],
        "token_vs_peer": gatehouse["token"]["requests_per_second"] / peer["token"]["requests_per_second"],
    }
    results = {"baseline": baseline, "gatehouse_sqlite": gatehouse, "peer_oidc_provider": peer, "ratios": ratios,
               "machine": {"cpus": os.cpu_count(), "wrk": f"-t1 -c{WRK_CONNECTIONS} -d{args.seconds}s"}}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))

    print(f"\n| run | req/s | p50 | p99 | errors | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, group in [("baseline", baseline), ("gatehouse", gatehouse), ("peer", peer)]:
        for key, run in group.items():
            if isinstance(run, dict):
                print(f"| {name} {key} | {run['requests_per_second']:.0f} | {run['p50']} | {run['p99']} | "
                      f"{run['errors']} | {group['peak_rss_mib']:.1f} MiB |")
    print()
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}")
    print(f"\nwritten to {OUT / 'results.json'}")
    failed = [f"{g}/{k}" for g, group in results.items() if isinstance(group, dict)
              for k, run in group.items() if isinstance(run, dict) and run.get("errors")]
    if failed:
        print(f"error responses during: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
