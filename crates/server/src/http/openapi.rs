//! `GET /openapi.json`: OpenAPI 3.1 for every route of DESIGN.md's HTTP contract, generated
//! from the handlers' annotations and the wire types themselves, so the document cannot drift
//! from what serde sends. The portal's HTML pages are left out: they are for browsers.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_domain::account::Email;
use gatehouse_domain::account::MAX_ACCOUNT_NAME_CHARS;
use gatehouse_domain::client::{AllowedIps, ClientName, Description, GlobalResource, RateLimit, TokenExpiry};
use gatehouse_domain::products::{MAX_PATH_PREFIX_CHARS, MAX_PATH_PREFIXES};
use gatehouse_domain::project::ProjectName;
use gatehouse_domain::quota::Quota;
use gatehouse_domain::rotation::GracePeriod;
use gatehouse_edge::paging;
use serde_json::{Value, json};
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, OpenApiBuilder, Server};

use super::{AppState, api, gateway, oauth, ops};

/// The whole document, with `public_url` as its one server.
pub fn document(public_url: &str) -> OpenApi {
    let mut document = OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Gatehouse")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "API clients, their credentials and OAuth 2.0 client-credentials tokens; the management API of \
                     seed file 001 (error body {\"status\",\"code\",\"message\",\"info\"}), RFC 6749/7662/7009/8414 \
                     endpoints (error body {\"error\",\"error_description\"}) and the gateway check.",
                ))
                .build(),
        )
        .servers(Some(vec![Server::new(public_url)]))
        .build();
    for part in [api::openapi(), oauth::OAuthApi::openapi(), gateway::GatewayApi::openapi(), ops::OpsApi::openapi()] {
        document.merge(part);
    }
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An access token from /api-services/v1/auth/token, or a session token from /v1/auth/login",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "client_secret_basic",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "RFC 6749 §2.3.1: the form-urlencoded client id and secret; or client_id and client_secret \
                     in the form body, never both",
                ))
                .build(),
        ),
    );
    document
}

pub fn routes(public_url: &str) -> Router<AppState> {
    // Rendered once: the document is fixed for the life of the process.
    let body = rendered(public_url);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = body.clone();
            async move { json_response(body) }
        }),
    )
}

/// The document as served: the handlers' annotations, completed by [`complete`].
pub fn rendered(public_url: &str) -> String {
    let rendered = serde_json::to_value(document(public_url)).map(|mut document| {
        complete(&mut document);
        document
    });
    match rendered.and_then(|document| serde_json::to_string(&document)) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "the OpenAPI document could not be rendered");
            String::from("{}")
        }
    }
}

