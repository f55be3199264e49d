"""Interoperability with standards libraries nobody here wrote.

* PyJWT verifies Gatehouse's access tokens (RFC 9068 JWTs, EdDSA/Ed25519 per RFC 8037)
  against the published JWKS, and refuses forged ones; Gatehouse refuses them too.
* Authlib discovers the server (RFC 8414), fetches tokens with both client authentication
  methods (RFC 6749 §2.3.1), introspects them (RFC 7662) and revokes them (RFC 7009).

The session-wide server comes from conftest.py. Tokens for the bootstrap client are
capped (ten live per credential, the oldest revoked beyond that) and test_oauth_client.py
keeps one for the whole session, so this module mints exactly one bootstrap token and
does everything else with standard clients it creates and deletes.
"""

import base64
import hashlib
import hmac
import json
from urllib.parse import quote

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives import serialization

HTTP_TIMEOUT_S = 10
METADATA_PATH = "/.well-known/oauth-authorization-server"
INTROSPECT_PATH = "/api-services/v1/auth/introspect"
REVOKE_PATH = "/api-services/v1/auth/revoke"
INACTIVE = {"active": False}


# --- helpers --------------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(value):
    return json.dumps(value, separators=(",", ":")).encode()


def basic_auth(client_id, client_secret):
    # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
    return requests.auth.HTTPBasicAuth(quote(client_id, safe=""), quote(client_secret, safe=""))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def ping_status(server, token):
    return requests.get(server["base_url"] + "/v1/ping", headers=bearer(token), timeout=HTTP_TIMEOUT_S).status_code


def introspect_as(server, caller_id, caller_secret, token):
    """Introspection with plain requests and HTTP Basic: the reference caller for forged tokens."""
    resp = requests.post(server["base_url"] + INTROSPECT_PATH, data={"token": token},
                         auth=basic_auth(caller_id, caller_secret), timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    return resp.json()


class Recorder:
    """Keeps the last raw response of one Authlib compliance hook (and so its request)."""

    def __init__(self):
        self.response = None

    def __call__(self, response):
        self.response = response
        return response


def authlib_session(client, auth_method):
    session = OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method=auth_method)
    recorder = Recorder()
    session.register_compliance_hook("access_token_response", recorder)
    return session, recorder


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def metadata(server):
    resp = requests.get(server["base_url"] + METADATA_PATH, timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.json()


@pytest.fixture(scope="session")
def bootstrap(server):
    """The bootstrap client's credentials and the one token this module mints for it."""
    resp = requests.post(server["token_url"], data={"grant_type": "client_credentials"},
                         auth=basic_auth(server["client_id"], server["client_secret"]), timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    return {"client_id": server["client_id"], "client_secret": server["client_secret"],
            "access_token": body["access_token"], "scope": body["scope"], "issuer": server["base_url"]}


@pytest.fixture(scope="session")
def jwks_client(metadata):
    return jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False, timeout=HTTP_TIMEOUT_S)


@pytest.fixture
def supersim_client(server, bootstrap):
    """A new standard client holding only the SuperSIM scope, deleted afterwards."""
    resp = requests.post(
        server["base_url"] + "/v1/clients", headers=bearer(bootstrap["access_token"]),
        json={"name": "interop standards client", "locked": None, "scopes": {"products": ["SuperSIM"]}},
        timeout=HTTP_TIMEOUT_S,
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["client_id"] and created["client_secret"]
    yield created
    requests.delete(f"{server['base_url']}/v1/clients/{created['client_id']}",
                    headers=bearer(bootstrap["access_token"]), timeout=HTTP_TIMEOUT_S)


# --- RFC 8414 discovery and the JWKS --------------------------------------------------


def test_metadata_describes_a_client_credentials_server(server, metadata):
    base = server["base_url"]
    assert isinstance(metadata["issuer"], str)
    assert metadata["issuer"].encode() == base.encode()  # byte-identical, no trailing slash
    assert metadata["token_endpoint"] == server["token_url"]
    assert metadata["jwks_uri"] == base + "/.well-known/jwks.json"
    assert metadata["introspection_endpoint"] == base + INTROSPECT_PATH
    assert metadata["revocation_endpoint"] == base + REVOKE_PATH
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert {"client_secret_basic", "client_secret_post"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert "response_types_supported" not in metadata
    assert {"api_clients", "SuperSIM"} <= set(metadata["scopes_supported"])


def test_jwks_publishes_only_public_ed25519_signing_keys(metadata):
    resp = requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    keys = resp.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
        assert key["use"] == "sig" and key["kid"]
        assert len(b64url_decode(key["x"])) == 32
        assert "d" not in key  # the private part never leaves the server
    assert len({key["kid"] for key in keys}) == len(keys)


# --- PyJWT: verifying genuine tokens ---------------------------------------------------


def test_pyjwt_verifies_a_bootstrap_token_against_the_jwks(server, metadata, bootstrap, jwks_client):
    token = bootstrap["access_token"]
    issuer = server["base_url"]

    signing_key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience=issuer, issuer=issuer)

    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "EdDSA"
    published_kids = {key["kid"] for key in requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT_S).json()["keys"]}
    assert header["kid"] in published_kids
    assert signing_key.key_id == header["kid"]

    assert claims["iss"] == issuer
    assert claims["aud"] == issuer
    assert claims["sub"] == server["client_id"] == claims["client_id"]
    assert claims["scope"] == bootstrap["scope"]
    assert set(claims["scope"].split(" ")) >= {"api_clients", "introspection", "SuperSIM"}
    assert claims["account_id"]
    assert claims["client_type"] == "admin"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]


