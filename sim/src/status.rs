//! API errors as Kubernetes `Status` bodies, with the `reason` and `code` a real API server uses.

use crate::resources::Resource;
use serde_json::{Value, json};

/// A failed API call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Kubernetes `reason`.
    pub reason: &'static str,
    /// Human message.
    pub message: String,
    /// `details` of the Status.
    pub details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }

    fn about(mut self, res: &Resource, name: &str) -> Self {
        self.details = json!({"name": name, "group": res.group, "kind": res.plural});
        self
    }

    /// 404 for a named object.
    pub fn not_found(res: &Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", res.qualified()),
        )
        .about(res, name)
    }

    /// 404 for a missing namespace.
    pub fn namespace_not_found(ns: &str) -> Self {
        Self::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
    }

    /// 404 for a path that names nothing.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 on create of an existing name.
    pub fn already_exists(res: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", res.qualified()),
        )
        .about(res, name)
    }

    /// 409 on a stale `resourceVersion`.
    pub fn conflict(res: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                res.qualified()
            ),
        )
        .about(res, name)
    }

    /// 422 for an object that fails validation.
    pub fn invalid(res: &Resource, name: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {why}", res.kind),
        )
        .about(res, name)
    }

    /// 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 for an unsupported verb.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 for an unsupported patch type.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 403 for a refused operation.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// A real apiserver's answer: its code, `reason` (one of the known ones) and message.
    pub fn from_status(code: u16, body: &Value) -> Self {
        const KNOWN: [&str; 12] = [
            "NotFound",
            "AlreadyExists",
            "Conflict",
            "Invalid",
            "BadRequest",
            "Forbidden",
            "Unauthorized",
            "MethodNotAllowed",
            "UnsupportedMediaType",
            "TooManyRequests",
            "InternalError",
            "ServiceUnavailable",
        ];
        let reason = body["reason"].as_str().unwrap_or_default();
        let mut e = Self::new(
            code,
            KNOWN
                .iter()
                .find(|k| **k == reason)
                .copied()
                .unwrap_or("Unknown"),
            body["message"].as_str().unwrap_or_default(),
        );
        e.details = body["details"].clone();
        e
    }

    /// 401 for a wrong bearer token.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// An injected 5xx.
    pub fn injected(code: u16) -> Self {
        let reason = match code {
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        Self::new(code, reason, format!("injected fault ({code})"))
    }

    /// The `Status` body.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.details.is_null() {
            v["details"] = self.details.clone();
        }
        v
    }
}
