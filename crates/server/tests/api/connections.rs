//! SECURITY.md "Faults": slow or idle connections. A connection that does not finish its
//! request headers in time is closed, and hundreds of them do not starve real clients.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::test_app::TestApp;

#[tokio::test]
async fn slow_sockets_are_closed_and_do_not_starve_real_clients() {
    let app = TestApp::spawn_with(|config| config.header_read_timeout = Duration::from_secs(1)).await;
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..500 {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket.write_all(b"GET /v1/ping HTTP/1.1\r\nHost: gatehouse\r\n").await.unwrap();
        slow.push(socket);
    }
    let client = crate::http().timeout(Duration::from_secs(5)).build().unwrap();
    for _ in 0..5 {
        let response = client.get(app.url("/healthz")).send().await.expect("a real client is answered");
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Every slow socket is closed by the server (end of stream, or a 408 first).
    for mut socket in slow.into_iter().step_by(50) {
        let mut buffer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut buffer)).await;
        assert!(read.is_ok(), "a connection that never finished its headers was left open");
        let text = String::from_utf8_lossy(&buffer);
        assert!(buffer.is_empty() || text.starts_with("HTTP/1.1 408"), "unexpected answer: {text}");
    }
}