# --- forged tokens: PyJWT and Gatehouse must both refuse them --------------------------


def _forge(kind, token, jwks_client):
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    claims = json.loads(b64url_decode(payload_b64))
    if kind == "edited_payload":
        # Stretch the lifetime by a day and keep the genuine signature.
        claims["exp"] += 86400
        return f"{header_b64}.{b64url(compact_json(claims))}.{signature_b64}"
    if kind == "alg_none":
        forged_header = {**header, "alg": "none"}
        return f"{b64url(compact_json(forged_header))}.{payload_b64}."
    # Algorithm confusion: HMAC keyed with the server's public key, as a verifier that
    # trusted the header's alg would check it.
    public_key = jwks_client.get_signing_key(header["kid"]).key
    if kind == "hs256_pem_public_key":
        secret = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    elif kind == "hs256_raw_public_key":
        secret = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raise AssertionError(kind)
    signing_input = f"{b64url(compact_json({**header, 'alg': 'HS256'}))}.{payload_b64}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


FORGERIES = {
    "edited_payload": jwt.InvalidSignatureError,
    "alg_none": jwt.InvalidAlgorithmError,
    "hs256_pem_public_key": jwt.InvalidAlgorithmError,
    "hs256_raw_public_key": jwt.InvalidAlgorithmError,
}


@pytest.fixture(params=sorted(FORGERIES))
def forgery(request, bootstrap, jwks_client):
    kind = request.param
    token = _forge(kind, bootstrap["access_token"], jwks_client)
    assert token != bootstrap["access_token"]
    if kind == "hs256_raw_public_key":
        # Sanity check of the forgery itself: a verifier that let the header pick the
        # algorithm would accept it, so refusing it below means something.
        raw = jwks_client.get_signing_key_from_jwt(token).key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        issuer = bootstrap["issuer"]
        assert jwt.decode(token, raw, algorithms=["HS256"], audience=issuer, issuer=issuer)["jti"]
    return kind, token


def test_pyjwt_refuses_a_forged_token(server, jwks_client, forgery):
    kind, token = forgery
    issuer = server["base_url"]

    # The forged header keeps the genuine kid, so the JWKS lookup finds the real key.
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    with pytest.raises(FORGERIES[kind]):
        jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience=issuer, issuer=issuer)


def test_gatehouse_accepts_the_genuine_token_the_forgeries_are_made_from(server, bootstrap):
    # The control for the test below: same token, same caller, untouched.
    assert ping_status(server, bootstrap["access_token"]) == 200
    assert introspect_as(server, bootstrap["client_id"], bootstrap["client_secret"],
                         bootstrap["access_token"])["active"] is True


def test_gatehouse_refuses_a_forged_token(server, bootstrap, forgery):
    _, token = forgery

    assert ping_status(server, token) == 401
    # The bootstrap client holds `introspection` and the forgery claims to be its own token.
    assert introspect_as(server, bootstrap["client_id"], bootstrap["client_secret"], token) == INACTIVE


# --- Authlib: fetching tokens ----------------------------------------------------------


def test_authlib_fetches_a_token_with_client_secret_basic(server, metadata, supersim_client):
    session, recorder = authlib_session(supersim_client, "client_secret_basic")

    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", timeout=HTTP_TIMEOUT_S)

    sent = recorder.response.request
    assert sent.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in (sent.body or "")
    assert recorder.response.headers["Cache-Control"] == "no-store"
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "SuperSIM"
    resp = session.get(server["base_url"] + "/v1/ping", timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"message": "pong"}


