//! The `api` privilege end to end (issue 15, part 1): over a real
//! `embedgate serve` (with `EMBEDGATE_API_TOKEN_TTL` set), a credential
//! created with `["embedding","api"]` gets an access token by the OAuth
//! client-credentials grant with HTTP Basic, calls the org's API with it,
//! the README's Python standard-library snippet does the same, and revoking
//! the credential ends the token (401) while its embeds stop too.
#![allow(clippy::unwrap_used)]

use embedgate_e2e::{http, python, step, Setup, Stack, ADMIN, ORG};
use serde_json::{json, Value};

const FORM: &str = "application/x-www-form-urlencoded";

/// The README's "Calling the API with a credential" snippet in Python's
/// standard library (kept in step with it): the grant by HTTP Basic, then
/// the credential list with the access token. Prints the list's client IDs.
const PYTHON_SNIPPET: &str = r#"
import base64, json, os, urllib.parse, urllib.request

ADMIN_URL = os.environ["EMBEDGATE_URL"]
CLIENT_ID = os.environ["EMBEDGATE_CLIENT_ID"]
SECRET = os.environ["EMBEDGATE_SECRET"]

basic = base64.b64encode(
    f"{urllib.parse.quote_plus(CLIENT_ID)}:{urllib.parse.quote_plus(SECRET)}".encode()
).decode()
grant = urllib.request.Request(
    f"{ADMIN_URL}/api/v1/oauth/token",
    data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    headers={"Authorization": f"Basic {basic}"},
)
with urllib.request.urlopen(grant) as answer:
    access_token = json.load(answer)["access_token"]

listing = urllib.request.Request(
    f"{ADMIN_URL}/api/v1/orgs/acme/credentials",
    headers={"Authorization": f"Bearer {access_token}"},
)
with urllib.request.urlopen(listing) as answer:
    print(" ".join(c["client_id"] for c in json.load(answer)["credentials"]))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_credential_calls_the_api_with_an_oauth_token_until_it_is_revoked() {
    let stack =
        Stack::start_setup(1, &Setup { admin_env: &[("EMBEDGATE_API_TOKEN_TTL", "10m")], ..Setup::default() }).await;
    let admin = stack.admin.url.clone();

    step("a credential with the api privilege");
    let created = stack
        .post("/credentials", json!({"name": "Reporting job", "owner": ADMIN, "privileges": ["embedding", "api"]}), 201)
        .await;
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();

    step("the client-credentials grant by HTTP Basic");
    let answer = http()
        .post(format!("{admin}/api/v1/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .header("content-type", FORM)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let granted: Value = answer.json().await.unwrap();
    assert_eq!((granted["token_type"].as_str(), granted["expires_in"].as_i64()), (Some("Bearer"), Some(600)));
    let token = granted["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("egc_"), "{granted}");

    step("the org's API with the access token, acting as the owner");
    let (status, page) = stack.api_as(&token, "GET", &format!("/api/v1/orgs/{ORG}/credentials"), None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page["credentials"].as_array().unwrap().iter().any(|c| c["client_id"] == client_id.as_str()));
    let (status, made) = stack
        .api_as(
            &token,
            "POST",
            &format!("/api/v1/orgs/{ORG}/credentials"),
            Some(json!({"name": "Made by the job", "owner": ADMIN, "privileges": ["embedding"]})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["created_by"], format!("credential:{client_id}"));
    let (status, refused) =
        stack.api_as(&token, "POST", &format!("/api/v1/orgs/{ORG}/members/{ADMIN}/tokens"), None).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("member_token_required")), "{refused}");

    step("the README's Python standard-library snippet");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(readme.contains(PYTHON_SNIPPET.trim()), "README.md's Python snippet differs from the one tested here");
    let out = std::process::Command::new(python())
        .args(["-c", PYTHON_SNIPPET])
        .env("EMBEDGATE_URL", &admin)
        .env("EMBEDGATE_CLIENT_ID", &client_id)
        .env("EMBEDGATE_SECRET", &secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&client_id));

    step("a wrong secret: 401 invalid_client with a Basic challenge");
    let answer = http()
        .post(format!("{admin}/api/v1/oauth/token"))
        .basic_auth(&client_id, Some(made["secret"].as_str().unwrap()))
        .header("content-type", FORM)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["www-authenticate"], "Basic realm=\"embedgate\"");
    let refused: Value = answer.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_client");

    step("the credential revoked: the access token is refused at once");
    stack.post(&format!("/credentials/{client_id}/revoke"), json!({}), 200).await;
    let (status, body) = stack.api_as(&token, "GET", &format!("/api/v1/orgs/{ORG}/credentials"), None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{body}");
    let answer = http()
        .post(format!("{admin}/api/v1/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .header("content-type", FORM)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401, "a revoked credential gets no new token");
}
