//! How a failed call reads in the viewer: the store's error message, an HTTP status the page
//! acts on (409 is a version conflict, shown as such) and a short machine-readable kind.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// A store error on its way to the page.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl ApiError {
    /// The status and the kind the page sees.
    fn classify(&self) -> (StatusCode, &'static str) {
        match &self.0 {
            Error::MemoryNotFound { .. }
            | Error::MemoriesNotFound { .. }
            | Error::RelationshipNotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            Error::VersionConflict { .. } => (StatusCode::CONFLICT, "version_conflict"),
            Error::IdConflict { .. } | Error::RelationshipExists { .. } => {
                (StatusCode::CONFLICT, "exists")
            }
            Error::PrimaryUnreachable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unreachable"),
            err if err.is_user_error() => (StatusCode::BAD_REQUEST, "invalid"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.classify();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "viewer request failed");
        }
        let mut body = json!({ "error": self.0.to_string(), "kind": kind });
        if let Error::VersionConflict {
            expected, actual, ..
        } = &self.0
        {
            body["expected_version"] = json!(expected);
            body["actual_version"] = json!(actual);
        }
        (status, Json(body)).into_response()
    }
}