def test_authlib_fetches_a_token_with_client_secret_post(server, metadata, supersim_client):
    session, recorder = authlib_session(supersim_client, "client_secret_post")

    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", timeout=HTTP_TIMEOUT_S)

    sent = recorder.response.request
    assert "Authorization" not in sent.headers
    assert "client_secret=" in sent.body
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "SuperSIM"
    resp = session.get(server["base_url"] + "/v1/ping", timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text


# --- RFC 7662 introspection ------------------------------------------------------------


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_introspects_its_own_active_token(server, metadata, supersim_client, jwks_client, auth_method):
    session, _ = authlib_session(supersim_client, auth_method)
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials",
                                timeout=HTTP_TIMEOUT_S)["access_token"]

    resp = session.introspect_token(metadata["introspection_endpoint"], token=token, timeout=HTTP_TIMEOUT_S)

    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    issuer = server["base_url"]
    claims = jwt.decode(token, jwks_client.get_signing_key_from_jwt(token).key, algorithms=["EdDSA"],
                        audience=issuer, issuer=issuer)
    assert body["active"] is True
    assert body["scope"] == "SuperSIM"
    assert body["client_id"] == body["sub"] == supersim_client["client_id"]
    assert body["token_type"] == "Bearer"
    assert body["iss"] == body["aud"] == issuer
    for name in ("exp", "iat", "jti", "account_id", "scope", "sub", "client_id"):
        assert body[name] == claims[name], name
    assert body["exp"] - body["iat"] == 3600


def test_introspection_client_sees_tokens_of_its_account(server, metadata, bootstrap, supersim_client):
    session, _ = authlib_session(supersim_client, "client_secret_basic")
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials",
                                timeout=HTTP_TIMEOUT_S)["access_token"]

    body = introspect_as(server, bootstrap["client_id"], bootstrap["client_secret"], token)

    assert body["active"] is True
    assert body["client_id"] == supersim_client["client_id"]


def test_client_without_introspection_scope_sees_only_its_own_tokens(server, metadata, bootstrap, supersim_client):
    session, _ = authlib_session(supersim_client, "client_secret_basic")

    resp = session.introspect_token(metadata["introspection_endpoint"], token=bootstrap["access_token"],
                                    timeout=HTTP_TIMEOUT_S)

    assert resp.status_code == 200, resp.text
    assert resp.json() == INACTIVE


def test_introspection_refuses_an_unauthenticated_caller(server, metadata, bootstrap):
    resp = requests.post(metadata["introspection_endpoint"], data={"token": bootstrap["access_token"]},
                         timeout=HTTP_TIMEOUT_S)

    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"
    assert "active" not in resp.json()


def test_introspection_refuses_a_caller_with_a_wrong_secret(server, metadata, bootstrap):
    resp = requests.post(metadata["introspection_endpoint"], data={"token": bootstrap["access_token"]},
                         auth=basic_auth(bootstrap["client_id"], bootstrap["client_secret"] + "x"),
                         timeout=HTTP_TIMEOUT_S)

    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="gatehouse"'


# --- RFC 7009 revocation ----------------------------------------------------------------


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_revokes_its_own_token(server, metadata, supersim_client, auth_method):
    session, _ = authlib_session(supersim_client, auth_method)
    fetch = lambda: session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials",  # noqa: E731
                                        timeout=HTTP_TIMEOUT_S)["access_token"]
    kept, revoked = fetch(), fetch()
    assert ping_status(server, revoked) == 200

    resp = session.revoke_token(metadata["revocation_endpoint"], token=revoked, timeout=HTTP_TIMEOUT_S)

    assert resp.status_code == 200, resp.text
    assert ping_status(server, revoked) == 401
    introspected = session.introspect_token(metadata["introspection_endpoint"], token=revoked,
                                            timeout=HTTP_TIMEOUT_S)
    assert introspected.status_code == 200, introspected.text
    assert introspected.json() == INACTIVE
    # Only that token is gone.
    assert ping_status(server, kept) == 200
    assert session.introspect_token(metadata["introspection_endpoint"], token=kept,
                                    timeout=HTTP_TIMEOUT_S).json()["active"] is True


def test_revoking_an_unknown_token_is_still_200(metadata, supersim_client):
    session, _ = authlib_session(supersim_client, "client_secret_basic")

    resp = session.revoke_token(metadata["revocation_endpoint"], token="not-a-token", timeout=HTTP_TIMEOUT_S)

    assert resp.status_code == 200, resp.text
