//! The RPC listener: one task per connection. Request/response connections are answered in
//! order; Raft connections are handed whole to the Raft transport.

use super::{read_frame, write_frame, Request, Response, PREFACE_RAFT, PREFACE_RPC};
use smol::io::AsyncReadExt;
use smol::net::{TcpListener, TcpStream};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type Handler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// Takes over a connection that opened with the Raft preface.
pub type StreamHandler = Arc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Accepts connections until the task is dropped; Raft connections are refused when
/// `raft` is `None` (an agent that is not a server).
pub async fn serve(listener: TcpListener, handler: Handler, raft: Option<StreamHandler>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (handler, raft) = (handler.clone(), raft.clone());
                smol::spawn(async move {
                    if let Err(e) = serve_connection(stream, handler, raft).await {
                        log::debug!(target: "rpc", "connection from {peer} ended: {e}");
                    }
                })
                .detach();
            }
            Err(e) => {
                log::warn!(target: "rpc", "accept failed: {e}");
                smol::Timer::after(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    handler: Handler,
    raft: Option<StreamHandler>,
) -> Result<(), super::FrameError> {
    stream.set_nodelay(true)?;
    let mut preface = [0u8; 1];
    if stream.read_exact(&mut preface).await.is_err() {
        return Ok(());
    }
    match (preface[0], raft) {
        (PREFACE_RPC, _) => {}
        (PREFACE_RAFT, Some(raft)) => {
            raft(stream).await;
            return Ok(());
        }
        (PREFACE_RAFT, None) => {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "raft connection to a non-server").into())
        }
        (other, _) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unknown connection preface {other:#04x}"),
            )
            .into())
        }
    }
    while let Some(frame) = read_frame(&mut stream).await? {
        let response = match serde_json::from_slice::<Request>(&frame) {
            Ok(request) => handler(request).await,
            Err(e) => Response::refusal(format!("malformed RPC request: {e}")),
        };
        let payload = serde_json::to_vec(&response).expect("responses serialize to JSON");
        write_frame(&mut stream, &payload).await?;
    }
    Ok(())
}
