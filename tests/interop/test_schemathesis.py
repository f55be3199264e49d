"""The server does what `/openapi.json` says, as schemathesis (a contract tester nobody here
wrote) judges it: every check, every phase (examples, coverage, fuzzing, and the stateful
phase that follows the document's links from create to get, update, renew and delete).

Two runs: a fixed seed, so a regression shows up the same way every time, and a random one
(printed, so a failure can be replayed with `--seed`), so that over many runs the search keeps
widening. Each run gets a server of its own: schemathesis creates, edits and deletes freely.
The settings that say which refusals the document cannot express are in schemathesis.toml.
"""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conftest import running_server

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
HTTP_TIMEOUT_S = 10
# Test cases per operation and phase: enough to find what the document gets wrong, within
# about a minute per run on the CI machine.
MAX_EXAMPLES = int(os.environ.get("GATEHOUSE_ST_MAX_EXAMPLES", "25"))
RUN_TIMEOUT_S = 600


def _credentials(server):
    """The bootstrap admin client's token for the management API, and a second client for the
    OAuth endpoints: minting tokens there with the admin client would soon evict the admin
    token under the ten-live-tokens cap."""
    response = requests.post(server["token_url"], auth=(server["client_id"], server["client_secret"]),
                             data={"grant_type": "client_credentials"}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    body = {"name": "schemathesis oauth", "locked": None,
            "scopes": {"products": ["SuperSIM"]}}
    response = requests.post(server["base_url"] + "/v1/clients", json=body,
                             headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 201, response.text
    created = response.json()
    return {
        "GATEHOUSE_ST_TOKEN": token,
        "GATEHOUSE_ST_CLIENT_ID": created["client_id"],
        "GATEHOUSE_ST_CLIENT_SECRET": created["client_secret"],
    }


@pytest.mark.parametrize("seed", [20261205, random.randrange(2**31)], ids=["fixed-seed", "random-seed"])
def test_schemathesis_finds_nothing(seed, tmp_path):
    assert SCHEMATHESIS.is_file(), f"{SCHEMATHESIS} is missing: pip install -r tests/interop/requirements.txt"
    with running_server() as server:
        env = {**os.environ, **_credentials(server)}
        command = [
            str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", server["base_url"] + "/openapi.json",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", str(seed),
            "--workers", "1",
            "--report", "junit", "--report-dir", str(tmp_path),
        ]
        # Run in the test's own directory: schemathesis leaves a cache where it runs.
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S,
                                cwd=tmp_path)
    assert result.returncode == 0, (
        f"schemathesis (seed {seed}) found failures; replay with --seed {seed}\n{result.stdout}\n{result.stderr}"
    )
