//! The `embedgate` binary end to end (architecture.md §3, §4, §7): every token vector
//! through `embedgate verify`, exit codes and usage errors, `sign` round
//! trips, `keygen`, and PyJWT interop in both directions.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[path = "../../core/tests/vectors/recipe.rs"]
mod recipe;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const TOKENS: &str = include_str!("../../core/tests/vectors/tokens.json");

/// The environment variable the tests put the embed secret in.
const SECRET_VAR: &str = "EMBEDGATE_CLI_TEST_SECRET";

/// A fixed clock for everything that does not go through PyJWT.
const NOW: i64 = 1_700_000_000;

/// What one run of the binary did.
#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    /// The single JSON line `verify` prints.
    fn json(&self) -> Value {
        let line = self.stdout.strip_suffix('\n').unwrap_or_else(|| panic!("no newline at the end: {self:?}"));
        assert!(!line.contains('\n'), "more than one line: {self:?}");
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The single line `sign`/`keygen` print, stderr being empty.
    fn line(&self) -> String {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert!(self.stderr.is_empty(), "stderr: {self:?}");
        let line = self.stdout.strip_suffix('\n').unwrap_or_else(|| panic!("no newline at the end: {self:?}"));
        assert!(!line.is_empty() && !line.contains('\n'), "not exactly one line: {self:?}");
        line.to_owned()
    }

    /// Neither stream shows `needle`.
    fn hides(&self, needle: &str) -> bool {
        !self.stdout.contains(needle) && !self.stderr.contains(needle)
    }
}

