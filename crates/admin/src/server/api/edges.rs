//! What the admin knows of the edges it pushes to, scoped by who asks:
//! `GET /api/v1/edges` (every edge in detail: URLs, key ids, errors,
//! counters, regions) is for platform operators only, the active admins of
//! an org in `EMBEDGATE_OPERATOR_ORGS`; `GET /api/v1/orgs/{org}/edges`
//! tells any member of an org whether each edge has that org's latest
//! change, and nothing about the edge's address, keys or errors.

use axum::extract::State;
use axum::Json;
use embedgate_core::AccountType;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::{Caller, OrgMember};
use super::super::extract::Path;
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

/// Whether `caller` is a platform operator: an active admin of an org named
/// in `EMBEDGATE_OPERATOR_ORGS`.
pub fn is_operator(state: &AppState, caller: &Caller) -> bool {
    caller.account_type == AccountType::Admin && state.operator_orgs.contains(&caller.org)
}

/// Every configured edge's applied version, lag, last contact, URL, key
/// ids, errors and counters: for platform operators only (the admins of an
/// org in `EMBEDGATE_OPERATOR_ORGS`; 403 `operator_only` for anyone else,
/// who reads `GET /api/v1/orgs/{org}/edges`).
#[utoipa::path(get, path = "/api/v1/edges", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every configured edge's applied version, lag and last contact.", body = EdgeList),
        (status = 401, description = "No valid member token.", body = ErrorBody),
        (status = 403, description = "`operator_only`: not an admin of an operator org.", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this address.", body = ErrorBody)))]
pub async fn list_edges(caller: Caller, State(state): State<AppState>) -> Result<Json<EdgeList>, AppError> {
    caller.require_member_token()?;
    if !is_operator(&state, &caller) {
        return Err(AppError::OperatorOnly);
    }
    let version = u64::try_from(state.store.state_version().await?).unwrap_or(0);
    let edges = state.edges.statuses().into_iter().map(|s| EdgeStatusBody::new(s, version)).collect();
    Ok(Json(EdgeList { state_version: version, edges }))
}

/// `GET /api/v1/orgs/{org}/edges`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgEdges {
    /// The state version of the org's latest change (0: none since the change log began).
    pub org_version: u64,
    /// Every configured edge, in configuration order, without its address.
    pub edges: Vec<OrgEdgeBody>,
}

/// One edge as an org sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgEdgeBody {
    /// `edge-1`, `edge-2`, … in configuration order (never its URL).
    pub edge: String,
    /// `in_sync`, `behind`, `bootstrapping`, `failing`, `ahead`, `unreachable` or `unknown`.
    pub state: &'static str,
    /// Whether the edge has applied the org's latest change (a revocation, say).
    pub has_latest: bool,
    /// Seconds the edge has been behind a version the admin had (0 in sync).
    pub lag_seconds: f64,
}

/// Whether each edge has the org's latest change: for any active member of
/// the org (is my revocation live everywhere?). No edge URL, key id, error
/// text or counter: those are the platform operator's (`GET /api/v1/edges`).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/edges", tag = "operations",
    params(("org" = String, Path, description = "The org slug.")),
    security(("bearer" = [])),
    responses((status = 200, description = "Each edge's state and whether it has the org's latest change.", body = OrgEdges)))]
pub async fn org_edges(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<OrgEdges>, AppError> {
    let admin_version = u64::try_from(state.store.state_version().await?).unwrap_or(0);
    let mut conn = state.store.pool.acquire().await?;
    let org_version = crate::store::orgs::latest_version(&mut conn, &org).await?;
    let edges = state
        .edges
        .statuses()
        .into_iter()
        .enumerate()
        .map(|(i, s)| OrgEdgeBody {
            edge: format!("edge-{}", i + 1),
            state: s.state(admin_version),
            has_latest: s.applied_version.is_some_and(|v| v >= org_version),
            lag_seconds: s.lag_seconds(),
        })
        .collect();
    Ok(Json(OrgEdges { org_version, edges }))
}
