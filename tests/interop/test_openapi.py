"""`/openapi.json` against third-party OpenAPI tooling.

The document must be valid OpenAPI 3.1 (openapi-spec-validator), and real requests and
responses of the running server must conform to it (openapi-core), success and error bodies
alike, so a client generated from the document works against the server.
"""

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate

HTTP_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def document(server):
    response = requests.get(server["base_url"] + "/openapi.json", timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def openapi(document):
    return OpenAPI.from_dict(document)


@pytest.fixture(scope="module")
def token(server):
    response = requests.post(server["token_url"], auth=(server["client_id"], server["client_secret"]),
                             data={"grant_type": "client_credentials"}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200
    return response.json()["access_token"]


class Conformance:
    """Sends requests and checks each request and its response against the document."""

    def __init__(self, openapi, base_url, token):
        self.openapi = openapi
        self.base_url = base_url
        self.token = token

    def call(self, method, path, expect, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token and "auth" not in kwargs:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        response = requests.request(method, self.base_url + path, headers=headers, timeout=HTTP_TIMEOUT_S,
                                    **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        # openapi-core reads the prepared request, so what is checked is what was sent.
        request = RequestsOpenAPIRequest(response.request)
        self.openapi.validate_response(request, RequestsOpenAPIResponse(response))
        return response


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_responses_of_the_management_api_conform_to_the_document(server, openapi, token):
    api = Conformance(openapi, server["base_url"], token)
    api.call("GET", "/v1/ping", 200)
    created = api.call("POST", "/v1/clients", 201, json={
        "name": "Conformance", "locked": None, "scopes": {"products": ["SuperSIM"]},
        "allowed_ips": ["10.0.0.0/8"], "rate_limit": {"requests_per_second": 5, "burst": 10},
    }).json()
    client_id = created["client_id"]
    api.call("GET", "/v1/clients?page_size=2&page_number=1", 200)
    etag = api.call("GET", f"/v1/clients/{client_id}", 200).headers["ETag"]
    api.call("PATCH", f"/v1/clients/{client_id}", 200, json={"description": "d", "rate_limit": None},
             headers={"If-Match": etag})
    api.call("PATCH", f"/v1/clients/{client_id}", 412, json={"enabled": False}, headers={"If-Match": etag})
    profile = api.call("POST", f"/v1/clients/{client_id}/access-profiles", 201,
                       json={"name": "Partner", "auth_method": "api_key", "products": ["SuperSIM"]}).json()
    profile_id = profile["access_profile"]["profile_id"]
    api.call("GET", f"/v1/clients/{client_id}/access-profiles", 200)
    api.call("POST", f"/v1/clients/{client_id}/access-profiles/{profile_id}/refresh", 200)
    api.call("POST", f"/v1/clients/{client_id}/renew-key", 200)
    api.call("GET", "/v1/products", 200)
    api.call("GET", "/v1/users", 200)
    api.call("GET", "/v1/accounts", 200)
    api.call("GET", "/v1/audit-events?page_size=5&page_number=1", 200)
    api.call("DELETE", f"/v1/clients/{client_id}", 204)

    # Errors carry the documented body too.
    api.call("GET", f"/v1/clients/{client_id}", 404)
    api.call("GET", "/v1/clients?page_size=0&page_number=1", 400)
    api.call("POST", "/v1/clients", 400, json={"name": "", "locked": None, "scopes": {}})
    unauthenticated = Conformance(openapi, server["base_url"], None)
    unauthenticated.call("GET", "/v1/ping", 401)


def test_oauth_endpoints_conform_to_the_document(server, openapi, token):
    oauth = Conformance(openapi, server["base_url"], None)
    credentials = (server["client_id"], server["client_secret"])
    oauth.call("GET", "/.well-known/oauth-authorization-server", 200)
    oauth.call("GET", "/.well-known/jwks.json", 200)
    oauth.call("POST", "/api-services/v1/auth/token", 200, auth=credentials,
               data={"grant_type": "client_credentials", "scope": "SuperSIM"})
    oauth.call("POST", "/api-services/v1/auth/token", 400, auth=credentials, data={"grant_type": "password"})
    oauth.call("POST", "/api-services/v1/auth/token", 401, auth=(server["client_id"], "wrong"),
               data={"grant_type": "client_credentials"})
    oauth.call("POST", "/api-services/v1/auth/introspect", 200, auth=credentials, data={"token": token})
    oauth.call("POST", "/api-services/v1/auth/introspect", 200, auth=credentials, data={"token": "nonsense"})
    gateway = Conformance(openapi, server["base_url"], token)
    gateway.call("GET", "/v1/auth/products/SuperSIM/check", 200)
    gateway.call("GET", "/healthz", 200)
