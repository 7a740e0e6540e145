//! The published OpenAPI document against real answers: a whole scenario
//! (members, tokens, credentials, audit, edges, refusals of every kind) is
//! run through the router, and every answer is validated with a JSON Schema
//! (2020-12) validator against the schema the document publishes for its
//! operation and status. An answer without a documented schema, or one that
//! breaks it, fails the test.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::{backends, Env, ADMIN, ORG};
use serde_json::{json, Value};

/// Validates answers against the document, and remembers which operations
/// and statuses it has seen.
struct Checker {
    doc: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Checker {
    /// The operation of `route` (a path template) and `method` in the document.
    fn operation(&self, method: &str, route: &str) -> &Value {
        let op = &self.doc["paths"][route][method.to_lowercase()];
        assert!(op.is_object(), "{method} {route} is not documented");
        op
    }

    /// The JSON schema the document gives for `status` of the operation.
    fn schema(&self, method: &str, route: &str, status: u16) -> Value {
        let op = self.operation(method, route);
        let mut response = &op["responses"][status.to_string()];
        assert!(response.is_object(), "{method} {route}: status {status} is not documented");
        if let Some(r) = response["$ref"].as_str() {
            response = &self.doc["components"]["responses"][r.strip_prefix("#/components/responses/").unwrap()];
        }
        let schema = &response["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {route} {status}: no JSON schema");
        schema.clone()
    }

    /// The problems of `body` under the documented schema of the answer.
    fn errors(&self, method: &str, route: &str, status: StatusCode, body: &Value) -> Vec<String> {
        let schema = self.schema(method, route, status.as_u16());
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::new(&root).unwrap();
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect()
    }

    /// Validates one answer.
    fn check(&mut self, method: &str, route: &str, status: StatusCode, body: &Value) {
        let errors = self.errors(method, route, status, body);
        assert!(errors.is_empty(), "{method} {route} {status}: {body}\n{}", errors.join("\n"));
        self.seen.insert((method.to_owned(), route.to_owned(), status.as_u16()));
    }
}

/// Calls `path` (concrete), validates the answer against `route` (the template); returns it.
async fn call(
    env: &Env,
    checker: &mut Checker,
    token: Option<&str>,
    (method, route, path): (&str, &str, &str),
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, answer) = env.call(method, path, token, body.as_ref()).await;
    checker.check(method, route, status, &answer);
    (status, answer)
}

/// POSTs a form body to `route` (an OAuth endpoint), validates the answer; returns it.
async fn call_form(env: &Env, checker: &mut Checker, route: &str, body: &str) -> (StatusCode, Value) {
    let form = Some((body, "application/x-www-form-urlencoded"));
    let (status, _, answer) = env.call_with("POST", route, None, form, None, &[]).await;
    checker.check("POST", route, status, &answer);
    (status, answer)
}

