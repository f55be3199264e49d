//! The portal's form bodies: `application/x-www-form-urlencoded`, where a field may repeat (one
//! entry per ticked checkbox), which serde's flat form decoding cannot express.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};

use super::PortalError;
use crate::http::request_body::{self, BodyFailure};

/// Far above any form the portal renders; a bigger body is not a person typing.
const MAX_FORM_BODY: usize = 64 * 1024;

/// The CSRF field every portal form carries.
pub const CSRF_FIELD: &str = "csrf";

pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`, if it was sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The first value of `name`, or empty when it was not sent (an unticked box, a blank field).
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// Every value of `name`, in the order sent.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(key, _)| key == name).map(|(_, value)| value.clone()).collect()
    }

    /// Whether a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn csrf(&self) -> Option<&str> {
        self.get(CSRF_FIELD)
    }

    /// Refuses (409, with `refusal`) a form whose `version` field is not `current`: the object
    /// changed since the page was shown, by someone else, in another tab, or by this very form
    /// submitted twice.
    pub fn shown_at(&self, current: i64, refusal: &str) -> Result<(), PortalError> {
        if self.text("version") == current.to_string() {
            Ok(())
        } else {
            Err(PortalError::page(StatusCode::CONFLICT, refusal))
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = PortalError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PortalError::page(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Send the form from the portal's page."));
        }
        let bytes = request_body::read(request.into_body(), MAX_FORM_BODY).await.map_err(|failure| match failure {
            BodyFailure::TooLarge => PortalError::page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
            BodyFailure::TimedOut => PortalError::page(StatusCode::REQUEST_TIMEOUT, "The form did not arrive in time."),
        })?;
        Ok(FormFields(form_urlencoded::parse(&bytes).into_owned().collect()))
    }
}

/// The non-blank lines (or comma-separated entries) of a text area, trimmed.
pub fn entries(text: &str) -> Vec<String> {
    text.split(['\n', ',']).map(str::trim).filter(|entry| !entry.is_empty()).map(str::to_owned).collect()
}
