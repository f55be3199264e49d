#!/usr/bin/env python3
"""Can a caller tell a wrong secret from an unknown client id by the time the refusal takes?

    cargo build --release
    python3 bench/refusal_timing.py target/release/gatehouse      # N=3000 requests of each kind

Gatehouse promises the two refusals of the token endpoint are identical in status, body and
headers (tests prove that; docs/security.md names them) and take comparable time, so timing does
not reveal which client ids exist. This measures the time: one server (pinned to CPU 0, one
runtime worker, a fresh SQLite store), one keep-alive connection from this process on CPU 1, and
requests of each kind in a shuffled order, each from an address of its own (`X-Forwarded-For`,
the server trusting this machine) so that the failure throttle never answers instead. Kinds: a
wrong secret for a real client id, a well-formed id nobody was issued, and, for scale, the real
client's right secret (a token minted and recorded).

It prints each kind's median and interquartile range in microseconds and the difference of the
medians of the two refusals, against a resampled spread of that difference (the same requests'
timings shuffled between the two kinds, 1,000 times): a real difference sits far outside it.
Not an assertion in the tests, where timing would only make them flaky.
"""
import base64, http.client, json, os, random, shutil, statistics, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

if len(sys.argv) != 2:
    raise SystemExit(__doc__)
BIN = sys.argv[1]
N = int(os.environ.get("N", "3000"))
WORK = Path(tempfile.mkdtemp(prefix="gatehouse-timing-"))
ENV = dict(os.environ, RUST_LOG="warn", TOKIO_WORKER_THREADS="1")
PORT = 18350


def wait(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def main():
    os.sched_setaffinity(0, {1})
    db = f"sqlite://{WORK}/g.db"
    init = subprocess.run([BIN, "init", "--owner-email", "o@example.com", "--database", db, "--json"],
                          capture_output=True, text=True, env=ENV, check=True)
    creds = json.loads(init.stdout)
    server = subprocess.Popen(["taskset", "-c", "0", BIN, "serve", "--listen", f"127.0.0.1:{PORT}", "--database", db,
                               "--trusted-proxies", "127.0.0.1"], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait(f"http://127.0.0.1:{PORT}/healthz")
        real = creds["client_id"]
        kinds = {
            "wrong secret": lambda: basic(real, "gsec_" + os.urandom(18).hex()),
            "unknown id": lambda: basic(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="),
                                        "gsec_" + os.urandom(18).hex()),
            "right secret": lambda: basic(real, creds["client_secret"]),
        }
        expected = {"wrong secret": 401, "unknown id": 401, "right secret": 200}
        order = [kind for kind in kinds for _ in range(N)]
        random.shuffle(order)
        conn = http.client.HTTPConnection("127.0.0.1", PORT)
        times = {kind: [] for kind in kinds}
        body = "grant_type=client_credentials"
        # Warm-up: the first requests pay for connections, caches and the dummy hash.
        for index, kind in enumerate(list(kinds) * 50 + order):
            address = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
            headers = {"Authorization": kinds[kind](), "Content-Type": "application/x-www-form-urlencoded",
                       "X-Forwarded-For": address}
            start = time.perf_counter_ns()
            conn.request("POST", "/api-services/v1/auth/token", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter_ns() - start) / 1000
            if response.status != expected[kind]:
                raise SystemExit(f"{kind}: {response.status}, expected {expected[kind]}")
            if index >= 150:
                times[kind].append(elapsed)
        for kind, values in times.items():
            q = statistics.quantiles(values, n=4)
            print(f"{kind:>13}: median {statistics.median(values):7.1f} us, IQR {q[0]:.1f}-{q[2]:.1f} us ({len(values)})")
        a, b = times["wrong secret"], times["unknown id"]
        observed = statistics.median(a) - statistics.median(b)
        pooled = a + b
        spread = []
        for _ in range(1000):
            random.shuffle(pooled)
            spread.append(statistics.median(pooled[:len(a)]) - statistics.median(pooled[len(a):]))
        spread.sort()
        low, high = spread[5], spread[-6]
        verdict = "indistinguishable" if low <= observed <= high else "DISTINGUISHABLE"
        print(f"wrong secret - unknown id: {observed:+.1f} us; 99% of shuffled differences within "
              f"{low:+.1f}..{high:+.1f} us: {verdict}")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(WORK, ignore_errors=True)


main()