fn json_response(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Adds what every operation of a kind can answer, so that no handler's annotation can leave a
/// status out: the layers in front of the handlers (authentication, body limits, content type,
/// timeouts, the store being down) answer the same way on every route. Responses a handler
/// documents itself are kept. Also adds the links a stateful tester follows from each create
/// operation to the operations that use the new id.
fn complete(document: &mut Value) {
    for pointer in constrain(document) {
        tracing::error!(pointer, "the OpenAPI document has no such schema to constrain");
    }
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            let Some(operation) = operation.as_object_mut() else { continue };
            images_as_bytes(operation);
            let kind = Kind::of(path);
            let secured = operation.get("security").is_some_and(|security| security != &json!([]));
            let has_body = operation.contains_key("requestBody");
            let names_an_account = operation
                .get("requestBody")
                .and_then(|body| body.pointer("/content/application~1json/schema/$ref"))
                .and_then(Value::as_str)
                .is_some_and(|schema| BODIES_NAMING_AN_ACCOUNT.iter().any(|name| schema.ends_with(name)));
            let has_query = operation
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|parameters| parameters.iter().any(|p| p["in"] == "query"));
            let responses = operation.entry("responses").or_insert_with(|| json!({}));
            let Some(responses) = responses.as_object_mut() else { continue };
            let mut add = |status: &str, response: Value| {
                responses.entry(status.to_owned()).or_insert(response);
            };
            match kind {
                Kind::Management => {
                    if secured {
                        add("401", reference("Unauthenticated"));
                        add("403", reference("Forbidden"));
                    }
                    if has_body || has_query {
                        add("400", reference("BadRequest"));
                    }
                    if has_body {
                        add("408", reference("RequestTimeout"));
                        add("413", reference("PayloadTooLarge"));
                        add("415", reference("UnsupportedMediaType"));
                    }
                    if path.contains('{') || names_an_account {
                        add("404", reference("NotFound"));
                    }
                    add("503", reference("Unavailable"));
                }
                Kind::OAuth => {
                    add("400", reference("OAuthBadRequest"));
                    add("401", reference("OAuthUnauthenticated"));
                    add("408", reference("OAuthRequestTimeout"));
                    add("413", reference("OAuthPayloadTooLarge"));
                    add("429", reference("OAuthTooManyRequests"));
                    add("503", reference("OAuthUnavailable"));
                }
                Kind::Check | Kind::Public => {}
            }
            if let Some(links) = links(method, path) {
                let created = if method == "post" { "201" } else { "200" };
                if let Some(response) = responses.get_mut(created).and_then(Value::as_object_mut) {
                    response.insert("links".to_owned(), links);
                }
            }
        }
    }
    let components = document.as_object_mut().map(|document| document.entry("components").or_insert_with(|| json!({})));
    if let Some(components) = components.and_then(Value::as_object_mut) {
        let responses = components.entry("responses").or_insert_with(|| json!({}));
        if let Some(responses) = responses.as_object_mut() {
            responses.extend(shared_responses());
        }
    }
}

/// Request bodies with an optional `account_id`: an account the caller cannot see is a 404.
const BODIES_NAMING_AN_ACCOUNT: [&str; 5] =
    ["/CreateClientBody", "/CreateUserBody", "/CreateProductBody", "/CreateProjectBody", "/CreatePolicyBody"];

/// Which layers stand in front of an operation.
enum Kind {
    /// `/v1`, and the leaked-credential reports: seed file 001's error body.
    Management,
    /// The RFC 6749/7662/7009 endpoints: `{"error", "error_description"}`.
    OAuth,
    /// The gateway check documents its own answers, which gateways act on.
    Check,
    /// Documents and probes that read nothing a caller sends.
    Public,
}

