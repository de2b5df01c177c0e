//! The RPC caller: sends a request to the first server that answers, failing over to the
//! next one when a server cannot be reached.

use super::{read_frame, write_frame, FrameError, Request, Response, PREFACE_RPC};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("no server reachable (tried {tried}): {last}")]
    Unreachable { tried: String, last: String },
    #[error("server error: {0}")]
    Remote(String),
    #[error("unexpected response to {0}")]
    UnexpectedResponse(&'static str),
}

/// Calls servers by address; remembers the last one that answered.
#[derive(Clone)]
pub struct RpcClient {
    servers: Arc<Vec<String>>,
    preferred: Arc<AtomicUsize>,
}

impl RpcClient {
    pub fn new(servers: Vec<String>) -> RpcClient {
        RpcClient { servers: Arc::new(servers), preferred: Arc::new(AtomicUsize::new(0)) }
    }

    /// Sends `request`, waiting at most `timeout` for each server's answer.
    pub async fn call(&self, request: &Request, timeout: Duration) -> Result<Response, RpcError> {
        let payload = serde_json::to_vec(request).expect("requests serialize to JSON");
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = String::from("no servers configured");
        for offset in 0..self.servers.len() {
            let i = (start + offset) % self.servers.len();
            let addr = &self.servers[i];
            let attempt = async { Some(exchange(addr, &payload).await) };
            let expired = async {
                smol::Timer::after(timeout).await;
                None
            };
            match smol::future::or(attempt, expired).await {
                Some(Ok(Response::Error { message, retryable: true })) => last = format!("{addr}: {message}"),
                Some(Ok(Response::Error { message, retryable: false })) => return Err(RpcError::Remote(message)),
                Some(Ok(response)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(response);
                }
                Some(Err(e)) => last = format!("{addr}: {e}"),
                None => last = format!("{addr}: no answer within {timeout:?}"),
            }
        }
        Err(RpcError::Unreachable { tried: self.servers.join(", "), last })
    }
}

async fn exchange(addr: &str, payload: &[u8]) -> Result<Response, FrameError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&[PREFACE_RPC]).await?;
    write_frame(&mut stream, payload).await?;
    let frame = read_frame(&mut stream)
        .await?
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "server closed the connection"))?;
    serde_json::from_slice(&frame).map_err(|e| FrameError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}
