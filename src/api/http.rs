//! The hyper HTTP/1.1 server on smol: reads each request (bounded in size), routes it, and
//! writes the answer.

use super::router::{route, ApiContext, ApiRequest};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use smol::net::TcpListener;
use smol::stream::StreamExt;
use smol_hyper::rt::{FuturesIo, SmolTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The largest request body accepted.
const MAX_BODY_BYTES: usize = 16 << 20;

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, ctx: Arc<ApiContext>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!(target: "http", "accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        smol::spawn(async move {
            let service = service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&ctx, req).await) }
            });
            let result = http1::Builder::new()
                .timer(SmolTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(FuturesIo::new(stream), service)
                .await;
            if let Err(e) = result {
                log::debug!(target: "http", "connection from {peer}: {e}");
            }
        })
        .detach();
    }
}

async fn handle(
    ctx: &ApiContext,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<BoxBody<Bytes, Infallible>> {
    let method = req.method().to_string();
    let path_and_query = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
    let response = match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(body) => {
            let api_request = ApiRequest::parse(&method, &path_and_query, body.to_bytes().to_vec());
            log::debug!(target: "http", "{method} {path_and_query}");
            route(ctx, api_request, false).await
        }
        Err(e) => super::ApiResponse::error(400, format!("request body: {e} (limit {MAX_BODY_BYTES} bytes)")),
    };
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    let body = match response.stream {
        None => Full::new(Bytes::from(response.body)).boxed(),
        Some(stream) => {
            let chunks = smol::stream::once(response.body)
                .chain(stream.0)
                .filter(|chunk| !chunk.is_empty())
                .map(|chunk| Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))));
            BodyExt::boxed(StreamBody::new(chunks))
        }
    };
    builder.body(body).expect("status and headers are valid")
}
