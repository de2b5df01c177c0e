//! The RPC listener: one task per connection, requests answered in order.

use super::{read_frame, write_frame, Request, Response};
use smol::net::{TcpListener, TcpStream};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type Handler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, handler: Handler) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let handler = handler.clone();
                smol::spawn(async move {
                    if let Err(e) = serve_connection(stream, handler).await {
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

async fn serve_connection(mut stream: TcpStream, handler: Handler) -> Result<(), super::FrameError> {
    stream.set_nodelay(true)?;
    while let Some(frame) = read_frame(&mut stream).await? {
        let response = match serde_json::from_slice::<Request>(&frame) {
            Ok(request) => handler(request).await,
            Err(e) => Response::Error { message: format!("malformed RPC request: {e}") },
        };
        let payload = serde_json::to_vec(&response).expect("responses serialize to JSON");
        write_frame(&mut stream, &payload).await?;
    }
    Ok(())
}
