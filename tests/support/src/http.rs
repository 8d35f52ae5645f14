//! Minimal HTTP/1.1 requests over a plain socket, for talking to a bridge or an emulator
//! from process tests.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn request(addr: SocketAddr, head: String, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        )
        .await
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// A form POST with a Bearer key, as Stripe's API takes it.
pub async fn post_form(addr: SocketAddr, path: &str, form: &str, key: &str) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    );
    request(addr, head, form).await
}

/// A JSON POST with a `Stripe-Signature` header, as Stripe delivers webhooks.
pub async fn post_json(addr: SocketAddr, path: &str, body: &str, signature: &str) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nStripe-Signature: {signature}\r\n"
    );
    request(addr, head, body).await
}

/// A GET with extra headers (`name: value`), as a caller's HTTP client sends it.
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    request(addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}"), "").await
}
