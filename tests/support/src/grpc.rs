//! gRPC helpers: channels, health polling, and a raw HTTP/2 call whose request body can
//! be held back (to have a call in flight at a chosen moment).

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use prost::Message;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
    health_client::HealthClient,
};

/// A channel to a local gRPC server.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid URI")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_or_else(|err| panic!("cannot connect to gRPC server at {addr}: {err}"))
}

/// The health status of `service` ("" for the whole server).
pub async fn health_status(addr: SocketAddr, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(channel(addr).await);
    let response = client
        .check(HealthCheckRequest { service: service.to_owned() })
        .await
        .unwrap_or_else(|status| panic!("health check of {service:?} failed: {status}"));
    response.into_inner().status()
}

/// Polls health until `service` reports `wanted`, for at most `within`.
pub async fn wait_for_health(addr: SocketAddr, service: &str, wanted: ServingStatus, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = health_status(addr, service).await;
        if status == wanted {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health of {service:?} at {addr} stayed {status:?}, expected {wanted:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unary health check whose request body is only partly sent: the call is in flight
/// on the server until [`HeldCall::finish`] sends the rest.
pub struct HeldCall {
    send: h2::SendStream<Bytes>,
    response: h2::client::ResponseFuture,
    rest: Bytes,
}

impl HeldCall {
    /// Opens an HTTP/2 connection to `addr` and starts `grpc.health.v1.Health/Check` for
    /// `service`, sending all but the last bytes of the request.
    pub async fn start(addr: SocketAddr, service: &str) -> Self {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (client, mut connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        let mut ping_pong = connection.ping_pong().expect("ping handle");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut client = client.ready().await.expect("h2 ready");
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("request");
        let (response, mut send) = client.send_request(request, false).expect("send request");
        let message = HealthCheckRequest { service: service.to_owned() }.encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
        frame.extend_from_slice(&message);
        let mut frame = Bytes::from(frame);
        let rest = frame.split_off(3);
        send.send_data(frame, false).expect("send first bytes");
        // The server answers a PING only after reading the frames before it, so once the
        // PONG is back the call is known to the server: it is truly in flight.
        ping_pong.ping(h2::Ping::opaque()).await.expect("ping");
        Self { send, response, rest }
    }

    /// Sends the rest of the request and returns the gRPC status code and the decoded
    /// response.
    pub async fn finish(mut self) -> (i32, Option<ServingStatus>) {
        self.send.send_data(self.rest, true).expect("send rest");
        let response = tokio::time::timeout(Duration::from_secs(10), self.response)
            .await
            .expect("response within 10 s")
            .expect("response");
        assert_eq!(response.status(), 200, "HTTP status of the gRPC call");
        let mut body = response.into_body();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("body chunk");
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.expect("trailers").unwrap_or_default();
        let code = trailers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("grpc-status trailer");
        let status = (data.len() > 5)
            .then(|| HealthCheckResponse::decode(&data[5..]).expect("health response").status());
        (code, status)
    }
}
