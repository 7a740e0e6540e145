//! `GET /api/v1/edges`: what the admin knows of every edge it pushes to.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::Caller;
use super::super::push::EdgeStatus;
use super::super::{AppError, AppState, ErrorBody};

/// `GET /api/v1/edges`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeList {
    /// The admin's current state version.
    pub state_version: u64,
    /// Every configured edge, in `EMBEDGATE_EDGES` order.
    pub edges: Vec<EdgeStatusBody>,
}

/// What the admin knows of one edge (architecture §6).
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeStatusBody {
    /// The edge's base URL (without userinfo).
    pub url: String,
    /// The id of the edge key the admin wraps this edge's secrets under (null: none configured).
    #[schema(required = true)]
    pub edge_key: Option<String>,
    /// `in_sync`, `behind`, `bootstrapping`, `failing`, `ahead`, `unreachable` or `unknown`.
    pub state: &'static str,
    /// Seconds the edge has been behind a version this admin had (0 in sync).
    pub lag_seconds: f64,
    /// The version the edge last acknowledged; null if never reached.
    #[schema(required = true)]
    pub applied_version: Option<u64>,
    /// When the admin issued that version (Unix seconds).
    #[schema(required = true)]
    pub applied_issued_at: Option<i64>,
    /// The last authentic ack (Unix seconds).
    #[schema(required = true)]
    pub last_ack_at: Option<i64>,
    /// The last push or probe tried (Unix seconds).
    #[schema(required = true)]
    pub last_attempt_at: Option<i64>,
    /// The last failure (or why the edge is ahead); null when fine.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Deltas and full-state pages sent since start.
    pub pushes: u64,
    /// Probes sent since start.
    pub probes: u64,
    /// Bytes sent since start (sealed bodies, every kind).
    pub bytes_pushed: u64,
    /// Failed attempts since start.
    pub failures: u64,
    /// Every region's applied version (and error), as of the last ack.
    pub regions: Vec<RegionBody>,
    /// A full state on its way, if any.
    #[schema(required = true)]
    pub full: Option<FullBody>,
}

/// One region of an edge.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionBody {
    /// The region (a Durable Objects location hint).
    pub region: String,
    /// Its applied version.
    pub version: u64,
    /// The id of the edge key the region's state is wrapped under (null: no state yet, or one
    /// from before the key hierarchy). During an edge-key rotation it moves to the new id when
    /// the region has taken the full state wrapped under it.
    #[schema(required = true)]
    pub edge_key: Option<String>,
    /// Why it could not take the last message; null when it could.
    #[schema(required = true)]
    pub error: Option<String>,
}

/// A full state on its way to an edge.
#[derive(Debug, Serialize, ToSchema)]
pub struct FullBody {
    /// The version it brings the edge to.
    pub to: u64,
    /// The next page to send (pages sent so far).
    pub next_page: u32,
}

impl EdgeStatusBody {
    fn new(s: EdgeStatus, admin_version: u64) -> Self {
        Self {
            state: s.state(admin_version),
            lag_seconds: s.lag_seconds(),
            url: s.url,
            edge_key: s.edge_key,
            applied_version: s.applied_version,
            applied_issued_at: s.applied_issued_at,
            last_ack_at: s.last_ack_at,
            last_attempt_at: s.last_attempt_at,
            last_error: s.last_error,
            consecutive_failures: s.consecutive_failures,
            pushes: s.messages[0] + s.messages[1],
            probes: s.messages[2],
            bytes_pushed: s.bytes.iter().sum(),
            failures: s.failures,
            regions: s
                .regions
                .into_iter()
                .map(|r| RegionBody {
                    region: r.region.as_str().to_owned(),
                    version: r.version,
                    edge_key: r.lineage.rsplit_once('/').map(|(_, id)| id.to_owned()),
                    error: r.error,
                })
                .collect(),
            full: s.full.map(|f| FullBody { to: f.to, next_page: f.next_seq }),
        }
    }
}

/// Every configured edge's applied version, lag and last contact. Any
/// active member's token of any org may read it (it holds no org data).
#[utoipa::path(get, path = "/api/v1/edges", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every configured edge's applied version, lag and last contact.", body = EdgeList),
        (status = 401, description = "No valid member token.", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this address.", body = ErrorBody)))]
pub async fn list_edges(_member: Caller, State(state): State<AppState>) -> Result<Json<EdgeList>, AppError> {
    let version = u64::try_from(state.store.state_version().await?).unwrap_or(0);
    let edges = state.edges.statuses().into_iter().map(|s| EdgeStatusBody::new(s, version)).collect();
    Ok(Json(EdgeList { state_version: version, edges }))
}
