"""Interoperability: drive a real Gatehouse server with requests-oauthlib.

The session-wide server comes from conftest.py. Every test talks to it only through
OAuth2Session, the way an application using the library would.
"""

import os

import pytest
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from requests_oauthlib import OAuth2Session

# The server under test listens on plain HTTP on loopback; without this the
# library refuses to send credentials or tokens anywhere but https.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

BOOTSTRAP_SCOPES = {"api_clients", "users", "audit", "introspection", "ProgrammableWireless", "SuperSIM"}
HTTP_TIMEOUT_S = 10


# --- helpers: everything below goes through the OAuth library ---------------------


class TokenExchange:
    """Records the token endpoint's raw request and response for one session."""

    def __init__(self, session):
        self.response = None
        session.register_compliance_hook("access_token_response", self._record)

    def _record(self, response):
        self.response = response
        return response

    @property
    def request(self):
        return self.response.request


def oauth_session(client_id, scope=None):
    # The scope goes on the oauthlib client: that is what fetch_token sends for the
    # client_credentials grant (a scope given only to OAuth2Session is not sent).
    return OAuth2Session(client=BackendApplicationClient(client_id=client_id, scope=scope))


def fetch(server, client_id, client_secret, scope=None, in_body=False):
    """A session holding a freshly fetched token, and the exchange that got it."""
    session = oauth_session(client_id, scope)
    exchange = TokenExchange(session)
    session.fetch_token(
        token_url=server["token_url"], client_id=client_id, client_secret=client_secret,
        include_client_id=in_body, timeout=HTTP_TIMEOUT_S,
    )
    return session, exchange


def ping(server, session):
    return session.get(server["base_url"] + "/v1/ping", timeout=HTTP_TIMEOUT_S)


@pytest.fixture(scope="session")
def admin(server):
    session, _ = fetch(server, server["client_id"], server["client_secret"])
    return session


@pytest.fixture
def standard_client(server, admin):
    """A new client holding only the SuperSIM scope, created through the admin session."""
    resp = admin.post(
        server["base_url"] + "/v1/clients",
        json={"name": "interop standard client", "locked": None, "scopes": {"products": ["SuperSIM"]}},
        timeout=HTTP_TIMEOUT_S,
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    yield created
    admin.delete(f"{server['base_url']}/v1/clients/{created['client_id']}", timeout=HTTP_TIMEOUT_S)


def set_enabled(server, admin, client_id, enabled):
    resp = admin.patch(f"{server['base_url']}/v1/clients/{client_id}", json={"enabled": enabled},
                       timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text


# --- tests ------------------------------------------------------------------------------


def test_bootstrap_client_gets_a_bearer_token_with_basic_auth(server):
    session, exchange = fetch(server, server["client_id"], server["client_secret"])

    assert exchange.request.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in (exchange.request.body or "")
    assert exchange.response.headers["Cache-Control"] == "no-store"
    token = session.token
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert set(token["scope"]) == BOOTSTRAP_SCOPES


def test_token_from_the_library_is_accepted_by_the_api(server, admin):
    resp = ping(server, admin)

    assert resp.status_code == 200
    assert resp.json() == {"message": "pong"}


def test_admin_session_creates_a_client_with_a_supersim_scope(standard_client):
    # standard_client is created by a POST /v1/clients through the admin session.
    assert standard_client["client_id"]
    assert standard_client["client_secret"]


def test_new_client_gets_a_down_scoped_token_with_credentials_in_the_body(server, standard_client):
    session, exchange = fetch(server, standard_client["client_id"], standard_client["client_secret"],
                              scope=["SuperSIM"], in_body=True)

    assert "Authorization" not in exchange.request.headers
    assert "client_secret=" in exchange.request.body
    assert "scope=SuperSIM" in exchange.request.body
    assert session.token["token_type"] == "Bearer"
    assert session.token["scope"] == ["SuperSIM"]


def test_standard_client_can_ping_but_cannot_manage_clients(server, standard_client):
    session, _ = fetch(server, standard_client["client_id"], standard_client["client_secret"],
                       scope=["SuperSIM"], in_body=True)

    listing = session.get(server["base_url"] + "/v1/clients",
                          params={"page_size": 10, "page_number": 1}, timeout=HTTP_TIMEOUT_S)
    assert listing.status_code == 403, listing.text
    assert ping(server, session).status_code == 200


def test_disabling_a_client_refuses_it_and_enabling_restores_it(server, admin, standard_client):
    client_id, secret = standard_client["client_id"], standard_client["client_secret"]
    session, _ = fetch(server, client_id, secret, in_body=True)

    set_enabled(server, admin, client_id, False)
    with pytest.raises(InvalidClientError):
        fetch(server, client_id, secret, in_body=True)
    assert ping(server, session).status_code == 401

    set_enabled(server, admin, client_id, True)
    assert ping(server, session).status_code == 200
    fetch(server, client_id, secret, in_body=True)


def test_renewing_the_key_retires_the_old_secret_and_its_tokens(server, admin, standard_client):
    client_id, old_secret = standard_client["client_id"], standard_client["client_secret"]
    old_session, _ = fetch(server, client_id, old_secret)

    resp = admin.post(f"{server['base_url']}/v1/clients/{client_id}/renew-key", timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    renewed = resp.json()
    assert renewed["client_id"] == client_id
    new_secret = renewed["client_secret"]
    assert new_secret != old_secret

    with pytest.raises(InvalidClientError):
        fetch(server, client_id, old_secret)
    assert ping(server, old_session).status_code == 401
    new_session, _ = fetch(server, client_id, new_secret)
    assert ping(server, new_session).status_code == 200


def test_deleting_a_client_refuses_its_credentials(server, admin, standard_client):
    client_id, secret = standard_client["client_id"], standard_client["client_secret"]
    session, _ = fetch(server, client_id, secret)

    resp = admin.delete(f"{server['base_url']}/v1/clients/{client_id}", timeout=HTTP_TIMEOUT_S)
    assert resp.status_code == 204, resp.text

    with pytest.raises(InvalidClientError):
        fetch(server, client_id, secret)
    assert ping(server, session).status_code == 401
    gone = admin.get(f"{server['base_url']}/v1/clients/{client_id}", timeout=HTTP_TIMEOUT_S)
    assert gone.status_code == 404, gone.text


def test_wrong_secret_is_refused_as_invalid_client(server):
    session = oauth_session(server["client_id"])
    exchange = TokenExchange(session)

    with pytest.raises(InvalidClientError):
        session.fetch_token(token_url=server["token_url"], client_id=server["client_id"],
                            client_secret=server["client_secret"] + "x", timeout=HTTP_TIMEOUT_S)
    assert exchange.response.status_code == 401
    assert exchange.response.headers["WWW-Authenticate"] == 'Basic realm="gatehouse"'


def test_asking_for_a_scope_the_client_lacks_is_refused_as_invalid_scope(server, standard_client):
    with pytest.raises(InvalidScopeError):
        fetch(server, standard_client["client_id"], standard_client["client_secret"],
              scope=["ProgrammableWireless"])
