//! API responses: JSON bodies, Nomad's index headers, JSON errors, and streamed bodies.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When set, the body is sent after `body` as these chunks arrive (chunked encoding),
    /// ending when the sender is dropped.
    pub stream: Option<BodyStream>,
}

/// The chunks of a streamed body; the producer stops when it finds the receiver gone.
#[derive(Debug, Clone)]
pub struct BodyStream(pub smol::channel::Receiver<Vec<u8>>);

impl PartialEq for BodyStream {
    fn eq(&self, other: &BodyStream) -> bool {
        self.0.same_channel(&other.0)
    }
}

impl ApiResponse {
    pub fn json<T: Serialize + ?Sized>(value: &T) -> ApiResponse {
        ApiResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(value).expect("API values serialize to JSON"),
            stream: None,
        }
    }

    /// A JSON body with `X-Nomad-Index` (the router adds the leader headers).
    pub fn indexed<T: Serialize + ?Sized>(value: &T, index: u64) -> ApiResponse {
        let mut response = ApiResponse::json(value);
        response.headers.push(("X-Nomad-Index".into(), index.max(1).to_string()));
        response
    }

    /// The answer to a write: `{"Index": n}` with `X-Nomad-Index`, or the error.
    pub fn written(result: Result<u64, crate::server::ServerError>) -> ApiResponse {
        match result {
            Ok(index) => ApiResponse::indexed(&serde_json::json!({ "Index": index }), index),
            Err(e) => e.into(),
        }
    }

    pub fn error(status: u16, message: impl Into<String>) -> ApiResponse {
        let mut response = ApiResponse::json(&serde_json::json!({ "Error": message.into() }));
        response.status = status;
        response
    }

    pub fn bytes(body: Vec<u8>, content_type: &str) -> ApiResponse {
        ApiResponse { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body, stream: None }
    }

    /// A body of chunks sent as they arrive.
    pub fn streamed(chunks: smol::channel::Receiver<Vec<u8>>, content_type: &str) -> ApiResponse {
        let mut response = ApiResponse::bytes(Vec::new(), content_type);
        response.stream = Some(BodyStream(chunks));
        response
    }
}

impl From<crate::server::ServerError> for ApiResponse {
    fn from(e: crate::server::ServerError) -> ApiResponse {
        use crate::server::ServerError;
        let status = match &e {
            ServerError::InvalidJob(_) | ServerError::BadRequest(_) => 400,
            ServerError::NotFound(_) => 404,
            ServerError::Raft(_) | ServerError::ShuttingDown | ServerError::NoLeader | ServerError::Forward(_) => 500,
        };
        ApiResponse::error(status, e.to_string())
    }
}
