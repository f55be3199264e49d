"""Interoperability: access profiles that hold no secret (issue 21), driven by real JOSE and
OAuth libraries. A consumer signs with its own key through Authlib's `private_key_jwt` client
authentication and PyJWT; an identity provider (a JWKS endpoint served here, keys made with
`cryptography`) issues GitHub-Actions-like tokens that the gateway check and the token endpoint
accept for the one profile that trusts them.
"""

import http.server
import json
import threading
import time
import uuid

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey

HTTP_TIMEOUT_S = 10
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GITHUB = "https://token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def admin_token(server):
    resp = requests.post(
        server["token_url"], data={"grant_type": "client_credentials"},
        auth=(server["client_id"], server["client_secret"]), timeout=HTTP_TIMEOUT_S,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def create_profile(server, admin_token, body):
    api = server["base_url"]
    headers = {"Authorization": f"Bearer {admin_token}"}
    client = requests.post(
        f"{api}/v1/clients", headers=headers, timeout=HTTP_TIMEOUT_S,
        json={"name": "keys, no secrets", "locked": None, "scopes": {"products": ["SuperSIM"]}},
    )
    assert client.status_code == 201, client.text
    body = {"name": "profile", "products": ["SuperSIM"], **body}
    resp = requests.post(
        f"{api}/v1/clients/{client.json()['client_id']}/access-profiles", json=body, headers=headers,
        timeout=HTTP_TIMEOUT_S,
    )
    assert resp.status_code == 201, resp.text
    assert "credential" not in resp.json()
    return resp.json()["access_profile"]["profile_id"]


def check(server, bearer):
    return requests.get(
        server["base_url"] + "/v1/auth/products/SuperSIM/check",
        headers={"Authorization": f"Bearer {bearer}"}, timeout=HTTP_TIMEOUT_S,
    ).status_code


def public_jwk(private_key, kid):
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()))
    jwk["kid"] = kid
    return jwk


def test_authlib_private_key_jwt_mints_a_token_and_a_replay_is_refused(server, admin_token):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    profile_id = create_profile(server, admin_token,
                                {"auth_method": "jwt", "jwt": {"jwks": {"keys": [public_jwk(key, "c1")]}}})
    metadata = requests.get(server["base_url"] + "/.well-known/oauth-authorization-server",
                            timeout=HTTP_TIMEOUT_S).json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "ES256" in metadata["token_endpoint_auth_signing_alg_values_supported"]

    # Authlib signs for an hour by default; Gatehouse takes at most five minutes.
    now = int(time.time())
    auth = PrivateKeyJWT(server["token_url"], alg="ES256", claims={"iat": now, "exp": now + 60})
    # Authlib reads a PEM as an RSA key: an EC key goes in as a key object.
    session = OAuth2Session(profile_id, ECKey.import_key(pem), token_endpoint_auth_method=auth)
    token = session.fetch_token(server["token_url"], grant_type="client_credentials")
    assert token["scope"] == "SuperSIM"
    assert check(server, token["access_token"]) == 200

    # Authlib kept the jti it generated in the claims it was given: the same assertion again.
    again = OAuth2Session(profile_id, ECKey.import_key(pem), token_endpoint_auth_method=auth)
    with pytest.raises(Exception, match="invalid_client"):
        again.fetch_token(server["token_url"], grant_type="client_credentials")

    # PyJWT, straight to the gateway check: one call per JWT.
    claims = {"iss": profile_id, "sub": profile_id, "aud": server["base_url"], "iat": now, "exp": now + 60,
              "jti": str(uuid.uuid4())}
    signed = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "c1"})
    assert check(server, signed) == 200
    assert check(server, signed) == 401
    assert check(server, jwt.encode({**claims, "jti": str(uuid.uuid4()), "exp": now + 3600}, key,
                                    algorithm="ES256")) == 401, "longer than five minutes"
    hs = jwt.encode({**claims, "jti": str(uuid.uuid4())}, "a shared secret of thirty-two by", algorithm="HS256")
    assert check(server, hs) == 401


class _Keys(http.server.BaseHTTPRequestHandler):
    document = {"keys": []}

    def do_GET(self):  # noqa: N802 (the standard library's name)
        body = json.dumps(self.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def identity_provider():
    """A JWKS endpoint on loopback, serving one RSA key, as GitHub's does."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _Keys.document = {"keys": [public_jwk(key, "gh-1")]}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Keys)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield key, f"http://127.0.0.1:{httpd.server_address[1]}/keys"
    httpd.shutdown()


def test_a_github_actions_like_token_calls_the_api_and_mints_a_token(server, admin_token, identity_provider):
    key, jwks_uri = identity_provider
    audience = server["base_url"] + "/billing"
    profile_id = create_profile(server, admin_token, {"auth_method": "oidc", "oidc": {
        "issuer": GITHUB, "jwks_uri": jwks_uri, "audience": audience,
        "claims": {"repository": "acme/billing", "ref": "refs/heads/main"}}})

    def github_token(**changes):
        now = int(time.time())
        claims = {"iss": GITHUB, "aud": audience, "sub": "repo:acme/billing:ref:refs/heads/main",
                  "repository": "acme/billing", "ref": "refs/heads/main", "iat": now, "nbf": now,
                  "exp": now + 300, "jti": str(uuid.uuid4()), **changes}
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "gh-1"})

    token = github_token()
    assert check(server, token) == 200
    assert check(server, token) == 401, "single use by default"
    assert check(server, github_token(ref="refs/heads/feature")) == 401
    assert check(server, github_token(aud="https://elsewhere")) == 401
    assert check(server, github_token(iss="https://evil.example")) == 401
    assert check(server, github_token(exp=int(time.time()) - 60)) == 401

    resp = requests.post(server["token_url"], timeout=HTTP_TIMEOUT_S, data={
        "grant_type": "client_credentials", "client_id": profile_id,
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": github_token()})
    assert resp.status_code == 200, resp.text
    assert check(server, resp.json()["access_token"]) == 200