/// Runs `embedgate ARGS`, with `SECRET_VAR` holding `secret` (unset if `None`).
fn embedgate<S: AsRef<std::ffi::OsStr>>(args: &[S], secret: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_embedgate"));
    cmd.args(args).stdin(Stdio::null());
    match secret {
        Some(s) => cmd.env(SECRET_VAR, s),
        None => cmd.env_remove(SECRET_VAR),
    };
    let out = cmd.output().unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `embedgate keygen KIND`, checked to be one line on stdout.
fn keygen(kind: &str) -> String {
    embedgate(&["keygen", kind], None).line()
}

fn verify_args(b: &recipe::Built) -> Result<Vec<String>, String> {
    b.verify_args(SECRET_VAR)
}

/// The `sub` claim of a token, read without verifying it.
fn unverified_sub(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = embedgate_core::jws::b64url_decode(payload)?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// What is wrong with one case's run, if anything.
fn check_case(b: &recipe::Built) -> Result<(), String> {
    let out = embedgate(&verify_args(b)?, Some(&b.key));
    if !out.hides(&b.key) {
        return Err(format!("the output shows the secret: {out:?}"));
    }
    if b.token.len() >= 16 && out.stdout.contains(&b.token) {
        return Err(format!("the output echoes the token: {}", out.stdout));
    }
    if !out.stderr.is_empty() {
        return Err(format!("exit {:?}, stderr {:?}", out.code, out.stderr));
    }
    let body = out.json();
    if b.expect == "ok" {
        if out.code != Some(0) || body["ok"] != Value::Bool(true) {
            return Err(format!("expected ok, got exit {:?}: {}", out.code, out.stdout.trim_end()));
        }
        // The identity is forwarded with its email in canonical form (and, per the case, more).
        let sub = unverified_sub(&b.token).ok_or("an accepted token without a readable sub")?;
        let sub = embedgate_core::canonical_email(&sub).into_owned();
        if body["sub"] != Value::String(sub.clone()) || body["client_id"] != Value::String(b.client_id.clone()) {
            return Err(format!("expected sub {sub} and client_id {}, got {body}", b.client_id));
        }
        for (member, value) in b.identity.iter().flatten() {
            if &body[member] != value {
                return Err(format!("expected {member} {value}, got {body}"));
            }
        }
        if body.get("error").is_some() {
            return Err(format!("ok with an error: {body}"));
        }
    } else {
        let message_ok = body["message"].as_str().is_some_and(|m| !m.is_empty());
        if out.code != Some(1) || body["error"] != Value::String(b.expect.clone()) || !message_ok {
            return Err(format!("expected {}, got exit {:?}: {}", b.expect, out.code, out.stdout.trim_end()));
        }
        if body.get("ok").is_some() {
            return Err(format!("a refusal with ok: {body}"));
        }
    }
    Ok(())
}

#[test]
fn every_vector_case_through_embedgate_verify() {
    let file = recipe::load(TOKENS);
    assert!(file.cases.len() >= 40, "at least 40 cases");
    let built: Vec<recipe::Built> = file.cases.iter().map(|c| recipe::build(&file.defaults, c)).collect();
    // Cases the rest of the checks rely on being present.
    for name in ["valid_minimal", "malformed_empty"] {
        assert!(built.iter().any(|b| b.name == name), "no case {name}");
    }
    let failures: Vec<String> =
        built.iter().filter_map(|b| check_case(b).err().map(|e| format!("{}: {e}", b.name))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), built.len(), failures.join("\n"));

    // The minimal case reports its identity, and an empty token is malformed (exit 1, not a usage error).
    let minimal = built.iter().find(|b| b.name == "valid_minimal").unwrap();
    let out = embedgate(&verify_args(minimal).unwrap(), Some(&minimal.key));
    assert_eq!(out.code, Some(0), "{out:?}");
    let body = out.json();
    assert_eq!(body["sub"], "ana@example.com");
    assert_eq!(body["org"], "acme");
    assert_eq!(body["jti"], "jti-0001");
    let empty = built.iter().find(|b| b.name == "malformed_empty").unwrap();
    assert_eq!(empty.token, "");
    let out = embedgate(&verify_args(empty).unwrap(), Some(&empty.key));
    assert_eq!((out.code, out.json()["error"].as_str()), (Some(1), Some("malformed_token")), "{out:?}");
}

/// A usage error: exit 2, nothing on stdout, a message (not a panic) on stderr.
fn assert_usage_error(what: &str, out: &Output) {
    assert_eq!(out.code, Some(2), "{what}: {out:?}");
    assert!(out.stdout.is_empty(), "{what}: stdout {out:?}");
    assert!(!out.stderr.trim().is_empty(), "{what}: no message: {out:?}");
    assert!(!out.stderr.contains("panicked"), "{what}: {out:?}");
    assert!(!out.stderr.contains("egs_"), "{what}: the message shows a secret: {out:?}");
}

#[test]
fn usage_errors_exit_2_without_panicking() {
    let file = recipe::load(TOKENS);
    let d = &file.defaults;
    let case = file.cases.iter().find(|c| c.name == "valid_minimal").unwrap();
    let token = recipe::build(d, case).token;
    let secret = Some(d.secret.as_str());
    let verify = |extra: &[&str]| -> Vec<String> {
        let base = ["verify", "--client-id", &d.client_id, "--secret-env", SECRET_VAR, "--now", "1700000000"];
        base.iter().chain(extra).map(ToString::to_string).collect()
    };
    let sign = |extra: &[&str]| -> Vec<String> {
        let base = ["sign", "--client-id", &d.client_id, "--secret-env", SECRET_VAR, "--sub", "a@example.com"];
        base.iter().chain(extra).map(ToString::to_string).collect()
    };
    // Sanity: the same arguments without the mistake succeed.
    assert_eq!(embedgate(&verify(&[&token]), secret).code, Some(0));
    assert_eq!(embedgate(&sign(&[]), secret).code, Some(0));

    let out = embedgate(&verify(&[&token]), None);
    assert_usage_error("secret variable unset", &out);
    assert!(out.stderr.contains(SECRET_VAR), "the message names the variable: {out:?}");
    let out = embedgate(&sign(&[]), None);
    assert_usage_error("sign, secret variable unset", &out);
    assert!(out.stderr.contains(SECRET_VAR), "the message names the variable: {out:?}");
    let out = embedgate(&verify(&[&token]), Some(""));
    assert_usage_error("secret variable empty", &out);
    assert!(out.stderr.contains(SECRET_VAR), "the message names the variable: {out:?}");

    let bad_client = ["verify", "--client-id", "not a client id", "--secret-env", SECRET_VAR, "--", &token];
    let out = embedgate(&bad_client, secret);
    assert_usage_error("bad --client-id", &out);
    assert!(out.stderr.contains("--client-id"), "the message names the flag: {out:?}");
    let bad_client = ["sign", "--client-id", "ZZZ", "--secret-env", SECRET_VAR, "--sub", "a@example.com"];
    let out = embedgate(&bad_client, secret);
    assert_usage_error("sign, bad --client-id", &out);
    assert!(out.stderr.contains("--client-id"), "the message names the flag: {out:?}");
    assert_usage_error("unknown flag", &embedgate(&verify(&["--frobnicate", &token]), secret));
    assert_usage_error("unknown subcommand", &embedgate(&["frobnicate"], secret));
    assert_usage_error("no subcommand", &embedgate::<&str>(&[], secret));
    assert_usage_error("--ttl 31d", &embedgate(&sign(&["--ttl", "31d"]), secret));
    assert_usage_error("--ttl 0", &embedgate(&sign(&["--ttl", "0"]), secret));
    assert_usage_error("--ttl 1w", &embedgate(&sign(&["--ttl", "1w"]), secret));
    assert_usage_error("--claim novalue", &embedgate(&sign(&["--claim", "novalue"]), secret));
    assert_usage_error("--claim bad json", &embedgate(&sign(&["--claim", "teams:=[oops"]), secret));
    assert_usage_error("--url ftp", &embedgate(&sign(&["--url", "ftp://x/acme/workbook/1"]), secret));
    assert_usage_error("verify, no token, no --url", &embedgate(&verify(&[]), secret));
    assert_usage_error(
        "verify, --url without :jwt",
        &embedgate(&verify(&["--url", "/acme/workbook/1?theme=dark"]), secret),
    );
    assert_usage_error(
        "--owner-account-type creator without --owner",
        &embedgate(&verify(&["--owner-account-type", "creator", &token]), secret),
    );
    assert_usage_error(
        "--owner-account-type boss",
        &embedgate(&verify(&["--owner-account-type", "boss", &token]), secret),
    );
    assert_usage_error("--privileges nope", &embedgate(&verify(&["--privileges", "nope", &token]), secret));
    assert_usage_error("--org Bad Org", &embedgate(&verify(&["--org", "Bad Org", &token]), secret));
    assert_usage_error("--now soon", &embedgate(&verify(&["--now", "soon", &token]), secret));
    assert_usage_error("keygen nothing", &embedgate(&["keygen", "nothing"], secret));

    let help = embedgate(&["--help"], secret);
    assert_eq!(help.code, Some(0), "{help:?}");
    for word in ["sign", "verify", "keygen"] {
        assert!(help.stdout.contains(word), "--help lists {word}: {help:?}");
    }
    assert!(!help.stderr.contains("panicked"));
    let help = embedgate(&["verify", "--help"], secret);
    assert_eq!(help.code, Some(0), "{help:?}");
    assert!(help.stdout.contains("--secret-env"), "{help:?}");
}

#[test]
fn sign_then_verify_round_trip() {
    let secret = keygen("secret");
    let cid = keygen("client-id");
    let now = NOW.to_string();
    let out = embedgate(
        &[
            "sign",
            "--client-id",
            &cid,
            "--secret-env",
            SECRET_VAR,
            "--sub",
            "ana@example.com",
            "--claim",
            "account_type=viewer",
            "--claim",
            r#"teams:=["a","b"]"#,
            "--now",
            &now,
            "--ttl",
            "15m",
        ],
        Some(&secret),
    );
    let token = out.line();
    assert!(out.hides(&secret), "{out:?}");
    assert_eq!(token.split('.').count(), 3, "{token}");

    let base = ["verify", "--client-id", &cid, "--secret-env", SECRET_VAR, "--now", &now];
    let out = embedgate(&[&base[..], &["--", &token]].concat(), Some(&secret));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.is_empty() && out.hides(&secret), "{out:?}");
    let body = out.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["sub"], "ana@example.com");
    assert_eq!(body["client_id"], cid.as_str());
    assert_eq!(body["account_type"], "viewer");
    assert_eq!(body["teams"], serde_json::json!(["a", "b"]));
    assert_eq!(body["iat"], NOW);
    assert_eq!(body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(), 900);
    assert!(body["jti"].as_str().is_some_and(|j| !j.is_empty()), "{body}");

    // Fifteen minutes (plus the leeway) later it has expired; and another secret does not verify it.
    let later = (NOW + 900 + 61).to_string();
    let out =
        embedgate(&["verify", "--client-id", &cid, "--secret-env", SECRET_VAR, "--now", &later, &token], Some(&secret));
    assert_eq!((out.code, out.json()["error"].as_str()), (Some(1), Some("expired")), "{out:?}");
    let other = keygen("secret");
    let out = embedgate(&[&base[..], &[&token]].concat(), Some(&other));
    assert_eq!((out.code, out.json()["error"].as_str()), (Some(1), Some("bad_signature")), "{out:?}");
    assert!(out.hides(&other), "{out:?}");
}

