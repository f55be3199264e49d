#!/usr/bin/env python3
"""Quick A/B of Gatehouse builds, paired against the baseline: is a change faster?

    cargo build --release && cp target/release/gatehouse /tmp/gh-before
    ... change, rebuild ...   && cp target/release/gatehouse /tmp/gh-after
    python3 bench/ab.py check|token /tmp/gh-before /tmp/gh-after     # ROUNDS=3 SECS=5
    python3 bench/ab.py check-key|check-quota target/release/gatehouse   # an access profile's API key,
                                                                           # alone or under a quota
    python3 bench/ab.py check-jwt|check-oidc target/release/gatehouse    # a consumer's JWT (a fresh
        # one per call: verified and its jti claimed each time), or an identity provider's reusable
        # token (verified once, then from memory); both need target/interop-venv (PyJWT)

The same conditions as bench/run.py (servers pinned to CPU 0 with one runtime worker, wrk -t1
-c32 on CPU 1, a 2 s warm-up before each run), but only one endpoint, a fresh small SQLite
store per binary, and rounds that alternate baseline, first binary, second binary, ... Each
round prints req/s and server CPU per request (utime + stime of all threads, from /proc); the
summary gives each binary's median ratio to the baseline of its own round. CPU per request is
the steadier figure. Not the benchmark of record: bench/run.py is.
"""
import json, os, re, subprocess, sys, time, base64, urllib.request, shutil, statistics, tempfile
from pathlib import Path
MODES = ("check", "token", "check-key", "check-quota", "check-jwt", "check-oidc")
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
VENV_PY = ROOT / "target/interop-venv/bin/python"
SIGNER = r"""
import json, sys, time, uuid, jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
key, claims, count, out = load_pem_private_key(open(sys.argv[1], "rb").read(), None), json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lifetime, single_use = int(sys.argv[5]), sys.argv[6] == "1"
now = int(time.time())
with open(out, "w") as f:
    for _ in range(count):
        jti = {"jti": uuid.uuid4().hex} if single_use else {}
        f.write(jwt.encode({**claims, "iat": now, "exp": now + lifetime, **jti}, key, algorithm="EdDSA", headers={"kid": "k"}) + "\n")
"""
KEYGEN = r"""
import json, sys, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
key = Ed25519PrivateKey.generate()
open(sys.argv[1], "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key())); jwk["kid"] = "k"
print(json.dumps(jwk))
"""
def venv(script, *args):
    if not VENV_PY.exists():
        raise SystemExit(f"{endpoint} needs {VENV_PY} (scripts/test makes it)")
    return subprocess.run([str(VENV_PY), "-c", script, *map(str, args)], capture_output=True, text=True, check=True).stdout
def owner_session(url, creds):
    login = urllib.request.Request(url + "/v1/auth/login", headers={"Content-Type": "application/json"},
        data=json.dumps({"email": "o@example.com", "password": creds["owner_password"]}).encode())
    return json.load(urllib.request.urlopen(login))["session_token"]
PEM = WORK / "consumer.pem"
JWK = json.loads(venv(KEYGEN, PEM)) if endpoint in ("check-jwt", "check-oidc") else None
ISSUER = "https://idp.bench.example"
def serve_jwks():
    """The identity provider's JWKS, on loopback (the servers run with --allow-private-jwks)."""
    import http.server, threading
    body = json.dumps({"keys": [JWK]}).encode()
    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/keys"
JWKS_URI = serve_jwks() if endpoint == "check-oidc" else None
def federated_profile(url, creds):
    """A jwt or oidc profile of a new client: its id, and for oidc one long-lived token."""
    session = owner_session(url, creds)
    client = call(url, "/v1/clients", session, {"name": "bench", "locked": None, "scopes": {"products": ["SuperSIM"]}})
    profile = {"name": "bench", "products": ["SuperSIM"], "auth_method": endpoint[len("check-"):]}
    if endpoint == "check-jwt":
        profile["jwt"] = {"jwks": {"keys": [JWK]}}
    else:
        profile["oidc"] = {"issuer": ISSUER, "jwks_uri": JWKS_URI, "audience": "bench", "single_use": False,
                           "claims": {"sub": "bench"}}
    created = call(url, f"/v1/clients/{client['client_id']}/access-profiles", session, profile)
    return created["access_profile"]["profile_id"]
def fresh_jwts(url, profile_id, count):
    """`count` consumer JWTs, each good for one call, in a file a wrk script reads."""
    path = WORK / f"jwts-{uuid_hex()}.txt"
    claims = {"iss": profile_id, "sub": profile_id, "aud": url}
    venv(SIGNER, PEM, json.dumps(claims), count, path, 290, 1)
    return path
def uuid_hex():
    import uuid; return uuid.uuid4().hex
JWT_RATE = int(os.environ.get("JWT_RATE", "12000"))
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
    extra = ["--allow-private-jwks"] if endpoint == "check-oidc" else []
    p = start([b, "serve", "--listen", f"127.0.0.1:{port}", "--database", db] + extra); wait(f"http://127.0.0.1:{port}/healthz")
    basic = base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api-services/v1/auth/token", data=b"grant_type=client_credentials",
        headers={"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"})
    token = json.load(urllib.request.urlopen(req))["access_token"]
    if endpoint in ("check-key", "check-quota"):
        token = profile_key(f"http://127.0.0.1:{port}", c, endpoint == "check-quota")
    if endpoint in ("check-jwt", "check-oidc"):
        profile_id = federated_profile(f"http://127.0.0.1:{port}", c)
        token = profile_id
        if endpoint == "check-oidc":
            # One token presented on every call, as a Kubernetes service account does.
            token = venv(SIGNER, PEM, json.dumps({"iss": ISSUER, "sub": "bench", "aud": "bench"}), 1, "/dev/stdout", 3600, 0).strip()
    servers.append((os.path.basename(b), p, f"http://127.0.0.1:{port}", (basic, token)))
def wrk_args(url, creds, secs):
    if endpoint.startswith("check"):
        # What nginx's auth_request sends with the README's configuration: the product follows
        # from the original path. (The baseline ignores the headers.)
        target = url + ("/check" if creds is None else "/v1/auth/check")
        args = ["-H", "X-Original-URI: /supersim/v1/Sims?PageSize=50"] + ([] if creds is None else ["-H", f"Authorization: Bearer {creds[1]}"])
        if endpoint == "check-jwt" and creds is not None:
            # A fresh JWT for every request: a replay would be refused (and counted as an error).
            jwts = fresh_jwts(url, creds[1], JWT_RATE * secs)
            script = WORK / f"jwt-{uuid_hex()}.lua"
            script.write_text(f'local t = {{}}\nfor line in io.lines("{jwts}") do t[#t + 1] = line end\nlocal i = 0\n'
                'request = function()\n  i = i + 1\n  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. (t[i] or t[#t]), '
                '["X-Original-URI"] = "/supersim/v1/Sims?PageSize=50"})\nend\n')
            args = ["-s", str(script)]
    else:
        target = url + ("/token" if creds is None else "/api-services/v1/auth/token")
        args = ["-s", str(POST_LUA)] + ([] if creds is None else ["-H", f"Authorization: Basic {creds[0]}"])
    return args + [target]
def run(name, proc, url, creds):
    subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", "-d2s"] + wrk_args(url, creds, 2), capture_output=True)
    args = wrk_args(url, creds, SECS)
    c0 = cpu(proc.pid)
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{SECS}s"] + args, capture_output=True, text=True).stdout
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
