//! The mock API's answers as bytes: the body type, and the JSON answers
//! every route and failure builds on.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use serde_json::json;

/// The body of every answer of the mock API.
pub(super) type MockBody = BoxBody<Bytes, Infallible>;

/// An API error answer: `{"success": false, "error_type", "message"}`.
pub(super) fn error(status: StatusCode, error_type: &str, message: &str) -> Response<MockBody> {
    let body = json!({"success": false, "error_type": error_type, "message": message});
    json_response(status, body.to_string())
}

/// A JSON answer with `status`.
pub(super) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<MockBody> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