#[test]
fn sign_url_then_verify_url() {
    let secret = keygen("secret");
    let cid = keygen("client-id");
    let now = NOW.to_string();
    let args = [
        "sign",
        "--client-id",
        &cid,
        "--secret-env",
        SECRET_VAR,
        "--sub",
        "ana@example.com",
        "--now",
        &now,
        "--url",
        "/acme/workbook/1?theme=dark",
    ];
    let out = embedgate(&args, Some(&secret));
    let url = out.line();
    assert!(out.hides(&secret), "{out:?}");
    assert!(url.starts_with("/acme/workbook/1?"), "{url}");
    for part in ["theme=dark", ":jwt=", ":embed=true"] {
        assert!(url.contains(part), "{part} in {url}");
    }

    let verify = |org: &str| {
        let args =
            ["verify", "--client-id", &cid, "--secret-env", SECRET_VAR, "--now", &now, "--url", &url, "--org", org];
        embedgate(&args, Some(&secret))
    };
    let out = verify("acme");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.is_empty() && out.hides(&secret), "{out:?}");
    let body = out.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["sub"], "ana@example.com");
    assert_eq!(body["org"], "acme");

    let out = verify("globex");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.is_empty() && out.hides(&secret), "{out:?}");
    assert_eq!(out.json()["error"], "org_mismatch");
}

