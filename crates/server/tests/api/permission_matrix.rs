//! Seed file 000's permission rules as a role-by-action matrix: every actor, every action, on a
//! locked and an unlocked client.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{Credentials, OWNER_EMAIL, TestApp};

#[derive(Clone, Copy, Debug)]
enum Action {
    Edit,
    Disable,
    Renew,
    Rotate,
    /// Ends the client's previous secret, left by a rotation made by someone allowed to.
    EndSecret,
    Transfer,
    Delete,
}

const ACTIONS: [Action; 7] =
    [Action::Edit, Action::Disable, Action::Renew, Action::Rotate, Action::EndSecret, Action::Transfer, Action::Delete];

async fn perform(app: &TestApp, token: &str, client: &Credentials, action: Action) -> StatusCode {
    let path = format!("/v1/clients/{}", client.client_id);
    let response = match action {
        Action::Edit => app.patch_json(&path, token, &json!({"description": "edited"})).await,
        Action::Disable => app.patch_json(&path, token, &json!({"enabled": false})).await,
        Action::Renew => app.post_json(&format!("{path}/renew-key"), token, &json!({})).await,
        Action::Rotate => app.post_json(&format!("{path}/rotate-secret"), token, &json!({})).await,
        Action::EndSecret => {
            let owner = app.owner_session().await;
            let rotated = app.post_json(&format!("{path}/rotate-secret"), &owner, &json!({})).await;
            assert_eq!(rotated.status(), StatusCode::OK);
            let listed: Value = app.get(&format!("{path}/secrets"), &owner).await.json().await.unwrap();
            let previous = listed["secrets"][0]["secret_id"].as_str().unwrap().to_owned();
            app.delete(&format!("{path}/secrets/{previous}"), token).await
        }
        Action::Transfer => {
            app.post_json(&format!("{path}/transfer-ownership"), token, &json!({"client_owner": OWNER_EMAIL})).await
        }
        Action::Delete => app.delete(&path, token).await,
    };
    let status = response.status();
    if status == StatusCode::FORBIDDEN {
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string());
    }
    status
}

#[tokio::test]
async fn who_may_change_which_client() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let (_, client_owner) = app.create_user(&owner, "maker@example.com", "developer").await;
    let bootstrap = app.admin_token().await;
    let (standard, _) = app.create_client(&bootstrap, json!({"name": "no api_clients"})).await;
    let standard_token = app.token(&standard).await;

    // (actor, token, allowed on unlocked, allowed on locked). Targets are standard clients owned
    // by `maker@example.com`.
    let actors: [(&str, &str, bool, bool); 6] = [
        ("owner", &owner, true, true),
        ("admin", &admin, true, true),
        ("developer", &developer, true, false),
        ("client owner", &client_owner, true, true),
        ("API client with api_clients (acts as the owner)", &bootstrap, true, true),
        ("API client without api_clients", &standard_token, false, false),
    ];
    for (name, token, unlocked_ok, locked_ok) in actors {
        for locked in [false, true] {
            for action in ACTIONS {
                let (target, _) = app.create_client(&client_owner, json!({"locked": locked})).await;
                let status = perform(&app, token, &target, action).await;
                let allowed = if locked { locked_ok } else { unlocked_ok };
                let expected = match (allowed, action) {
                    (true, Action::Delete | Action::EndSecret) => StatusCode::NO_CONTENT,
                    (true, _) => StatusCode::OK,
                    (false, _) => StatusCode::FORBIDDEN,
                };
                assert_eq!(status, expected, "{name} / {action:?} / locked={locked}");
                if !allowed {
                    // Refused means unchanged: the client still mints tokens with its secret.
                    app.token(&target).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn who_may_create_which_type_of_client() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let bootstrap = app.admin_token().await;
    let (standard, _) = app.create_client(&bootstrap, json!({})).await;
    let standard_token = app.token(&standard).await;

    let admin_body =
        json!({"name": "a", "locked": null, "client_type": "admin", "scopes": {"global_resources": ["audit"]}});
    let standard_body = json!({"name": "s", "locked": null, "scopes": {"products": ["SuperSIM"]}});
    let cases: [(&str, &str, StatusCode, StatusCode); 5] = [
        ("owner", &owner, StatusCode::CREATED, StatusCode::CREATED),
        ("admin", &admin, StatusCode::CREATED, StatusCode::CREATED),
        ("developer", &developer, StatusCode::CREATED, StatusCode::FORBIDDEN),
        ("API client with api_clients", &bootstrap, StatusCode::CREATED, StatusCode::FORBIDDEN),
        ("API client without api_clients", &standard_token, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
    ];
    for (name, token, standard_expected, admin_expected) in cases {
        assert_eq!(
            app.post_json("/v1/clients", token, &standard_body).await.status(),
            standard_expected,
            "{name} standard"
        );
        assert_eq!(app.post_json("/v1/clients", token, &admin_body).await.status(), admin_expected, "{name} admin");
    }
}

/// An admin client is changed only by owners and admins, and owned only by them (rule 9).
#[tokio::test]
async fn admin_clients_are_for_owners_and_admins() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let (_, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let body =
        json!({"name": "ops", "locked": false, "client_type": "admin", "scopes": {"global_resources": ["audit"]}});
    let created: Value = app.post_json("/v1/clients", &owner, &body).await.json().await.unwrap();
    let path = format!("/v1/clients/{}", created["client_id"].as_str().unwrap());
    assert_eq!(
        app.post_json(&format!("{path}/renew-key"), &developer, &json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_json(&format!("{path}/rotate-secret"), &developer, &json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.patch_json(&path, &developer, &json!({"enabled": false})).await.status(), StatusCode::FORBIDDEN);
    let transfer = format!("{path}/transfer-ownership");
    assert_eq!(
        app.post_json(&transfer, &owner, &json!({"client_owner": "dev@example.com"})).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.post_json(&transfer, &owner, &json!({"client_owner": "admin@example.com"})).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.patch_json(&path, &admin, &json!({"enabled": false})).await.status(), StatusCode::OK);
}

/// An API client holding only `api_clients` cannot take over an admin client (and with it global
/// resources it does not hold): not by renewing its key, nor by any other change.
#[tokio::test]
async fn an_api_client_cannot_touch_admin_clients() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let body = json!({"name": "clients only", "locked": null, "client_type": "admin",
                      "scopes": {"global_resources": ["api_clients"]}});
    let created: Value = app.post_json("/v1/clients", &owner, &body).await.json().await.unwrap();
    let narrow = crate::test_app::Credentials {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let token = app.token(&narrow).await;
    assert_eq!(app.get("/v1/users", &token).await.status(), StatusCode::FORBIDDEN);
    let bootstrap = format!("/v1/clients/{}", app.admin.client_id);
    assert_eq!(
        app.post_json(&format!("{bootstrap}/renew-key"), &token, &json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.patch_json(&bootstrap, &token, &json!({"enabled": false})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&bootstrap, &token).await.status(), StatusCode::FORBIDDEN);
    // The bootstrap client still works; standard clients remain manageable by the API client.
    app.token(&app.admin).await;
    let (standard, _) = app.create_client(&token, json!({})).await;
    let path = format!("/v1/clients/{}/renew-key", standard.client_id);
    assert_eq!(app.post_json(&path, &token, &json!({})).await.status(), StatusCode::OK);
}