impl Kind {
    fn of(path: &str) -> Self {
        if path.starts_with("/v1/auth/check") || (path.starts_with("/v1/auth/products/") && path.ends_with("/check")) {
            Kind::Check
        } else if path.starts_with("/v1/") || path == "/api-services/v1/auth/leaked" {
            Kind::Management
        } else if path.starts_with("/api-services/") {
            Kind::OAuth
        } else {
            Kind::Public
        }
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn shared_responses() -> serde_json::Map<String, Value> {
    let error = |description: &str, schema: &str, headers: Value| {
        json!({
            "description": description,
            "headers": headers,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
        })
    };
    let retry_after = json!({"Retry-After": {
        "description": "whole seconds to wait, rounded up: waiting this long always suffices",
        "schema": {"type": "integer", "minimum": 1},
    }});
    let bearer_challenge = json!({"WWW-Authenticate": {
        "description": "Bearer realm=\"gatehouse\", with error=\"invalid_token\" when a token was sent",
        "schema": {"type": "string"},
    }});
    let basic_challenge = json!({"WWW-Authenticate": {
        "description": "Basic realm=\"gatehouse\", when the client authenticated with Basic or not at all",
        "schema": {"type": "string"},
    }});
    let none = json!({});
    [
        ("BadRequest", error("a malformed parameter or body, named in `info`", "ErrorBody", none.clone())),
        ("Unauthenticated", error("no valid bearer token or session", "ErrorBody", bearer_challenge)),
        ("Forbidden", error("the caller may not do this", "ErrorBody", none.clone())),
        ("NotFound", error("no such object, or not one the caller may see", "ErrorBody", none.clone())),
        ("RequestTimeout", error("the body did not arrive in time", "ErrorBody", none.clone())),
        ("PayloadTooLarge", error("the body is over 1 MiB", "ErrorBody", none.clone())),
        ("UnsupportedMediaType", error("the body is not `application/json`", "ErrorBody", none.clone())),
        ("Unavailable", error("the store is unreachable or busy: retry", "ErrorBody", retry_after.clone())),
        ("OAuthBadRequest", error("invalid_request (RFC 6749 §5.2)", "OAuthErrorBody", none.clone())),
        ("OAuthUnauthenticated", error("invalid_client", "OAuthErrorBody", basic_challenge)),
        ("OAuthRequestTimeout", error("the body did not arrive in time", "OAuthErrorBody", none.clone())),
        ("OAuthPayloadTooLarge", error("the body is over 64 KiB", "OAuthErrorBody", none.clone())),
        ("OAuthTooManyRequests", error("too many failed attempts", "OAuthErrorBody", retry_after.clone())),
        ("OAuthUnavailable", error("the store is unreachable: retry", "OAuthErrorBody", retry_after)),
    ]
    .into_iter()
    .map(|(name, response)| (name.to_owned(), response))
    .collect()
}

/// OpenAPI links from an operation that creates (or names) an object to the operations that
/// take its id, so that a stateful tester (or a reader) can walk create → get → update →
/// renew → delete.
fn links(method: &str, path: &str) -> Option<Value> {
    let to = |operations: &[&str], parameters: Value| -> Value {
        operations
            .iter()
            .map(|operation| {
                let name = operation.split('_').map(capitalised).collect::<String>();
                (name, json!({"operationId": operation, "parameters": parameters}))
            })
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    let client = json!({"client_id": "$response.body#/client_id"});
    let client_of_profile = json!({
        "client_id": "$response.body#/access_profile/client_id",
        "profile_id": "$response.body#/access_profile/profile_id",
    });
    match (method, path) {
        ("post", "/v1/clients") => Some(to(
            &[
                "get_client",
                "update_client",
                "delete_client",
                "renew_key",
                "rotate_secret",
                "list_secrets",
                "set_logo",
                "get_logo",
                "delete_logo",
                "transfer_ownership",
                "list_profiles",
                "create_profile",
            ],
            client,
        )),
        ("post", "/v1/clients/{client_id}/rotate-secret") => Some(to(
            &["delete_secret"],
            json!({"client_id": "$response.body#/client_id", "secret_id": "$response.body#/secret_id"}),
        )),
        ("post", "/v1/policies") => Some(to(
            &["get_policy", "update_policy", "delete_policy"],
            json!({"policy_id": "$response.body#/policy/policy_id"}),
        )),
        ("post", "/v1/projects") => Some(to(
            &["get_project", "update_project", "delete_project", "add_member", "remove_member"],
            json!({"project_id": "$response.body#/project/project_id"}),
        )),
        ("post", "/v1/clients/{client_id}/access-profiles") => Some(to(
            &["get_profile", "update_profile", "delete_profile", "refresh_profile", "profile_usage"],
            client_of_profile,
        )),
        ("post", "/v1/users") => {
            Some(to(&["get_user", "update_user", "delete_user"], json!({"user_id": "$response.body#/user/user_id"})))
        }
        ("post", "/v1/products") => Some(to(
            &["get_product", "update_product", "delete_product"],
            json!({"name": "$response.body#/product/name"}),
        )),
        _ => None,
    }
}

/// An image travels as its own bytes. utoipa describes `Vec<u8>` as an array of numbers, which
/// would have a client send JSON; this says what the server takes and gives. The size limit
/// counts bytes, which a string's `maxLength` (in characters) cannot say: the operation says
/// it, and a larger body is a 413.
fn images_as_bytes(operation: &mut serde_json::Map<String, Value>) {
    let binary = json!({"type": "string", "format": "binary"});
    let set = |content: Option<&mut Value>| {
        for (media_type, media) in content.and_then(Value::as_object_mut).into_iter().flatten() {
            if media_type.starts_with("image/") {
                media["schema"] = binary.clone();
            }
        }
    };
    set(operation.get_mut("requestBody").and_then(|body| body.get_mut("content")));
    if let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) {
        for response in responses.values_mut() {
            set(response.get_mut("content"));
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Control characters (`char::is_control`: Unicode's Cc), which no text field takes.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// What Rust's `trim` removes (Unicode's White_Space), spelled out: `\s` means something
/// slightly different in ECMA, Python and Rust regexes.
const SPACE: &str = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// The bidi marks and overrides names refuse: they can make a name read as another.
const BIDI: &str = r"\u200e\u200f\u202a-\u202e\u2066-\u2069";

/// The rules the server's parsers enforce on what a caller sends, stated on the request schemas
/// and parameters, so that a request the document allows is one the server accepts and the
/// other way round (schemathesis checks both ways). The limits come from the parsers' own
/// constants where they have them. Returns the places a rule names that the document lacks.
fn constrain(document: &mut Value) -> Vec<String> {
    // Text is trimmed before it is measured, so a pattern carries the limit: the trimmed text
    // starts and ends with a character that is not a space, and holds at most so many.
    let trimmed = |most: usize, refused: &str, blank_too: bool| -> String {
        let inner = most.saturating_sub(2);
        let text = format!(r"[^{SPACE}{refused}](?:[^{refused}]{{0,{inner}}}[^{SPACE}{refused}])?");
        if blank_too { format!(r"^[{SPACE}]*(?:{text})?[{SPACE}]*$") } else { format!(r"^[{SPACE}]*{text}[{SPACE}]*$") }
    };
    let text = format!("{CONTROL}{BIDI}");
    let name = json!({
        "pattern": trimmed(ClientName::MAX_CHARS, &text, false),
        "description": "1 to 200 characters once trimmed; no control characters or bidi marks",
    });
    let short_name = json!({
        "pattern": trimmed(ProjectName::MAX_CHARS, &text, false),
        "description": "1 to 100 characters once trimmed; no control characters or bidi marks; unique in the account",
    });
    let description = json!({
        "pattern": trimmed(Description::MAX_CHARS, &text, true),
        "description": "at most 1000 characters once trimmed; no control characters or bidi marks",
    });
    let email = json!({
        "maxLength": Email::MAX_CHARS,
        "pattern": format!(r"^[{SPACE}]*[^{SPACE}@{CONTROL}]+@[^{SPACE}@{CONTROL}]+[{SPACE}]*$"),
        "description": "an email address, compared in lower case",
    });
    let expiry = json!({"minimum": TokenExpiry::MIN, "maximum": TokenExpiry::MAX});
    let allowed_ips = json!({"maxItems": AllowedIps::MAX_ENTRIES, "items": ip_or_block()});
    let reserved = GlobalResource::ALL.map(GlobalResource::as_str).join("|");
    let product_name = json!({
        "pattern": format!(r"^(?!(?:{reserved})$)[A-Za-z][A-Za-z0-9_.-]{{0,63}}$"),
        "description": "a letter, then letters, digits, `_`, `.` or `-`; not a global resource's name",
    });
    // Printable ASCII but for the delimiters; a segment never ends in `.` (which also rules
    // out dot segments), and only the last may be empty.
    let segment = r##"[!"$&'()*+,\-.0-9:<=>@A-Z\[\]^_`a-z{|}~]*[!"$&'()*+,\-0-9:<=>@A-Z\[\]^_`a-z{|}~]"##;
    let prefixes = json!({
        "maxItems": MAX_PATH_PREFIXES,
        "items": {
            "type": "string",
            "maxLength": MAX_PATH_PREFIX_CHARS,
            "pattern": format!("^/(?:{segment}(?:/{segment})*/?)?$"),
        },
    });
    // Product descriptions may hold line breaks.
    let product_description = json!({"pattern": trimmed(Description::MAX_CHARS, r"\x00-\x09\x0b-\x1f\x7f-\x9f", true)});
    let account_name = json!({"pattern": trimmed(MAX_ACCOUNT_NAME_CHARS, CONTROL, false)});
    // An account has one owner: ownership is transferred, never given.
    let role = json!({"enum": ["admin", "developer"]});
    let mut product_names = json!({"items": product_name.clone()});
    product_names["items"]["type"] = json!("string");
    let limit = json!({"minimum": 1, "maximum": RateLimit::MAX});
    let grace = json!({"minimum": 0, "maximum": GracePeriod::MAX});
    let rules: &[(&str, &str, &Value)] = &[
        ("ScopesBody", "products", &product_names),
        ("CreateProfileBody", "products", &product_names),
        ("UpdateProfileBody", "products", &product_names),
        ("CreateClientBody", "name", &name),
        ("CreateClientBody", "description", &description),
        ("CreateClientBody", "token_expiry_seconds", &expiry),
        ("CreateClientBody", "allowed_ips", &allowed_ips),
        ("UpdateClientBody", "name", &name),
        ("UpdateClientBody", "description", &description),
        ("UpdateClientBody", "token_expiry_seconds", &expiry),
        ("UpdateClientBody", "allowed_ips", &allowed_ips),
        ("TransferBody", "client_owner", &email),
        ("RateLimit", "requests_per_second", &limit),
        ("RateLimit", "burst", &limit),
        ("CreateProfileBody", "name", &name),
        ("CreateProfileBody", "allowed_ips", &allowed_ips),
        ("UpdateProfileBody", "name", &name),
        ("UpdateProfileBody", "allowed_ips", &allowed_ips),
        ("CreateProductBody", "name", &product_name),
        ("CreateProductBody", "description", &product_description),
        ("CreateProductBody", "path_prefixes", &prefixes),
        ("UpdateProductBody", "description", &product_description),
        ("UpdateProductBody", "path_prefixes", &prefixes),
        ("CreateUserBody", "email", &email),
        ("CreateUserBody", "role", &role),
        ("UpdateUserBody", "role", &role),
        ("CreateAccountBody", "name", &account_name),
        ("TransferAccountBody", "email", &email),
        ("LoginBody", "email", &email),
        ("CreateProfileBody", "auth_method", &json!({"enum": ["client_secret", "api_key", "jwt", "oidc"]})),
        ("RotateBody", "grace_period_seconds", &grace),
        ("CreateProjectBody", "name", &short_name),
        ("CreateProjectBody", "description", &description),
        ("UpdateProjectBody", "name", &short_name),
        ("UpdateProjectBody", "description", &description),
        ("CreatePolicyBody", "name", &short_name),
        ("CreatePolicyBody", "description", &description),
        ("CreatePolicyBody", "allowed_ips", &allowed_ips),
        ("UpdatePolicyBody", "name", &short_name),
        ("UpdatePolicyBody", "description", &description),
        ("UpdatePolicyBody", "allowed_ips", &allowed_ips),
        ("Quota", "requests", &json!({"minimum": 1, "maximum": Quota::MAX_REQUESTS})),
    ];
    // Unknown fields in a rate limit are refused like everywhere else in a body.
    let rate_limit = json!({"additionalProperties": false});
    let grant_type = json!({"enum": ["client_credentials"]});
    let token = json!({"minLength": 1});
    let more = [
        ("/components/schemas/RateLimit", &rate_limit),
        ("/components/schemas/Quota", &rate_limit),
        ("/components/schemas/TokenRequest/properties/grant_type", &grant_type),
        ("/components/schemas/TokenForm/properties/token", &token),
    ];
    let pointers = rules
        .iter()
        .map(|(schema, property, rule)| (format!("/components/schemas/{schema}/properties/{property}"), *rule))
        .chain(more.into_iter().map(|(pointer, rule)| (pointer.to_owned(), rule)));
    let mut missing = Vec::new();
    for (pointer, rule) in pointers {
        match (document.pointer_mut(&pointer).and_then(Value::as_object_mut), rule.as_object()) {
            (Some(target), Some(rule)) => target.extend(rule.clone()),
            _ => missing.push(pointer),
        }
    }

    // Paging is required and never clamped; filters are short, plain text.
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        missing.push("/paths".to_owned());
        return missing;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
        for parameter in parameters.iter_mut().filter(|parameter| parameter["in"] == "query") {
            let schema = match parameter["name"].as_str() {
                Some("page_size") => json!({"type": "integer", "minimum": 1, "maximum": paging::MAX_PAGE_SIZE}),
                Some("page_number") => json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
                // A query has no null: `true` or `false`, or left out.
                Some("enabled" | "revoke_tokens") => json!({"type": "boolean"}),
                _ if parameter["schema"]["$ref"].is_string() => continue,
                _ => json!({
                    "type": "string",
                    "maxLength": paging::MAX_VALUE_LEN,
                    "pattern": format!("^[^{CONTROL}]*$"),
                }),
            };
            parameter["schema"] = schema;
        }
    }
    missing
}

/// What `allowed_ips` takes: an IPv4 or IPv6 address, or a CIDR block of either.
fn ip_or_block() -> Value {
    let octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    let v4 = format!(r"{octet}(?:\.{octet}){{3}}");
    let h = "[0-9A-Fa-f]{1,4}";
    let v6 = format!(
        "(?:(?:{h}:){{7}}{h}|(?:{h}:){{1,7}}:|(?:{h}:){{1,6}}:{h}|(?:{h}:){{1,5}}(?::{h}){{1,2}}|\
         (?:{h}:){{1,4}}(?::{h}){{1,3}}|(?:{h}:){{1,3}}(?::{h}){{1,4}}|(?:{h}:){{1,2}}(?::{h}){{1,5}}|\
         {h}:(?::{h}){{1,6}}|:(?:(?::{h}){{1,7}}|:)|(?:{h}:){{6}}{v4}|::(?:{h}:){{0,5}}{v4}|\
         {h}::(?:{h}:){{0,4}}{v4}|(?:{h}:){{2}}:(?:{h}:){{0,3}}{v4}|(?:{h}:){{3}}:(?:{h}:){{0,2}}{v4}|\
         (?:{h}:){{4}}:(?:{h}:)?{v4}|(?:{h}:){{5}}:{v4})"
    );
    json!({
        "type": "string",
        "pattern": format!(
            r"^[{SPACE}]*(?:{v4}(?:/(?:3[0-2]|[12]?[0-9]))?|{v6}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)[{SPACE}]*$"
        ),
        "description": "an IPv4 or IPv6 address, or a CIDR block",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_finds_what_it_constrains() {
        let mut document = serde_json::to_value(document("http://gatehouse.test")).unwrap();
        assert_eq!(constrain(&mut document), Vec::<String>::new());
    }

    #[test]
    fn every_link_names_an_operation_with_the_parameters_it_fills() {
        let document: Value = serde_json::from_str(&rendered("http://gatehouse.test")).unwrap();
        let mut operations = std::collections::HashMap::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for operation in item.as_object().unwrap().values() {
                operations.insert(operation["operationId"].as_str().unwrap().to_owned(), path.clone());
            }
        }
        let mut links = 0;
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for response in operation["responses"].as_object().unwrap().values() {
                    for link in response["links"].as_object().into_iter().flat_map(|links| links.values()) {
                        let target = link["operationId"].as_str().unwrap();
                        let path = operations.get(target).unwrap_or_else(|| panic!("no operation {target}"));
                        for parameter in link["parameters"].as_object().unwrap().keys() {
                            assert!(path.contains(&format!("{{{parameter}}}")), "{target} takes no {parameter}");
                        }
                        links += 1;
                    }
                }
            }
        }
        assert!(links >= 17, "{links} links");
    }
}
