"""The Gatehouse server every interop test module talks to.

The server is the built binary (env GATEHOUSE_BIN, default target/debug/gatehouse),
initialised in a temporary directory and served on a free loopback port for the
whole session. The fixture hands out only what a client application would be given:
the base URL (which is also the token issuer) and the bootstrap client's credentials.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN_PATH = "/api-services/v1/auth/token"
STARTUP_TIMEOUT_S = 30
SHUTDOWN_TIMEOUT_S = 10


def _gatehouse_bin():
    path = Path(os.environ.get("GATEHOUSE_BIN", "target/debug/gatehouse"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file():
        pytest.fail(f"gatehouse binary not found at {path}; run `cargo build` first")
    return str(path)


def _clean_env():
    # Settings from the caller's environment must not leak into the server.
    return {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """The server every module shares."""
    with running_server() as server:
        yield server


@contextlib.contextmanager
def running_server():
    """A fresh server on its own database, stopped (and checked to exit 0) afterwards."""
    binary = _gatehouse_bin()
    env = _clean_env()
    with tempfile.TemporaryDirectory(prefix="gatehouse-interop-") as tmp:
        database = f"sqlite://{tmp}/g.db"
        init = subprocess.run(
            [binary, "init", "--owner-email", "owner@example.com", "--database", database, "--json"],
            capture_output=True, text=True, env=env, timeout=60,
        )
        if init.returncode != 0:
            pytest.fail(f"gatehouse init exited {init.returncode}\nstdout:\n{init.stdout}\nstderr:\n{init.stderr}")
        creds = json.loads(init.stdout)

        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        stderr_path = Path(tmp) / "serve.stderr"
        with open(Path(tmp) / "serve.stdout", "wb") as out, open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                [binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", database,
                 # test_private_key_jwt.py's identity provider listens on loopback
                 "--allow-private-jwks"],
                stdout=out, stderr=err, env=env,
            )
        try:
            _wait_until_healthy(proc, base_url, stderr_path)
            yield {
                "base_url": base_url,
                "token_url": base_url + TOKEN_PATH,
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
                "owner_email": creds["owner_email"],
                "owner_password": creds["owner_password"],
            }
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(f"gatehouse serve did not exit within {SHUTDOWN_TIMEOUT_S}s of SIGTERM")
            assert code == 0, f"gatehouse serve exited {code} on SIGTERM\nstderr:\n{stderr_path.read_text()}"


def _wait_until_healthy(proc, base_url, stderr_path):
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gatehouse serve exited {proc.returncode} before it was healthy\n"
                        f"stderr:\n{stderr_path.read_text()}")
        try:
            if requests.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    pytest.fail(f"gatehouse serve was not healthy within {STARTUP_TIMEOUT_S}s\nstderr:\n{stderr_path.read_text()}")


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            pytest.fail(f"{path} is missing: install Debian's chromium and chromium-driver (scripts/test does)")
    profile = tempfile.mkdtemp(prefix="gatehouse-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Root in a sandboxless VM, and a machine with no outside network: these flags keep Chromium
    # from trying to reach Google's services at start.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
