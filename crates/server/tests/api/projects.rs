//! Projects (seed file 002): "Only members with access to this project are able to see the
//! client." Developers see and manage the clients of their projects and those outside any
//! project; owners and admins see every client and choose the members.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{TestApp, assert_api_error, whole_answer};

async fn create_project(app: &TestApp, token: &str, name: &str) -> String {
    let response = app.post_json("/v1/projects", token, &json!({"name": name, "description": "a team"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let project_id = body["project"]["project_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/projects/{project_id}"));
    project_id
}

async fn add_member(app: &TestApp, token: &str, project_id: &str, user_id: &str) -> Value {
    let response = app.http.put(app.url(&format!("/v1/projects/{project_id}/members/{user_id}"))).bearer_auth(token);
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn put_member(app: &TestApp, token: &str, project_id: &str, user_id: &str) -> StatusCode {
    let url = app.url(&format!("/v1/projects/{project_id}/members/{user_id}"));
    app.http.put(url).bearer_auth(token).send().await.unwrap().status()
}

/// The names of the clients `token` lists.
async fn listed_names(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let response = app.get(&format!("/v1/clients?page_size=100&page_number=1{query}"), token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let mut names: Vec<String> =
        body["clients"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    assert_eq!(body["meta"]["count"].as_u64().unwrap() as usize, names.len(), "the count matches the page");
    names
}

#[tokio::test]
async fn projects_are_created_read_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let project_id = create_project(&app, &owner, "  Billing  ").await;
    let path = format!("/v1/projects/{project_id}");

    let got: Value = app.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(got["project"]["name"], "Billing", "the name is trimmed");
    assert_eq!(got["project"]["description"], "a team");
    assert_eq!(got["project"]["account_id"], app.account_id.as_str());
    assert_eq!(got["project"]["members"], json!([]));

    // Names are unique in the account.
    let taken = app.post_json("/v1/projects", &owner, &json!({"name": "Billing"})).await;
    assert_api_error(taken, StatusCode::CONFLICT).await;
    let blank = app.post_json("/v1/projects", &owner, &json!({"name": "   "})).await;
    assert_api_error(blank, StatusCode::BAD_REQUEST).await;
    let unknown = app.post_json("/v1/projects", &owner, &json!({"name": "x", "colour": "red"})).await;
    assert_api_error(unknown, StatusCode::BAD_REQUEST).await;

    let renamed = app.patch_json(&path, &owner, &json!({"name": "Payments"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["project"]["name"], "Payments");
    assert_eq!(renamed["project"]["description"], "a team", "a field left out is kept");
    create_project(&app, &owner, "Billing").await;
    let listed: Value = app.get("/v1/projects", &owner).await.json().await.unwrap();
    let names: Vec<&str> = listed["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Billing", "Payments"], "by name");

    assert_eq!(app.delete(&path, &owner).await.status(), StatusCode::NO_CONTENT);
    assert_api_error(app.get(&path, &owner).await, StatusCode::NOT_FOUND).await;
    assert_api_error(app.delete(&path, &owner).await, StatusCode::NOT_FOUND).await;
    let huge = format!("/v1/projects/{}", "p".repeat(5000));
    assert_api_error(app.get(&huge, &owner).await, StatusCode::NOT_FOUND).await;

    // Every change is on the audit log.
    let events: Value = app.get("/v1/audit-events?page_size=50&page_number=1", &owner).await.json().await.unwrap();
    let actions: Vec<&str> =
        events["audit_events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["project.create", "project.update", "project.delete"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn a_developer_sees_only_the_clients_of_their_projects() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (developer_id, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let (_, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let billing = create_project(&app, &owner, "Billing").await;
    let search = create_project(&app, &owner, "Search").await;
    let (in_billing, created) = app.create_client(&owner, json!({"name": "billing app", "project_id": billing})).await;
    assert!(created.get("client_secret").is_some());
    app.create_client(&owner, json!({"name": "search app", "project_id": search})).await;
    app.create_client(&owner, json!({"name": "shared app"})).await;

    let client_path = format!("/v1/clients/{}", in_billing.client_id);
    let got: Value = app.get(&client_path, &owner).await.json().await.unwrap();
    assert_eq!(got["client"]["project_id"], billing.as_str());

    // Owners and admins see every client.
    let everything = ["Bootstrap admin client", "billing app", "search app", "shared app"];
    assert_eq!(listed_names(&app, &owner, "").await, everything);
    assert_eq!(listed_names(&app, &admin, "").await, everything);
    assert_eq!(listed_names(&app, &owner, &format!("&project_id={billing}")).await, ["billing app"]);

    // A developer outside both projects sees only the shared client, and nothing of the others
    // by id: not the client, its secrets, profiles or logo, nor the project.
    assert_eq!(listed_names(&app, &developer, "").await, ["Bootstrap admin client", "shared app"]);
    assert_eq!(listed_names(&app, &developer, &format!("&project_id={billing}")).await, Vec::<String>::new());
    let hidden = whole_answer(app.get(&client_path, &developer).await).await;
    let never_issued = whole_answer(app.get("/v1/clients/AAAAAAAAAAAAAAAAAAAAAA", &developer).await).await;
    assert_eq!(hidden, never_issued, "a client of another project reads exactly as one never issued");
    for path in [
        client_path.clone(),
        format!("{client_path}/secrets"),
        format!("{client_path}/access-profiles"),
        format!("/v1/projects/{billing}"),
    ] {
        assert_api_error(app.get(&path, &developer).await, StatusCode::NOT_FOUND).await;
    }
    let edit = app.patch_json(&client_path, &developer, &json!({"description": "mine now"})).await;
    assert_api_error(edit, StatusCode::NOT_FOUND).await;
    assert_api_error(app.delete(&client_path, &developer).await, StatusCode::NOT_FOUND).await;
    let renew = app.post_json(&format!("{client_path}/renew-key"), &developer, &json!({})).await;
    assert_api_error(renew, StatusCode::NOT_FOUND).await;
    let listed: Value = app.get("/v1/projects", &developer).await.json().await.unwrap();
    assert_eq!(listed["projects"], json!([]), "a developer lists only their projects");

    // As a member of Billing, they see and manage its client too.
    let project = add_member(&app, &owner, &billing, &developer_id).await;
    assert_eq!(project["project"]["members"], json!([{"user_id": developer_id, "email": "dev@example.com"}]));
    assert_eq!(listed_names(&app, &developer, "").await, ["Bootstrap admin client", "billing app", "shared app"]);
    assert_eq!(app.get(&client_path, &developer).await.status(), StatusCode::OK);
    let edit = app.patch_json(&client_path, &developer, &json!({"description": "ours"})).await;
    assert_eq!(edit.status(), StatusCode::OK);
    let listed: Value = app.get("/v1/projects", &developer).await.json().await.unwrap();
    assert_eq!(listed["projects"].as_array().unwrap().len(), 1);
    assert_eq!(listed["projects"][0]["name"], "Billing");
    // Adding them again changes nothing.
    let again = add_member(&app, &owner, &billing, &developer_id).await;
    assert_eq!(again["project"]["members"].as_array().unwrap().len(), 1);

    // Removed, they lose sight of it again at once.
    let remove = app.delete(&format!("/v1/projects/{billing}/members/{developer_id}"), &owner).await;
    assert_eq!(remove.status(), StatusCode::NO_CONTENT);
    assert_api_error(app.get(&client_path, &developer).await, StatusCode::NOT_FOUND).await;
    let again = app.delete(&format!("/v1/projects/{billing}/members/{developer_id}"), &owner).await;
    assert_api_error(again, StatusCode::NOT_FOUND).await;
    assert_eq!(listed_names(&app, &developer, "").await, ["Bootstrap admin client", "shared app"]);

    // The client itself kept working throughout: projects govern who manages it, not its use.
    app.token(&in_billing).await;
}

#[tokio::test]
async fn a_developer_puts_clients_only_in_their_own_projects() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (developer_id, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let billing = create_project(&app, &owner, "Billing").await;
    let search = create_project(&app, &owner, "Search").await;
    let body = json!({"name": "x", "locked": null, "scopes": {"products": []}, "project_id": billing});

    // Not a member: the project is as good as unknown, and nothing is created.
    let before = app.client_count(&owner).await;
    let refused =
        assert_api_error(app.post_json("/v1/clients", &developer, &body).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(refused["info"], "project_id", "{refused}");
    assert_eq!(app.client_count(&owner).await, before);
    let unknown = json!({"name": "x", "locked": null, "scopes": {"products": []}, "project_id": "prj_nothing"});
    assert_api_error(app.post_json("/v1/clients", &owner, &unknown).await, StatusCode::BAD_REQUEST).await;

    add_member(&app, &owner, &billing, &developer_id).await;
    let (client, _) = app.create_client(&developer, json!({"project_id": billing})).await;
    let path = format!("/v1/clients/{}", client.client_id);

    // Moving it out of its project changes who sees it: to another project (even one they are
    // in, whose other members would see it) or to none (every developer would), owners and
    // admins only.
    add_member(&app, &owner, &search, &developer_id).await;
    let moved = app.patch_json(&path, &developer, &json!({"project_id": search})).await;
    assert_api_error(moved, StatusCode::FORBIDDEN).await;
    let out = app.patch_json(&path, &developer, &json!({"project_id": null})).await;
    assert_api_error(out, StatusCode::FORBIDDEN).await;
    let same = app.patch_json(&path, &developer, &json!({"project_id": billing, "description": "kept"})).await;
    assert_eq!(same.status(), StatusCode::OK, "naming its own project again moves nothing");
    let got: Value = app.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(got["client"]["project_id"], billing.as_str(), "a refused change changes nothing");
    let moved = app.patch_json(&path, &owner, &json!({"project_id": search})).await;
    assert_eq!(moved.status(), StatusCode::OK);

    // A client goes only where its owner still sees it: not into a project its developer owner
    // is not in, even when an owner moves it.
    let elsewhere = create_project(&app, &owner, "Elsewhere").await;
    let stranded = app.patch_json(&path, &owner, &json!({"project_id": elsewhere})).await;
    let stranded = assert_api_error(stranded, StatusCode::BAD_REQUEST).await;
    assert_eq!(stranded["info"], "project_id", "{stranded}");
    assert_eq!(app.get(&path, &developer).await.status(), StatusCode::OK, "still theirs to see");
    // A developer puts a client that is in no project into one of theirs.
    let (loose, _) = app.create_client(&developer, json!({})).await;
    let loose_path = format!("/v1/clients/{}", loose.client_id);
    let placed = app.patch_json(&loose_path, &developer, &json!({"project_id": billing})).await;
    assert_eq!(placed.status(), StatusCode::OK);
    let out = app.patch_json(&path, &owner, &json!({"project_id": null})).await;
    assert_eq!(out.status(), StatusCode::OK);
    let out: Value = out.json().await.unwrap();
    assert_eq!(out["client"]["project_id"], Value::Null);
}

#[tokio::test]
async fn a_project_with_clients_is_not_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let billing = create_project(&app, &owner, "Billing").await;
    let (client, _) = app.create_client(&owner, json!({"project_id": billing})).await;
    let project_path = format!("/v1/projects/{billing}");
    assert_api_error(app.delete(&project_path, &owner).await, StatusCode::CONFLICT).await;
    assert_eq!(app.get(&project_path, &owner).await.status(), StatusCode::OK);

    let client_path = format!("/v1/clients/{}", client.client_id);
    assert_eq!(app.patch_json(&client_path, &owner, &json!({"project_id": null})).await.status(), StatusCode::OK);
    assert_eq!(app.delete(&project_path, &owner).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&client_path, &owner).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn who_may_manage_projects_and_their_members() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let (developer_id, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let bootstrap = app.admin_token().await;
    let clients_only = json!({"name": "clients only", "locked": null, "client_type": "admin",
                              "scopes": {"global_resources": ["api_clients"]}});
    let created: Value = app.post_json("/v1/clients", &owner, &clients_only).await.json().await.unwrap();
    let clients_only = crate::test_app::Credentials {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let clients_only = app.token(&clients_only).await;
    let (standard, _) = app.create_client(&bootstrap, json!({})).await;
    let standard = app.token(&standard).await;

    // (actor, may create/rename/delete, may choose members)
    let actors: [(&str, &str, bool, bool); 6] = [
        ("owner", &owner, true, true),
        ("admin", &admin, true, true),
        ("developer", &developer, false, false),
        ("API client with every global resource", &bootstrap, true, true),
        ("API client with api_clients only", &clients_only, true, false),
        ("API client without api_clients", &standard, false, false),
    ];
    for (index, (name, token, shapes, chooses)) in actors.into_iter().enumerate() {
        let created = app.post_json("/v1/projects", token, &json!({"name": format!("p{index}")})).await;
        let expected = if shapes { StatusCode::CREATED } else { StatusCode::FORBIDDEN };
        assert_eq!(created.status(), expected, "{name} creates");

        let target = create_project(&app, &owner, &format!("target {index}")).await;
        let path = format!("/v1/projects/{target}");
        let expected = if shapes { StatusCode::OK } else { StatusCode::FORBIDDEN };
        let renamed = app.patch_json(&path, token, &json!({"description": "renamed"})).await.status();
        assert_eq!(renamed, expected, "{name} renames");
        if name == "developer" {
            // A developer reads a project only as its member, and even then does not shape it.
            assert_eq!(app.get(&path, token).await.status(), StatusCode::NOT_FOUND, "a stranger reads it");
            add_member(&app, &owner, &target, &developer_id).await;
            assert_eq!(app.get(&path, token).await.status(), StatusCode::OK, "a member reads it");
            let renamed = app.patch_json(&path, token, &json!({"description": "renamed"})).await.status();
            assert_eq!(renamed, StatusCode::FORBIDDEN, "{name} renames as a member");
        }

        let expected = if chooses { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(put_member(&app, token, &target, &developer_id).await, expected, "{name} adds a member");
        if name != "developer" {
            add_member(&app, &owner, &target, &developer_id).await;
        }
        let removed = app.delete(&format!("{path}/members/{developer_id}"), token).await.status();
        let expected = if chooses { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN };
        assert_eq!(removed, expected, "{name} removes a member");

        let expected = if shapes { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN };
        assert_eq!(app.delete(&path, token).await.status(), expected, "{name} deletes");
    }
}

#[tokio::test]
async fn members_are_users_of_the_projects_account_and_leave_with_them() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (developer_id, _) = app.create_user(&owner, "dev@example.com", "developer").await;
    let billing = create_project(&app, &owner, "Billing").await;

    // A user of a child account, or no user at all, cannot join a project of the parent.
    let child = app.create_child_account(&owner, "Subsidiary").await;
    let made = app
        .post_json("/v1/users", &owner, &json!({"email": "sub@example.com", "role": "developer", "account_id": child}))
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let child_user = made["user"]["user_id"].as_str().unwrap();
    assert_eq!(put_member(&app, &owner, &billing, child_user).await, StatusCode::NOT_FOUND);
    assert_eq!(put_member(&app, &owner, &billing, "usr_nobody").await, StatusCode::NOT_FOUND);
    assert_eq!(put_member(&app, &owner, "prj_nothing", &developer_id).await, StatusCode::NOT_FOUND);

    // A client of the child account cannot go into the parent's project, nor the reverse.
    let child_project = app.post_json("/v1/projects", &owner, &json!({"name": "Sub", "account_id": child})).await;
    assert_eq!(child_project.status(), StatusCode::CREATED);
    let child_project: Value = child_project.json().await.unwrap();
    let child_project = child_project["project"]["project_id"].as_str().unwrap();
    let crossed =
        json!({"account_id": child, "name": "x", "locked": null, "scopes": {"products": []}, "project_id": billing});
    assert_api_error(app.post_json("/v1/clients", &owner, &crossed).await, StatusCode::BAD_REQUEST).await;
    let crossed = json!({"name": "x", "locked": null, "scopes": {"products": []}, "project_id": child_project});
    assert_api_error(app.post_json("/v1/clients", &owner, &crossed).await, StatusCode::BAD_REQUEST).await;
    let listed: Value = app.get(&format!("/v1/projects?account_id={child}"), &owner).await.json().await.unwrap();
    assert_eq!(listed["projects"][0]["name"], "Sub");

    // A removed user leaves every project.
    add_member(&app, &owner, &billing, &developer_id).await;
    assert_eq!(app.delete(&format!("/v1/users/{developer_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    let got: Value = app.get(&format!("/v1/projects/{billing}"), &owner).await.json().await.unwrap();
    assert_eq!(got["project"]["members"], json!([]));
}

/// A developer who is no member of a client's project would own a client they cannot see.
#[tokio::test]
async fn a_client_in_a_project_is_handed_only_to_a_member() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (developer_id, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    app.create_user(&owner, "admin@example.com", "admin").await;
    let billing = create_project(&app, &owner, "Billing").await;
    let (client, _) = app.create_client(&owner, json!({"project_id": billing})).await;
    let transfer = format!("/v1/clients/{}/transfer-ownership", client.client_id);

    let refused = app.post_json(&transfer, &owner, &json!({"client_owner": "dev@example.com"})).await;
    let refused = assert_api_error(refused, StatusCode::BAD_REQUEST).await;
    assert_eq!(refused["info"], "client_owner", "{refused}");
    // Owners and admins see every client, members or not.
    let to_admin = app.post_json(&transfer, &owner, &json!({"client_owner": "admin@example.com"})).await;
    assert_eq!(to_admin.status(), StatusCode::OK);

    add_member(&app, &owner, &billing, &developer_id).await;
    let handed = app.post_json(&transfer, &owner, &json!({"client_owner": "dev@example.com"})).await;
    assert_eq!(handed.status(), StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/clients/{}", client.client_id), &developer).await.status(), StatusCode::OK);
}

/// Another account's projects are invisible, exactly like ones that do not exist.
#[tokio::test]
async fn another_accounts_projects_are_not_found() {
    use gatehouse_domain::error::DomainError;
    use gatehouse_domain::ids::{ProjectId, UserId};
    use gatehouse_domain::project::{ProjectName, ProjectPatch};

    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let billing = create_project(&app, &owner, "Billing").await;
    let stranger = app.add_account("other@example.com").await;
    let (gatehouse, now) = (&app.gatehouse, time::OffsetDateTime::now_utc());
    let project_id = ProjectId::from_string(billing.clone());
    let not_found = |result: Result<_, DomainError>| matches!(result, Err(DomainError::NotFound("project")));
    assert!(not_found(gatehouse.get_project(&stranger, &project_id, now).await.map(|_| ())));
    let patch = ProjectPatch { name: Some(ProjectName::parse("mine").unwrap()), description: None };
    assert!(not_found(gatehouse.update_project(&stranger, &project_id, patch, now).await.map(|_| ())));
    assert!(not_found(gatehouse.delete_project(&stranger, &project_id, now).await));
    let their_user = UserId::from_string(stranger.id());
    assert!(not_found(gatehouse.add_project_member(&stranger, &project_id, &their_user, now).await.map(|_| ())));
    assert!(gatehouse.list_projects(&stranger, None, now).await.unwrap().is_empty());
    let got: Value = app.get(&format!("/v1/projects/{billing}"), &owner).await.json().await.unwrap();
    assert_eq!(got["project"]["name"], "Billing", "unchanged");
    assert_eq!(got["project"]["members"], json!([]));
}

/// Nothing about projects is cached: a member added or removed through one instance gains or
/// loses sight of the project's client on another at once (on PostgreSQL; one instance on
/// SQLite).
#[tokio::test]
async fn membership_holds_on_every_instance_at_once() {
    let on_postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    let app = TestApp::spawn().await;
    let other = if on_postgres { Some(app.spawn_beside(|_| {}).await) } else { None };
    let elsewhere = other.as_ref().unwrap_or(&app);
    let owner = app.owner_session().await;
    let (developer_id, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let billing = create_project(&app, &owner, "Billing").await;
    let (client, _) = app.create_client(&owner, json!({"project_id": billing})).await;
    let path = format!("/v1/clients/{}", client.client_id);

    assert_api_error(elsewhere.get(&path, &developer).await, StatusCode::NOT_FOUND).await;
    add_member(&app, &owner, &billing, &developer_id).await;
    assert_eq!(elsewhere.get(&path, &developer).await.status(), StatusCode::OK, "added: sees it at once");
    let removed = app.delete(&format!("/v1/projects/{billing}/members/{developer_id}"), &owner).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_api_error(elsewhere.get(&path, &developer).await, StatusCode::NOT_FOUND).await;
    let edit = elsewhere.patch_json(&path, &developer, &json!({"description": "late"})).await;
    assert_api_error(edit, StatusCode::NOT_FOUND).await;
}
