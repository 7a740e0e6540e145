//! The admin's HTTP API, split by resource. Every operation is a real
//! handler carrying its `#[utoipa::path]`, registered with utoipa-axum, so
//! the OpenAPI document is generated from what runs; request bodies are
//! core's typed [`embedgate_core::rules`] bodies behind
//! [`super::extract::ApiJson`], responses are `Serialize` types.

pub mod audit;
pub mod credentials;
pub mod edges;
pub mod embed_users;
pub mod keys;
pub mod members;
pub mod oauth;
pub mod openapi;
pub mod ops;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{demo, metrics, web, AppError, AppState};

/// The API's documented operations, and the document they make.
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::<AppState>::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(metrics::scrape))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(ops::me))
        .routes(routes!(edges::list_edges))
        .routes(routes!(edges::org_edges))
        .routes(routes!(members::create_member, members::list_members))
        .routes(routes!(members::update_member))
        .routes(routes!(members::issue_token, members::list_tokens))
        .routes(routes!(members::revoke_token))
        .routes(routes!(members::invite_member))
        .routes(routes!(members::redeem_invitation))
        .routes(routes!(oauth::oauth_token))
        .routes(routes!(oauth::oauth_revoke))
        .routes(routes!(members::deactivate_member))
        .routes(routes!(credentials::create_credential, credentials::list_credentials))
        .routes(routes!(credentials::get_credential, credentials::update_credential, credentials::delete_credential))
        .routes(routes!(ops::get_settings, ops::update_settings))
        .routes(routes!(credentials::revoke_credential))
        .routes(routes!(credentials::rotate_credential))
        .routes(routes!(credentials::retire_previous))
        .routes(routes!(keys::rotate_org_key))
        .routes(routes!(audit::list_audit))
        .routes(routes!(embed_users::list_embed_users))
        .split_for_parts();
    openapi::finish(&mut doc);
    (router, doc)
}

/// The OpenAPI document `GET /api/v1/openapi.json` serves.
pub fn document() -> utoipa::openapi::OpenApi {
    documented().1
}

/// The whole admin server: the API, the browser pages, the host-app demo.
pub fn app(state: AppState) -> Router {
    let (api, doc) = documented();
    api.route("/", get(web::page))
        .route("/demo", get(web::page))
        .route("/inspect", get(web::page))
        .route("/assets/{*path}", get(web::asset))
        .route("/pkg/{*path}", get(web::asset))
        .route("/demo/api/config", get(demo::get_config).put(demo::put_config))
        .route("/demo/api/embed-url", post(demo::embed_url))
        .fallback(|| async { AppError::NotFound("route") })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(Extension(Arc::new(doc)))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn(log_requests))
        .with_state(state)
}

/// Logs method, path (never the query or body), status and latency.
async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    let response = next.run(req).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), micros = start.elapsed().as_micros(), "request");
    response
}
