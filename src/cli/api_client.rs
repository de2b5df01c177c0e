//! The command line's HTTP client for the agent's API: address from `-address`,
//! `NOMAD_ADDR` or `ROVE_ADDR`, JSON in and out, errors with the agent's message.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::de::DeserializeOwned;
use serde::Serialize;
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;
use std::time::Duration;

pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(700);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid address {0:?}: expected http://host:port")]
    BadAddress(String),
    #[error("error querying {address}: {source}")]
    Connect { address: String, source: std::io::Error },
    #[error("error talking to {address}: {message}")]
    Http { address: String, message: String },
    #[error("unexpected response code {status}: {message}")]
    Status { status: u16, message: String },
    #[error("decoding response from {path}: {source}")]
    Decode { path: String, source: serde_json::Error },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { status: 404, .. })
    }
}

pub struct ApiResponse {
    pub body: Vec<u8>,
    pub index: u64,
}

#[derive(Clone)]
pub struct ApiClient {
    address: String,
    host_port: String,
}

impl ApiClient {
    pub fn new(address: &str) -> Result<ApiClient, ApiError> {
        let trimmed = address.trim_end_matches('/');
        let host_port = trimmed
            .strip_prefix("http://")
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(|| ApiError::BadAddress(address.to_string()))?;
        let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:4646") };
        Ok(ApiClient { address: trimmed.to_string(), host_port })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub async fn request(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<ApiResponse, ApiError> {
        let exchange = self.exchange(method, path, body);
        let expired = async {
            smol::Timer::after(REQUEST_TIMEOUT).await;
            Err(ApiError::Http { address: self.address.clone(), message: "timed out".into() })
        };
        smol::future::or(exchange, expired).await
    }

    async fn exchange(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<ApiResponse, ApiError> {
        let (response, conn) = self.send(method, path, body).await?;
        let status = response.status().as_u16();
        let index = response
            .headers()
            .get("X-Nomad-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = response.into_body().collect().await.map_err(|e| self.http_err(e))?.to_bytes().to_vec();
        drop(conn);
        if !(200..300).contains(&status) {
            return Err(status_error(status, &body));
        }
        Ok(ApiResponse { body, index })
    }

    /// GETs `path` and hands each chunk of the body to `sink` as it arrives, until the
    /// agent ends the body; for responses that stream (`follow=true`).
    pub async fn stream(&self, path: &str, mut sink: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<(), ApiError> {
        let (response, conn) = self.send("GET", path, None).await?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        if !(200..300).contains(&status) {
            let body = body.collect().await.map_err(|e| self.http_err(e))?.to_bytes();
            return Err(status_error(status, &body));
        }
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.map_err(|e| self.http_err(e))?.data_ref() {
                sink(data).map_err(|e| ApiError::Http { address: self.address.clone(), message: e.to_string() })?;
            }
        }
        drop(conn);
        Ok(())
    }

    /// Sends a request; the returned task drives the connection while the body is read.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, smol::Task<Result<(), hyper::Error>>), ApiError> {
        let stream = TcpStream::connect(&self.host_port)
            .await
            .map_err(|source| ApiError::Connect { address: self.address.clone(), source })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(FuturesIo::new(stream)).await.map_err(|e| self.http_err(e))?;
        let conn = smol::spawn(conn);
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", &self.host_port)
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ApiError::Http { address: self.address.clone(), message: e.to_string() })?;
        let response = sender.send_request(request).await.map_err(|e| self.http_err(e))?;
        Ok((response, conn))
    }

    fn http_err(&self, e: hyper::Error) -> ApiError {
        ApiError::Http { address: self.address.clone(), message: e.to_string() }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, u64), ApiError> {
        let response = self.request("GET", path, None).await?;
        let value = decode(path, &response.body)?;
        Ok((value, response.index))
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ApiError> {
        let payload = serde_json::to_vec(body).expect("request bodies serialize to JSON");
        let response = self.request("PUT", path, Some(payload)).await?;
        decode(path, &response.body)
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let response = self.request("DELETE", path, None).await?;
        decode(path, &response.body)
    }
}

/// The error for a non-2xx answer: the agent's `Error` message, or the body as text.
fn status_error(status: u16, body: &[u8]) -> ApiError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("Error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    ApiError::Status { status, message }
}

fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|source| ApiError::Decode { path: path.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_validated() {
        assert_eq!(ApiClient::new("http://127.0.0.1:4646/").unwrap().host_port, "127.0.0.1:4646");
        assert_eq!(ApiClient::new("http://example").unwrap().host_port, "example:4646");
        assert!(ApiClient::new("127.0.0.1:4646").is_err());
        assert!(ApiClient::new("https://x:1").is_err());
    }
}
