//! What Gatehouse's HTTP stack can do when the handler does nothing: `POST /token` answers a
//! fixed token response, `GET /check` a bare 200. Benchmarks report Gatehouse as a fraction of
//! this, measured in the same run.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};

const TOKEN: &str = r#"{"access_token":"eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl","token_type":"Bearer","expires_in":3600,"scope":"SuperSIM"}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18100".to_owned());
    let app = Router::new()
        .route("/token", post(|| async { ([(header::CONTENT_TYPE, "application/json")], TOKEN) }))
        .route("/check", get(|| async { StatusCode::OK }));
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await
}
