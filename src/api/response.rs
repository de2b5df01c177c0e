//! API responses: JSON bodies, Nomad's index headers, and JSON errors.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn json<T: Serialize + ?Sized>(value: &T) -> ApiResponse {
        ApiResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(value).expect("API values serialize to JSON"),
        }
    }

    /// A JSON body with `X-Nomad-Index` and the leader headers of a consistent read.
    pub fn indexed<T: Serialize + ?Sized>(value: &T, index: u64) -> ApiResponse {
        let mut response = ApiResponse::json(value);
        response.headers.push(("X-Nomad-Index".into(), index.max(1).to_string()));
        response.headers.push(("X-Nomad-KnownLeader".into(), "true".into()));
        response.headers.push(("X-Nomad-LastContact".into(), "0".into()));
        response
    }

    pub fn error(status: u16, message: impl Into<String>) -> ApiResponse {
        let mut response = ApiResponse::json(&serde_json::json!({ "Error": message.into() }));
        response.status = status;
        response
    }

    pub fn bytes(body: Vec<u8>, content_type: &str) -> ApiResponse {
        ApiResponse { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body }
    }
}

impl From<crate::server::ServerError> for ApiResponse {
    fn from(e: crate::server::ServerError) -> ApiResponse {
        use crate::server::ServerError;
        let status = match &e {
            ServerError::InvalidJob(_) | ServerError::BadRequest(_) => 400,
            ServerError::NotFound(_) => 404,
            ServerError::Raft(_) | ServerError::ShuttingDown => 500,
        };
        ApiResponse::error(status, e.to_string())
    }
}