#[test]
fn keygen_prints_fresh_values_of_each_kind() {
    let master = keygen("master");
    assert!(master.starts_with("egm_"), "{master}");
    let sync = keygen("sync");
    assert!(sync.starts_with("egk_"), "{sync}");
    let edge = keygen("edge");
    assert!(edge.starts_with("ege_"), "{edge}");
    let secret = keygen("secret");
    assert!(secret.starts_with("egs_"), "{secret}");
    assert_eq!(secret.len(), 62, "{secret}");
    let cid = keygen("client-id");
    assert_eq!(cid.len(), 32, "{cid}");
    assert!(cid.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')), "{cid}");
    for (kind, first) in [("master", master), ("sync", sync), ("edge", edge), ("secret", secret), ("client-id", cid)] {
        assert_ne!(keygen(kind), first, "two `keygen {kind}` calls gave the same value");
    }
}

#[test]
fn keygen_json_names_the_key_by_its_id() {
    use embedgate_core::keys::NamedKey as _;
    let out = embedgate(&["keygen", "edge", "--json"], None);
    let v = out.json();
    let key = embedgate_core::EdgeKey::from_printable(v["key"].as_str().unwrap()).unwrap();
    assert_eq!(v["id"], key.id().to_string());
    let out = embedgate(&["keygen", "secret", "--json"], None);
    assert_eq!(out.code, Some(2), "{out:?}");
}

/// `keygen es256|eddsa`: the private JWK on stdout (or in a new 0600 file
/// with `--out`, the public JWK then on stdout), the public JWK and its
/// thumbprint on stderr; an existing file is never overwritten.
#[test]
fn keygen_makes_key_pairs_for_host_apps() {
    use embedgate_core::{PublicJwk, SigningJwk};
    for (kind, alg) in [("es256", "ES256"), ("eddsa", "EdDSA")] {
        let out = embedgate(&["keygen", kind], None);
        assert_eq!(out.code, Some(0), "{out:?}");
        let private = SigningJwk::parse(out.stdout.trim_end()).unwrap();
        assert_eq!(private.algorithm().as_str(), alg);
        let public = private.public();
        assert!(out.stderr.contains(&public.canonical_json()), "{out:?}");
        assert!(out.stderr.contains(&format!("thumbprint (RFC 7638): {}", public.thumbprint())), "{out:?}");
        assert!(!out.stderr.contains("\"d\""), "stderr shows the private key: {out:?}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.jwk");
        let path_text = path.to_str().unwrap();
        let out = embedgate(&["keygen", kind, "--out", path_text], None);
        assert_eq!(out.code, Some(0), "{out:?}");
        let written = std::fs::read_to_string(&path).unwrap();
        let private = SigningJwk::parse(written.trim_end()).unwrap();
        let public = PublicJwk::parse(out.stdout.trim_end()).unwrap();
        assert_eq!(private.public(), public, "stdout is the file's public key");
        assert!(!out.stdout.contains("\"d\"") && !out.stderr.contains("\"d\""), "{out:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = embedgate(&["keygen", kind, "--out", path_text], None);
        assert_usage_error("keygen --out over an existing file", &again);
        assert!(again.stderr.contains("never overwritten"), "{again:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written, "the existing key is untouched");
    }
    assert_usage_error("keygen es256 --json", &embedgate(&["keygen", "es256", "--json"], None));
    assert_usage_error("keygen secret --out", &embedgate(&["keygen", "secret", "--out", "x.jwk"], None));
    let help = embedgate(&["keygen", "--help"], None);
    assert!(help.stdout.contains("0600") && help.stdout.contains("stderr"), "{help:?}");
}

/// A host app's key pair end to end: `keygen --out`, `sign --private-key
/// @file`, then `verify --public-key` (inline JSON or `@file`); the secret
/// and public-key flags are exclusive, and one is required.
#[test]
fn sign_with_a_private_key_then_verify_with_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let cid = keygen("client-id");
    let now = NOW.to_string();
    for kind in ["es256", "eddsa"] {
        let private_path = dir.path().join(format!("{kind}.jwk"));
        let out = embedgate(&["keygen", kind, "--out", private_path.to_str().unwrap()], None);
        assert_eq!(out.code, Some(0), "{out:?}");
        let public = out.stdout.trim_end().to_owned();
        let public_path = dir.path().join(format!("{kind}.pub.jwk"));
        std::fs::write(&public_path, &public).unwrap();
        let key_arg = format!("@{}", private_path.display());
        let args = ["sign", "--client-id", &cid, "--private-key", &key_arg, "--sub", "ann@example.com", "--now", &now];
        let token = embedgate(&args, None).line();
        let pub_file = format!("@{}", public_path.display());
        for given in [public.as_str(), pub_file.as_str()] {
            let args = ["verify", "--client-id", &cid, "--public-key", given, "--now", &now, "--", &token];
            let out = embedgate(&args, None);
            assert_eq!((out.code, &out.json()["ok"]), (Some(0), &Value::Bool(true)), "{kind} {given}: {out:?}");
        }
        // Another key pair's public key refuses it.
        let other = embedgate(&["keygen", kind, "--out", dir.path().join(format!("{kind}-2")).to_str().unwrap()], None);
        let args =
            ["verify", "--client-id", &cid, "--public-key", other.stdout.trim_end(), "--now", &now, "--", &token];
        let out = embedgate(&args, None);
        assert_eq!((out.code, &out.json()["error"]), (Some(1), &Value::from("bad_signature")), "{out:?}");
        // The private key given as the public one is a usage error that does not show it.
        let private = std::fs::read_to_string(&private_path).unwrap();
        let args = ["verify", "--client-id", &cid, "--public-key", private.trim_end(), "--now", &now, "--", &token];
        let out = embedgate(&args, None);
        assert_usage_error("verify --public-key <private JWK>", &out);
        assert!(out.stderr.contains("private key") && out.hides(&private), "{out:?}");
    }
    let secret = keygen("secret");
    let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    let both = ["verify", "--client-id", &cid, "--secret-env", SECRET_VAR, "--public-key", jwk, "--", "t"];
    assert_usage_error("verify with both keys", &embedgate(&both, Some(&secret)));
    assert_usage_error("verify with no key", &embedgate(&["verify", "--client-id", &cid, "--", "t"], Some(&secret)));
    let bad = ["verify", "--client-id", &cid, "--public-key", r#"{"kty":"RSA"}"#, "--", "t"];
    assert_usage_error("verify --public-key RSA", &embedgate(&bad, None));
    let inline = ["sign", "--client-id", &cid, "--private-key", jwk, "--sub", "a@example.com"];
    assert_usage_error("sign --private-key without @", &embedgate(&inline, None));
    let missing = ["verify", "--client-id", &cid, "--public-key", "@/nonexistent/key.jwk", "--", "t"];
    assert_usage_error("verify --public-key @missing", &embedgate(&missing, None));
}

/// The Python interpreter with PyJWT: `EMBEDGATE_PYTHON`, else the workspace's `.venv`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EMBEDGATE_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with PyJWT: set EMBEDGATE_PYTHON or run `cargo xtask setup` (it creates {})",
        venv.display()
    );
    venv
}

/// Runs `pyjwt_sign.py ARGS` with `EMBED_SECRET=secret` and returns its one line of output.
fn pyjwt(secret: &str, args: &[&str]) -> String {
    let python = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyjwt_sign.py");
    let out = Command::new(&python)
        .arg(script)
        .args(args)
        .env("EMBED_SECRET", secret)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run `cargo xtask setup`", python.display()));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.success(),
        "{} {script} failed ({}); does it have PyJWT? (`cargo xtask setup`)\nstdout: {stdout}\nstderr: {stderr}",
        python.display(),
        out.status
    );
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    stdout.trim_end().to_owned()
}

