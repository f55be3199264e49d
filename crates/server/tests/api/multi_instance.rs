//! Several `gatehouse serve` processes on one PostgreSQL database, as behind a load balancer
//! (README.md, "Deploying: one instance or many"). Runs when `GATEHOUSE_TEST_POSTGRES_URL` is set
//! (scripts/test sets it).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_domain::master_key::MasterKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::processes::{BIN, free_port, get_json, wait_healthy};
use crate::test_app::fresh_postgres_database;

const ISSUER: &str = "http://gatehouse.test";

struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(database: &str, key: &str) -> Instance {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", database, "--issuer", ISSUER])
        .env("GATEHOUSE_MASTER_KEY", key)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url, || "an instance did not start".to_owned()).await;
    Instance { child, url }
}

async fn token_response(http: &reqwest::Client, instance: &Instance, id: &str, secret: &str) -> reqwest::Response {
    http.post(format!("{}/api-services/v1/auth/token", instance.url))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn token(http: &reqwest::Client, instance: &Instance, id: &str, secret: &str) -> String {
    let response = token_response(http, instance, id, secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

async fn check(http: &reqwest::Client, instance: &Instance, token: &str) -> StatusCode {
    http.get(format!("{}/v1/auth/products/SuperSIM/check", instance.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls until every instance answers `expected`, for at most a second.
async fn introspect(http: &reqwest::Client, instance: &Instance, caller: &Value, token: &str) -> Value {
    http.post(format!("{}/api-services/v1/auth/introspect", instance.url))
        .basic_auth(caller["client_id"].as_str().unwrap(), caller["client_secret"].as_str())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn within_a_second(http: &reqwest::Client, instances: &[&Instance], token: &str, expected: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(1);
    for instance in instances {
        loop {
            let status = check(http, instance, token).await;
            if status == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still answers {status}, not {expected}, after a second",
                instance.url
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn three_instances_on_one_database_agree_within_a_second() {
    let Some(database) = fresh_postgres_database().await else {
        eprintln!("skipped: GATEHOUSE_TEST_POSTGRES_URL is not set");
        return;
    };
    let key = MasterKey::generate().to_base64();
    let init = Command::new(BIN)
        .args(["init", "--owner-email", "ops@example.com", "--database", &database, "--json"])
        .env("GATEHOUSE_MASTER_KEY", &key)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let credentials: Value = serde_json::from_slice(&init.stdout).unwrap();
    let (a, b, c) = tokio::join!(start(&database, &key), start(&database, &key), start(&database, &key));
    let http = crate::http().build().unwrap();
    let admin =
        token(&http, &a, credentials["client_id"].as_str().unwrap(), credentials["client_secret"].as_str().unwrap())
            .await;

    let created: Value = http
        .post(format!("{}/v1/clients", b.url))
        .bearer_auth(&admin)
        .json(&json!({"name": "shared", "locked": null, "scopes": {"products": ["SuperSIM"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let client_token = token(&http, &c, id, secret).await;
    for instance in [&a, &b, &c] {
        assert_eq!(check(&http, instance, &client_token).await, StatusCode::OK, "warm on {}", instance.url);
    }
    assert_eq!(introspect(&http, &c, &credentials, &client_token).await["active"], true);

    // Disable through A: B and C refuse within a second, although they had the token warm.
    let patch = |instance: &Instance, enabled: bool| {
        http.patch(format!("{}/v1/clients/{id}", instance.url))
            .bearer_auth(&admin)
            .json(&json!({"enabled": enabled}))
            .send()
    };
    assert_eq!(patch(&a, false).await.unwrap().status(), StatusCode::OK);
    // The token endpoint holds the client in memory too, yet refuses at once: the token's write
    // re-checks the client, whatever the change feed has delivered so far.
    assert_eq!(token_response(&http, &b, id, secret).await.status(), StatusCode::UNAUTHORIZED);
    within_a_second(&http, &[&b, &c, &a], &client_token, StatusCode::UNAUTHORIZED).await;
    // Introspection answers from the same memory as the check, so it agrees by now.
    assert_eq!(introspect(&http, &c, &credentials, &client_token).await, json!({"active": false}));
    assert_eq!(patch(&c, true).await.unwrap().status(), StatusCode::OK);
    // And the other way: B holds the client as disabled, yet mints at once once it is enabled,
    // since a refusal is always decided on the store's state.
    token(&http, &b, id, secret).await;
    within_a_second(&http, &[&a, &b], &client_token, StatusCode::OK).await;

    // Revoke through B and renew through C: refused everywhere within a second.
    let second = token(&http, &a, id, secret).await;
    within_a_second(&http, &[&a, &b, &c], &second, StatusCode::OK).await;
    let revoke = http
        .post(format!("{}/api-services/v1/auth/revoke", b.url))
        .basic_auth(id, Some(secret))
        .form(&[("token", second.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    within_a_second(&http, &[&a, &c], &second, StatusCode::UNAUTHORIZED).await;
    let renew = http.post(format!("{}/v1/clients/{id}/renew-key", c.url)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(renew.status(), StatusCode::OK);
    let renewed: Value = renew.json().await.unwrap();
    // Once the renewal has answered, the old secret mints nothing on any instance and the new
    // one works on every instance, though both held the client in memory: a renewal retires a
    // leaked secret everywhere at once, with no grace window.
    for instance in [&a, &b] {
        assert_eq!(token_response(&http, instance, id, secret).await.status(), StatusCode::UNAUTHORIZED);
        token(&http, instance, id, renewed["client_secret"].as_str().unwrap()).await;
    }
    within_a_second(&http, &[&a, &b], &client_token, StatusCode::UNAUTHORIZED).await;

    // 200 concurrent creates spread over the instances: every one is there afterwards.
    let urls = [a.url.clone(), b.url.clone(), c.url.clone()];
    let creates: Vec<_> = (0..200)
        .map(|index| {
            let (http, url, admin) = (http.clone(), urls[index % 3].clone(), admin.clone());
            tokio::spawn(async move {
                let response = http
                    .post(format!("{url}/v1/clients"))
                    .bearer_auth(admin)
                    .json(&json!({"name": format!("bulk {index}"), "locked": null, "scopes": {}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
                response.json::<Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for create in creates {
        ids.push(create.await.unwrap());
    }
    // kill -9 of an instance loses no acknowledged write.
    drop(b);
    let list = get_json(&http, &format!("{}/v1/clients?page_size=500&page_number=1", a.url), &admin).await;
    assert_eq!(list["meta"]["count"], 202);
    let listed = serde_json::to_string(&list).unwrap();
    assert!(ids.iter().all(|id| listed.contains(id.as_str())));
}
