//! Slow or idle connections ("Faults" in docs/security.md). A connection that does not finish its
//! request headers in time, or does not read its responses, is closed; one address holds at most
//! its share of connections; and hundreds of slow ones do not starve real clients.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::test_app::TestApp;

#[tokio::test]
async fn slow_sockets_are_closed_and_do_not_starve_real_clients() {
    let app = TestApp::spawn_with(|config| config.connections.header_read_timeout = Duration::from_secs(1)).await;
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..500 {
        // From another address than the real clients': one address's share is bounded.
        let mut socket = connect_from("127.0.0.2", &address).await;
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

async fn connect_from(source: &str, address: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(address.parse().unwrap()).await.unwrap()
}

/// A caller that never reads its responses stalls the server's writes, where no read deadline
/// runs; the connection is closed once a write has made no progress for the stall timeout, so
/// such callers cannot pile up and hold the server's sockets.
#[tokio::test]
async fn a_caller_that_never_reads_is_disconnected() {
    let app = TestApp::spawn_with(|config| config.connections.write_stall_timeout = Duration::from_secs(1)).await;
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let mut socket = socket.connect(address.parse().unwrap()).await.unwrap();
    // Pipelined requests, their answers never read: the server's writes fill our window and
    // stall, so it stops reading too; once it closes, our writes fail.
    let requests = b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n".repeat(1000);
    let started = std::time::Instant::now();
    let closed = loop {
        let write = tokio::time::timeout(Duration::from_secs(1), socket.write_all(&requests)).await;
        if matches!(write, Ok(Err(_))) {
            break true;
        }
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
    };
    assert!(closed, "a connection whose responses were never read was still open after 20 s");
    // Everyone else is answered meanwhile.
    let ping = crate::http().build().unwrap().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
}

/// One address holds at most its share of connections, so it cannot take them all; another is
/// still served.
#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let app = TestApp::spawn_with(|config| config.connections.max_connections_per_address = 3).await;
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", &address).await);
    }
    // The fourth from that address is closed at once, unanswered.
    let mut fourth = connect_from("127.0.0.2", &address).await;
    let _ = fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n").await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), fourth.read_to_end(&mut answer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the fourth connection was served: {answer:?}");
    let ping = crate::http().build().unwrap().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK, "another address is served");
    // A connection that ends gives its place back.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from("127.0.0.2", &address).await;
    again.write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    again.read_to_end(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}