#[test]
fn pyjwt_tokens_verify_in_embedgate() {
    let secret = keygen("secret");
    let cid = keygen("client-id");

    // PyJWT signs, embedgate verifies.
    let now = NOW.to_string();
    let token = pyjwt(&secret, &[&cid, "py@example.com", &now, "600"]);
    assert_eq!(token.split('.').count(), 3, "{token}");
    let out = embedgate(
        &["verify", "--client-id", &cid, "--secret-env", SECRET_VAR, "--now", &now, "--", &token],
        Some(&secret),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.is_empty() && out.hides(&secret), "{out:?}");
    let body = out.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["sub"], "py@example.com");
    assert_eq!(body["client_id"], cid.as_str());
    assert_eq!(body["account_type"], "viewer");
    assert_eq!(body["teams"], serde_json::json!(["sales"]));
    assert_eq!(body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(), 600);
    assert!(body["jti"].as_str().is_some_and(|j| j.len() == 32), "uuid4 hex jti: {body}");
    // And embedgate refuses it under another secret.
    let out = embedgate(
        &["verify", "--client-id", &cid, "--secret-env", SECRET_VAR, "--now", &now, "--", &token],
        Some(&keygen("secret")),
    );
    assert_eq!((out.code, out.json()["error"].as_str()), (Some(1), Some("bad_signature")), "{out:?}");

    // embedgate signs (against the real clock: PyJWT checks exp against it), PyJWT verifies.
    let args = [
        "sign",
        "--client-id",
        &cid,
        "--secret-env",
        SECRET_VAR,
        "--sub",
        "host@example.com",
        "--claim",
        "account_type=explorer",
        "--ttl",
        "10m",
    ];
    let token = embedgate(&args, Some(&secret)).line();
    let real_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let claims: Value = serde_json::from_str(&pyjwt(&secret, &["verify", &cid, &token, &real_now])).unwrap();
    assert_eq!(claims["sub"], "host@example.com");
    assert_eq!(claims["account_type"], "explorer");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");
}
