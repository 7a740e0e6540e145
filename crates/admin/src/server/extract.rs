//! Extractors whose rejections are the API's JSON errors: the path
//! ([`Path`]), the typed request body ([`ApiJson`]), and query parameters
//! ([`Params`]).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use embedgate_core::rules::{parse_body, Body};
use serde::de::DeserializeOwned;

use super::{now, AppError};

/// `axum::extract::Path` whose rejection (a segment that does not
/// percent-decode to UTF-8) is a JSON 404 like any unknown resource.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| AppError::NotFound("resource"))
    }
}

/// The body as JSON sent as `application/json`: 400 `malformed_json`
/// otherwise, 413 past the size limit.
async fn json_value<S: Send + Sync>(req: Request, state: &S) -> Result<serde_json::Value, AppError> {
    let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await.map_err(|e| {
        if JsonRejection::status(&e) == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::MalformedJson
        }
    })?;
    Ok(value)
}

/// A request body of type `T` (one of core's [`Body`] types), parsed under
/// core's rules: 400 `malformed_json` when it is not JSON sent as
/// `application/json`, 413 past the size limit, 422 `invalid_input` naming
/// the first field that breaks its rule (`body` for the body as a whole).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: Body> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parse_body(json_value(req, state).await?, now())?))
    }
}

/// A request body of type `T` that may be left out: an empty body sent
/// without a `Content-Type` is `T::default()` (as [`MaybeJson`] reads it);
/// any other is read as [`ApiJson`] reads it (400 `malformed_json`, 413,
/// 422 `invalid_input`).
#[derive(Debug)]
pub struct OptionalApiJson<T>(pub T);

impl<S: Send + Sync, T: Body + Default> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match MaybeJson::from_request(req, state).await? {
            MaybeJson(None) => Ok(Self(T::default())),
            MaybeJson(Some(map)) => Ok(Self(parse_body(serde_json::Value::Object(map), now())?)),
        }
    }
}

/// An optional JSON object body: `None` for an empty body sent without a
/// `Content-Type`; otherwise as [`ApiJson`] reads it (400 `malformed_json`,
/// 413), and 422 `body` when it is not an object. The handler checks the
/// fields (bodies that are not one of core's types).
#[derive(Debug)]
pub struct MaybeJson(pub Option<serde_json::Map<String, serde_json::Value>>);

impl<S: Send + Sync> FromRequest<S> for MaybeJson {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    AppError::MalformedJson
                }
            })?;
            return if bytes.is_empty() { Ok(Self(None)) } else { Err(AppError::MalformedJson) };
        }
        match json_value(req, state).await? {
            serde_json::Value::Object(map) => Ok(Self(Some(map))),
            _ => Err(AppError::invalid("body", "body must be a JSON object")),
        }
    }
}

/// The query parameters (a query string that does not decode is 400
/// `malformed_query`), read by name with their rule.
#[derive(Debug)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| Self(q))
            .map_err(|_| AppError::MalformedQuery)
    }
}

impl Params {
    /// The text parameter `name`, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The integer parameter `name`: `default` when absent, else within
    /// `range` (422 naming it otherwise).
    pub fn int(&self, name: &'static str, default: i64, range: RangeInclusive<i64>) -> Result<i64, AppError> {
        self.text(name).map_or(Ok(default), |v| {
            v.parse::<i64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                AppError::invalid(name, format!("{name} must be an integer from {} to {}", range.start(), range.end()))
            })
        })
    }
}