#[tokio::test]
async fn every_answer_of_a_whole_scenario_matches_its_published_schema() {
    for backend in backends() {
        let env = Env::with_state(&backend, 20, |state| {
            state.operator_orgs = std::sync::Arc::new([ORG.to_owned()].into());
        })
        .await;
        let (status, doc) = env.call("GET", "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, StatusCode::OK);
        let mut c = Checker { doc, seen: BTreeSet::new() };
        let admin = env.admin_token.clone();
        let t = Some(admin.as_str());
        let org = |p: &str| format!("/api/v1/orgs/{ORG}{p}");

        // Operations.
        call(&env, &mut c, None, ("GET", "/healthz", "/healthz"), None).await;
        let (_, me) = call(&env, &mut c, t, ("GET", "/api/v1/me", "/api/v1/me"), None).await;
        assert_eq!((me["org"].as_str(), me["email"].as_str()), (Some(ORG), Some(ADMIN)));
        call(&env, &mut c, t, ("GET", "/api/v1/edges", "/api/v1/edges"), None).await;
        call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/edges", &org("/edges")), None).await;
        call(&env, &mut c, None, ("GET", "/api/v1/me", "/api/v1/me"), None).await;

        // Members and their tokens.
        let members = org("/members");
        let (s, _) = call(
            &env,
            &mut c,
            t,
            ("POST", "/api/v1/orgs/{org}/members", &members),
            Some(json!({"email": "Bob@Acme.test", "account_type": "creator"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let again = Some(json!({"email": "bob@acme.test", "account_type": "viewer"}));
        let (s, _) = call(&env, &mut c, t, ("POST", "/api/v1/orgs/{org}/members", &members), again).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let (s, _) = call(
            &env,
            &mut c,
            t,
            ("POST", "/api/v1/orgs/{org}/members", &members),
            Some(json!({"email": "x", "account_type": "root"})),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/members", &members), None).await;
        let bob = org("/members/bob@acme.test");
        let (s, _) = call(
            &env,
            &mut c,
            t,
            ("PATCH", "/api/v1/orgs/{org}/members/{email}", &bob),
            Some(json!({"account_type": "explorer"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        // Bob's first token: an invitation he redeems (an admin cannot issue one for him).
        let invitations = format!("{bob}/invitations");
        let invite = ("POST", "/api/v1/orgs/{org}/members/{email}/invitations", invitations.as_str());
        let (s, older) = call(&env, &mut c, t, invite, None).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, inv) = call(&env, &mut c, t, invite, None).await;
        assert_eq!(s, StatusCode::CREATED);
        let redeem = ("POST", "/api/v1/invitations/redeem", "/api/v1/invitations/redeem");
        let (s, _) = call(&env, &mut c, None, redeem, Some(json!({"code": older["code"]}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a newer invitation voids the older");
        let (s, first) =
            call(&env, &mut c, None, redeem, Some(json!({"code": inv["code"], "expires_in_s": 3600}))).await;
        assert_eq!(s, StatusCode::CREATED);
        let bob_first = first["token"].as_str().unwrap().to_owned();
        let (s, _) = call(&env, &mut c, t, invite, None).await;
        assert_eq!(s, StatusCode::CONFLICT, "member_has_token");
        let tokens = format!("{bob}/tokens");
        let issue = ("POST", "/api/v1/orgs/{org}/members/{email}/tokens", tokens.as_str());
        let (s, _) = call(&env, &mut c, t, issue, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "own_tokens_only");
        let (s, issued) = call(&env, &mut c, Some(&bob_first), issue, None).await;
        assert_eq!(s, StatusCode::CREATED);
        let bob_token = issued["token"].as_str().unwrap().to_owned();
        let (_, list) =
            call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/members/{email}/tokens", &tokens), None).await;
        assert_eq!(list["tokens"].as_array().unwrap().len(), 2);
        assert!(!list.to_string().contains(&bob_token), "a listed token never shows the token");
        let revoke = format!("{tokens}/{}/revoke", issued["id"].as_str().unwrap());
        let route = "/api/v1/orgs/{org}/members/{email}/tokens/{token_id}/revoke";
        let (s, revoked) = call(&env, &mut c, t, ("POST", route, &revoke), None).await;
        assert_eq!((s, revoked["revoked_at"].is_i64()), (StatusCode::OK, true));
        call(&env, &mut c, Some(&bob_token), ("GET", "/api/v1/me", "/api/v1/me"), None).await;

        // Credentials.
        let creds = org("/credentials");
        let new = json!({"name": "Portal", "owner": ADMIN, "privileges": ["embedding", "api"],
            "allowed_origins": ["https://app.example"], "max_token_lifetime_s": 3600});
        let (s, created) =
            call(&env, &mut c, t, ("POST", "/api/v1/orgs/{org}/credentials", &creds), Some(new.clone())).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = call(&env, &mut c, t, ("POST", "/api/v1/orgs/{org}/credentials", &creds), Some(new)).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let bad = Some(json!({"name": "x", "owner": ADMIN, "privileges": []}));
        let (s, e) = call(&env, &mut c, t, ("POST", "/api/v1/orgs/{org}/credentials", &creds), bad).await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("privileges")));
        let owned_by_bob = Some(json!({"name": "Bob's", "owner": "bob@acme.test", "privileges": ["embedding"]}));
        let (_, bobs) = call(&env, &mut c, t, ("POST", "/api/v1/orgs/{org}/credentials", &creds), owned_by_bob).await;
        let id = created["client_id"].as_str().unwrap();
        let one = format!("{creds}/{id}");

        // The OAuth grant (a form body) and RFC 7009 revocation of its token.
        let secret = created["secret"].as_str().unwrap();
        let token_route = "/api/v1/oauth/token";
        let good = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
        let (s, granted) = call_form(&env, &mut c, token_route, &good).await;
        assert_eq!(s, StatusCode::OK);
        let wrong = format!("grant_type=client_credentials&client_id={id}&client_secret=x");
        assert_eq!(call_form(&env, &mut c, token_route, &wrong).await.0, StatusCode::UNAUTHORIZED);
        let access = granted["access_token"].as_str().unwrap();
        let revoke = format!("token={access}&client_id={id}&client_secret={secret}");
        assert_eq!(call_form(&env, &mut c, "/api/v1/oauth/revoke", &revoke).await.0, StatusCode::OK);
        let route = "/api/v1/orgs/{org}/credentials/{client_id}";
        call(&env, &mut c, t, ("GET", route, &one), None).await;
        call(&env, &mut c, t, ("GET", route, &format!("{creds}/{}", "0".repeat(32))), None).await;
        let patch = Some(json!({"description": "prod", "not_before_cutoff": 0, "allowed_origins": null}));
        let (s, _) = call(&env, &mut c, t, ("PATCH", route, &one), patch).await;
        assert_eq!(s, StatusCode::OK);
        call(&env, &mut c, t, ("PATCH", route, &one), Some(json!({}))).await;
        let (s, _) = call(
            &env,
            &mut c,
            t,
            ("POST", "/api/v1/orgs/{org}/credentials/{client_id}/rotate", &format!("{one}/rotate")),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(
            &env,
            &mut c,
            t,
            ("POST", "/api/v1/orgs/{org}/credentials/{client_id}/rotate", &format!("{one}/rotate")),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT);
        let retire =
            ("POST", "/api/v1/orgs/{org}/credentials/{client_id}/retire-previous", format!("{one}/retire-previous"));
        let (s, _) = call(&env, &mut c, t, (retire.0, retire.1, &retire.2), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(&env, &mut c, t, (retire.0, retire.1, &retire.2), None).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let (_, page) =
            call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/credentials", &format!("{creds}?limit=1")), None).await;
        let after = page["next"].as_str().unwrap();
        call(
            &env,
            &mut c,
            t,
            ("GET", "/api/v1/orgs/{org}/credentials", &format!("{creds}?limit=1&after={after}")),
            None,
        )
        .await;
        call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/credentials", &format!("{creds}?limit=0")), None).await;

        // The owner is deactivated: the credential's status says so, in the list too.
        let (s, _) = call(
            &env,
            &mut c,
            t,
            ("POST", "/api/v1/orgs/{org}/members/{email}/deactivate", &format!("{bob}/deactivate")),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let bobs_path = format!("{creds}/{}", bobs["client_id"].as_str().unwrap());
        let (_, shown) = call(&env, &mut c, t, ("GET", route, &bobs_path), None).await;
        assert_eq!(shown["status"], "owner_inactive");
        let revoke = ("POST", "/api/v1/orgs/{org}/credentials/{client_id}/revoke", format!("{one}/revoke"));
        let (s, _) = call(&env, &mut c, t, (revoke.0, revoke.1, &revoke.2), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(&env, &mut c, t, (revoke.0, revoke.1, &revoke.2), None).await;
        assert_eq!(s, StatusCode::CONFLICT);

        // A revoked credential is deleted for good; a live one cannot be.
        let (s, _) = call(&env, &mut c, t, ("DELETE", route, &bobs_path), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "not revoked yet");
        let (s, _) = call(&env, &mut c, t, ("DELETE", route, &one), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(&env, &mut c, t, ("DELETE", route, &one), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // The org's emergency key rotation: confirmed by the slug; live
        // credentials get a new secret each, revoked ones none.
        let rotate = ("POST", "/api/v1/orgs/{org}/keys/rotate", org("/keys/rotate"));
        let (s, e) =
            call(&env, &mut c, t, (rotate.0, rotate.1, &rotate.2), Some(json!({"confirm": "someone-else"}))).await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("confirm")));
        let (s, rotated) = call(&env, &mut c, t, (rotate.0, rotate.1, &rotate.2), Some(json!({"confirm": ORG}))).await;
        assert_eq!((s, rotated["epoch"].as_u64()), (StatusCode::OK, Some(2)), "{rotated}");
        assert!(rotated["credentials"].as_array().unwrap().iter().all(|c| c["secret"].is_string()), "{rotated}");

        // The org's settings: where its replay guards live at the edge.
        let settings = org("/settings");
        let (_, got) = call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/settings", &settings), None).await;
        assert_eq!(got["home_region"], Value::Null);
        let weur = Some(json!({"home_region": "weur"}));
        let (s, got) = call(&env, &mut c, t, ("PATCH", "/api/v1/orgs/{org}/settings", &settings), weur).await;
        assert_eq!((s, got["home_region"].as_str()), (StatusCode::OK, Some("weur")));
        let mars = Some(json!({"home_region": "mars"}));
        let (s, e) = call(&env, &mut c, t, ("PATCH", "/api/v1/orgs/{org}/settings", &settings), mars).await;
        assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("home_region")));

        // Embed users (from a report, as an edge's ack brings them), a page, a filter, a bad cursor.
        let eu = "/api/v1/orgs/{org}/embed-users";
        let client_id = bobs["client_id"].as_str().unwrap();
        let used = embedgate_core::usage::EmbedUse::new(client_id, "ann@acme.test", None, &["sales".into()], 10);
        let users = std::collections::BTreeMap::from([(embedgate_core::Region::ALL[0], vec![used])]);
        embedgate_admin::store::embed_users::record(env.db(), "http://edge", &users).await.unwrap();
        let (s, got) = call(&env, &mut c, t, ("GET", eu, &org("/embed-users?limit=1")), None).await;
        assert_eq!((s, got["users"][0]["account_type"].clone()), (StatusCode::OK, Value::Null));
        call(
            &env,
            &mut c,
            t,
            (
                "GET",
                eu,
                &org(&format!("/embed-users?client_id={client_id}&cursor={}", got["next"].as_str().unwrap_or(""))),
            ),
            None,
        )
        .await;
        call(&env, &mut c, t, ("GET", eu, &org("/embed-users?cursor=%21")), None).await;

        // Audit, and refusals: no token, another org, a non-admin.
        call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/audit", &org("/audit")), None).await;
        call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/audit", &org("/audit?limit=1&before=3")), None).await;
        call(&env, &mut c, None, ("GET", "/api/v1/orgs/{org}/audit", &org("/audit")), None).await;
        call(&env, &mut c, t, ("GET", "/api/v1/orgs/{org}/audit", "/api/v1/orgs/globex/audit"), None).await;
        let viewer = env.member_with_token("vera@acme.test", "viewer").await;
        let (s, _) = call(&env, &mut c, Some(&viewer), ("GET", "/api/v1/orgs/{org}/audit", &org("/audit")), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        call(&env, &mut c, Some(&viewer), ("GET", "/api/v1/orgs/{org}/credentials", &creds), None).await;

        // The checker is not vacuous: answers that break their schema are refused.
        let route = "/api/v1/orgs/{org}/credentials/{client_id}";
        let mut broken = shown.clone();
        broken["status"] = json!("paused");
        assert!(!c.errors("GET", route, StatusCode::OK, &broken).is_empty(), "an unknown status passed");
        broken = shown.clone();
        broken.as_object_mut().unwrap().remove("revoked_at");
        assert!(!c.errors("GET", route, StatusCode::OK, &broken).is_empty(), "a missing field passed");
        broken = shown.clone();
        broken["live_generations"] = json!("1");
        assert!(!c.errors("GET", route, StatusCode::OK, &broken).is_empty(), "a wrong type passed");
        let error = json!({"error": "not_found"});
        assert!(!c.errors("GET", route, StatusCode::NOT_FOUND, &error).is_empty(), "an error without message passed");

        // Every documented operation was answered at least once.
        let answered: BTreeSet<(String, String)> =
            c.seen.iter().map(|(m, r, _)| (m.to_lowercase(), r.clone())).collect();
        let documented: BTreeSet<(String, String)> = c.doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
            .filter(|(_, path)| !["/metrics", "/api/v1/openapi.json"].contains(&path.as_str()))
            .collect();
        let missing: Vec<_> = documented.difference(&answered).collect();
        assert!(missing.is_empty(), "operations the scenario never called: {missing:?}");
        let statuses: BTreeSet<u16> = c.seen.iter().map(|(_, _, s)| *s).collect();
        assert_eq!(statuses, BTreeSet::from([200, 201, 401, 403, 404, 409, 422]));
        env.finish().await;
    }
}
