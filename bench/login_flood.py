#!/usr/bin/env python3
"""The gateway check and the token endpoint under a flood of logins, which bounded password
hashing must leave usable (figures in bench/README.md).

    python3 bench/login_flood.py BUILD [BUILD ...]      # e.g. an older build, then this one

Each login runs Argon2id (19 MiB, tens of milliseconds). For each build, on a fresh SQLite
store: the check (nginx's request: X-Original-URI on /v1/auth/check) and the token endpoint are
measured alone, then again while 200 connections post logins with invented emails from as many
addresses (`--trusted-proxies 127.0.0.1` and a fresh X-Forwarded-For per request, so the
per-address throttle is not what stops them). Printed per build: req/s, p50 and p99 latency of
each, the logins' answers, and the server's peak resident memory (VmHWM).

Conditions as bench/ab.py: the server pinned to CPU 0 with one runtime worker, wrk on CPU 1,
-c32 for the measured endpoint. FLOOD_SECS (default 6) and FLOOD_CONNECTIONS (default 200)
change the flood.
"""
import base64, json, os, re, shutil, subprocess, sys, tempfile, threading, time, urllib.request

if len(sys.argv) < 2:
    raise SystemExit(__doc__)
SECS = int(os.environ.get("FLOOD_SECS", "6"))
CONNECTIONS = int(os.environ.get("FLOOD_CONNECTIONS", "200"))
WORK = tempfile.mkdtemp(prefix="gatehouse-flood-")
env = dict(os.environ, RUST_LOG="warn", TOKIO_WORKER_THREADS="1")

LOGIN_LUA = os.path.join(WORK, "login.lua")
open(LOGIN_LUA, "w").write("""
counter = 0
request = function()
  counter = counter + 1
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  local body = string.format('{"email":"nobody%d-%d@example.com","password":"guess"}', math.random(1, 1000000000), counter)
  return wrk.format("POST", "/v1/auth/login", headers, body)
end
threads = {}
setup = function(thread) table.insert(threads, thread) end
statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  -- Each wrk thread counts in its own Lua state: gather them here.
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do io.write(string.format("status %d %d\\n", status, count)) end
  end
end
""")
TOKEN_LUA = os.path.join(WORK, "token.lua")
open(TOKEN_LUA, "w").write('wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\n'
                           'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')


def wait(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrk(args, seconds, connections=32):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"] + args,
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    statuses = dict((int(a), int(b)) for a, b in re.findall(r"status (\d+) (\d+)", out))
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "statuses": statuses}


def measure(binary, index):
    store = os.path.join(WORK, f"store{index}")
    os.mkdir(store)
    db = f"sqlite://{store}/g.db"
    creds = json.loads(subprocess.run([binary, "init", "--owner-email", "o@example.com", "--database", db, "--json"],
                                      capture_output=True, text=True, env=env, check=True).stdout)
    port = 18400 + index
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["taskset", "-c", "0", binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", db,
                               "--trusted-proxies", "127.0.0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait(f"{base}/healthz")
        basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
        request = urllib.request.Request(f"{base}/api-services/v1/auth/token", data=b"grant_type=client_credentials",
                                         headers={"Authorization": "Basic " + basic,
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        token = json.load(urllib.request.urlopen(request))["access_token"]
        check = ["-H", f"Authorization: Bearer {token}", "-H", "X-Original-URI: /supersim/v1/Sims", f"{base}/v1/auth/check"]
        mint = ["-s", TOKEN_LUA, "-H", f"Authorization: Basic {basic}", f"{base}/api-services/v1/auth/token"]
        results = {}
        for name, args in (("check", check), ("token", mint)):
            wrk(args, 2)  # warm-up
            results[f"{name} alone"] = wrk(args, SECS - 2)
            flood = {}
            flooding = threading.Thread(target=lambda: flood.update(
                wrk(["-s", LOGIN_LUA, f"{base}/v1/auth/login"], SECS, CONNECTIONS)))
            flooding.start()
            time.sleep(1)
            results[f"{name} under flood"] = wrk(args, SECS - 2)
            flooding.join()
            results[f"logins during {name}"] = flood
            time.sleep(1)
        results["peak RSS MiB"] = peak_rss_mib(server.pid)
        return results
    finally:
        server.terminate()
        server.wait()


try:
    for index, binary in enumerate(sys.argv[1:]):
        results = measure(binary, index)
        print(f"== {binary}")
        for name, r in results.items():
            if name.startswith("logins"):
                print(f"  {name:20} {r['rps']:8.0f}/s  answers {r['statuses']}")
            elif isinstance(r, dict):
                print(f"  {name:20} {r['rps']:8.0f}/s  p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms")
            else:
                print(f"  {name:20} {r:8.1f}")
finally:
    shutil.rmtree(WORK, ignore_errors=True)
