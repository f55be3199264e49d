#!/usr/bin/env python3
"""Quick A/B of Gatehouse builds, paired against the baseline: is a change faster?

    cargo build --release && cp target/release/gatehouse /tmp/gh-before
    ... change, rebuild ...   && cp target/release/gatehouse /tmp/gh-after
    python3 bench/ab.py check|token /tmp/gh-before /tmp/gh-after     # ROUNDS=3 SECS=5
    python3 bench/ab.py check-key|check-quota target/release/gatehouse   # an access profile's API key,
                                                                           # alone or under a quota

The same conditions as bench/run.py (servers pinned to CPU 0 with one runtime worker, wrk -t1
-c32 on CPU 1, a 2 s warm-up before each run), but only one endpoint, a fresh small SQLite
store per binary, and rounds that alternate baseline, first binary, second binary, ... Each
round prints req/s and server CPU per request (utime + stime of all threads, from /proc); the
summary gives each binary's median ratio to the baseline of its own round. CPU per request is
the steadier figure. Not the benchmark of record: bench/run.py is.
"""
import json, os, re, subprocess, sys, time, base64, urllib.request, shutil, statistics, tempfile
from pathlib import Path
MODES = ("check", "token", "check-key", "check-quota")
if len(sys.argv) < 3 or sys.argv[1] not in MODES:
    raise SystemExit(__doc__)
endpoint = sys.argv[1]
bins = sys.argv[2:]
ROUNDS = int(os.environ.get("ROUNDS", "3")); SECS = int(os.environ.get("SECS", "5"))
ROOT = Path(__file__).resolve().parent.parent
BASE = str(ROOT / "target/release/gatehouse-bench-baseline")
WORK = Path(tempfile.mkdtemp(prefix="gatehouse-ab-"))
POST_LUA = WORK / "post.lua"
env = dict(os.environ, RUST_LOG="warn", TOKIO_WORKER_THREADS="1")
TICK = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    return total / TICK
def wait(url):
    for _ in range(200):
        try: urllib.request.urlopen(url, timeout=1); return
        except urllib.error.HTTPError: return
        except Exception: time.sleep(0.05)
    raise SystemExit(f"{url} never answered")
def call(url, path, session, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {session}", "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
def profile_key(url, creds, quota):
    """An API key of an access profile of a new client; under a policy whose quota (10^12 a
    month) never runs out when `quota`, so every check counts and none is refused."""
    login = urllib.request.Request(url + "/v1/auth/login", headers={"Content-Type": "application/json"},
        data=json.dumps({"email": "o@example.com", "password": creds["owner_password"]}).encode())
    session = json.load(urllib.request.urlopen(login))["session_token"]
    client = call(url, "/v1/clients", session, {"name": "bench", "locked": None, "scopes": {"products": ["SuperSIM"]}})
    profile = {"name": "bench", "auth_method": "api_key", "products": ["SuperSIM"]}
    if quota:
        policy = call(url, "/v1/policies", session, {"name": "bench", "quota": {"requests": 10**12, "period": "month"}})
        profile["policy_id"] = policy["policy"]["policy_id"]
    created = call(url, f"/v1/clients/{client['client_id']}/access-profiles", session, profile)
    return created["credential"]["api_key"]
procs = []
def start(cmd):
    p = subprocess.Popen(["taskset", "-c", "0"] + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p); return p
servers = []
bp = start([BASE, "127.0.0.1:18300"]); wait("http://127.0.0.1:18300/check")
servers.append(("baseline", bp, "http://127.0.0.1:18300", None))
for i, b in enumerate(bins):
    d = WORK / f"store{i}"; d.mkdir()
    db = f"sqlite://{d}/g.db"
    c = json.loads(subprocess.run([b, "init", "--owner-email", "o@example.com", "--database", db, "--json"], capture_output=True, text=True, env=env).stdout)
    port = 18310 + i
    p = start([b, "serve", "--listen", f"127.0.0.1:{port}", "--database", db]); wait(f"http://127.0.0.1:{port}/healthz")
    basic = base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api-services/v1/auth/token", data=b"grant_type=client_credentials",
        headers={"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"})
    token = json.load(urllib.request.urlopen(req))["access_token"]
    if endpoint in ("check-key", "check-quota"):
        token = profile_key(f"http://127.0.0.1:{port}", c, endpoint == "check-quota")
    servers.append((os.path.basename(b), p, f"http://127.0.0.1:{port}", (basic, token)))
def run(name, proc, url, creds):
    if endpoint.startswith("check"):
        # What nginx's auth_request sends with the README's configuration: the product follows
        # from the original path. (The baseline ignores the headers.)
        target = url + ("/check" if creds is None else "/v1/auth/check")
        args = ["-H", "X-Original-URI: /supersim/v1/Sims?PageSize=50"] + ([] if creds is None else ["-H", f"Authorization: Bearer {creds[1]}"])
    else:
        target = url + ("/token" if creds is None else "/api-services/v1/auth/token")
        args = ["-s", str(POST_LUA)] + ([] if creds is None else ["-H", f"Authorization: Basic {creds[0]}"])
    subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d2s"] + args + [target], capture_output=True)
    c0 = cpu(proc.pid)
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{SECS}s"] + args + [target], capture_output=True, text=True).stdout
    c1 = cpu(proc.pid)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, (c1 - c0) / (rps * SECS) * 1e6, int(non2xx.group(1)) if non2xx else 0
open(str(POST_LUA), "w").write('wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
ratios = {s[0]: [] for s in servers[1:]}; cpus = {s[0]: [] for s in servers}
try:
    for r in range(ROUNDS):
        res = {}
        for s in servers:
            res[s[0]] = run(*s); time.sleep(0.5)
        line = " ".join(f"{k}={v[0]:.0f}/s {v[1]:.2f}us err={v[2]}" for k, v in res.items())
        print(f"round {r+1}: {line}", flush=True)
        for k in ratios: ratios[k].append(res[k][0] / res["baseline"][0])
        for k in cpus: cpus[k].append(res[k][1])
    for k, v in ratios.items():
        print(f"{k}: ratio median {statistics.median(v):.3f} ({', '.join(f'{x:.3f}' for x in v)}); cpu/req median {statistics.median(cpus[k]):.2f} us")
    print(f"baseline cpu/req median {statistics.median(cpus['baseline']):.2f} us")
finally:
    for p in procs: p.terminate()
    shutil.rmtree(WORK, ignore_errors=True)
