//! # embedgate-wasm
//!
//! The browser's (and node's) face of [`embedgate_core`], built with
//! wasm-bindgen `--target web` into `www/pkg` by `cargo xtask www`:
//!
//! ```js
//! import init, { inspect, explain, verify, sign, errorCodes } from "/pkg/embedgate_wasm.js";
//! await init();            // node: initSync({ module: fs.readFileSync(".../embedgate_wasm_bg.wasm") })
//! inspect(token)           // {parts, header, claims, header_error, claims_error, kid}; never throws
//! explain(token, key, options)     // {result, rules: [{rule, title, verdict, detail?}]}
//! verify(token, key, options)      // the JSON line of `embedgate verify`: {ok:true,…} | {error, message}
//! keyInfo(key)             // {kind:"secret"} | {kind:"public_key", algorithm, thumbprint}
//! sign({client_id, secret, sub, ttl_s, now, claims})  // a token
//! errorCodes()             // [{code, status}] of architecture.md §4
//! rules()                  // the field limits, account types, privileges, statuses
//! checkField(field, value) // null, or the sentence the admin's 422 would give ("name must be …")
//! checkBody(kind, body)    // {ok:true} | {ok:false, field, message}; kind: credential,
//!                          //   credential_patch, member, member_patch
//! ```
//!
//! `key` is the credential's key as a person pastes it: its embed secret,
//! or, for an asymmetric credential (ES256 or EdDSA), the host app's public
//! key as a JWK (text starting with `{`; [`KeyRing::from_key_text`]). A JWK
//! that is not a valid public key throws an `Error` starting with `key: `
//! and saying why, never with the key's text.
//!
//! `options` is [`embedgate_core::OfflineCheck`] as a plain object (every
//! key optional; unknown keys are an error); a bad option throws an `Error`
//! whose message starts with the field's name. It is the same core as the
//! edge's and the CLI's, so the codes are the same by construction.
//!
//! The functions below work on JSON values and are tested natively; the
//! `bindings` module only converts between them and JavaScript values.

use embedgate_core::{
    sign as sign_token, ClientId, EmbedSecret, Inspection, JwkError, KeyRing, OfflineCheck, PublicJwk, VerifyError,
};
use serde_json::{json, Map, Value};

/// A caller's mistake (bad options or sign input): `"<field>: <why>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl core::fmt::Display for InputError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

fn options(value: Value) -> Result<OfflineCheck, InputError> {
    let value = if value.is_null() { json!({}) } else { value };
    serde_json::from_value(value).map_err(|e| InputError(format!("options: {e}")))
}

fn secret_of(secret: Option<&str>) -> Option<EmbedSecret> {
    secret.filter(|s| !s.is_empty()).map(|s| EmbedSecret::new(s.to_owned()))
}

/// A refused JWK as the caller's mistake: `key: <why>`, in the admin's
/// words for a `public_key` (fixed text: never the key's).
fn jwk_error(e: &JwkError) -> InputError {
    InputError(format!("key: {e}"))
}

/// The key ring of a pasted key (secret or public JWK); `None` when empty.
/// A bad JWK is the caller's mistake, said without the key's text.
fn keys_of(key: Option<&str>) -> Result<Option<KeyRing>, InputError> {
    match key.filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(text) => KeyRing::from_key_text(text, 1).map(Some).map_err(|e| jwk_error(&e)),
    }
}

/// What a pasted key is: `{"kind":"secret"}`, or `{"kind":"public_key",
/// "algorithm","thumbprint"}` for a valid public JWK (RFC 7638 thumbprint).
/// Empty text, or a JWK that is not a valid public key, is an error
/// (`key: <why>`; a private JWK says to give the public key only).
pub fn key_info_value(key: &str) -> Result<Value, InputError> {
    if key.is_empty() {
        return Err(InputError("key: the embed secret or the public key (JWK) is required".into()));
    }
    if !embedgate_core::public_key::looks_like_jwk(key) {
        return Ok(json!({"kind": "secret"}));
    }
    let jwk = PublicJwk::parse(key).map_err(|e| jwk_error(&e))?;
    Ok(json!({"kind": "public_key", "algorithm": jwk.algorithm().as_str(), "thumbprint": jwk.thumbprint()}))
}

/// What the token says, unverified.
pub fn inspect_value(token: &str) -> Value {
    serde_json::to_value(Inspection::of(token)).unwrap_or(Value::Null)
}

/// Every rule's verdict and the final answer. `key`: the embed secret or
/// the public JWK (`None` or empty: only the rules before the signature).
pub fn explain_value(token: &str, key: Option<&str>, options_value: Value, now: i64) -> Result<Value, InputError> {
    let check = options(options_value)?;
    let keys = keys_of(key)?;
    let report = check.explain(token, keys.as_ref(), now).map_err(|e| InputError(e.to_string()))?;
    serde_json::to_value(report).map_err(|e| InputError(e.to_string()))
}

/// The answer of `embedgate verify` for the same token, key (embed secret
/// or public JWK) and options.
pub fn verify_value(token: &str, key: &str, options_value: Value, now: i64) -> Result<Value, InputError> {
    let check = options(options_value)?;
    let keys = keys_of(Some(key))?
        .ok_or_else(|| InputError("key: the embed secret or the public key (JWK) is required".into()))?;
    let result = check.verify(token, &keys, now).map_err(|e| InputError(e.to_string()))?;
    Ok(check.answer(&result))
}

/// Signs a test token: `{client_id, secret, sub, ttl_s?, now?, claims?}`;
/// `claims` are added to (or override) the generated ones.
pub fn sign_value(input: &Value, now: i64) -> Result<String, InputError> {
    let text = |name: &str| input.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let client_id: ClientId = text("client_id")
        .ok_or_else(|| InputError("client_id: required".into()))?
        .parse()
        .map_err(|e| InputError(format!("client_id: {e}")))?;
    let secret = secret_of(text("secret")).ok_or_else(|| InputError("secret: required".into()))?;
    let sub = text("sub").ok_or_else(|| InputError("sub: required".into()))?;
    let ttl = match input.get("ttl_s") {
        None | Some(Value::Null) => 600,
        Some(v) => v
            .as_i64()
            // The verifier's own cap: a longer test token could only be refused.
            .filter(|t| u64::try_from(*t).is_ok_and(|t| (1..=embedgate_core::MAX_LIFETIME_CAP_S).contains(&t)))
            .ok_or_else(|| InputError("ttl_s: must be 1 second to 30 days".into()))?,
    };
    let now = match input.get("now") {
        None | Some(Value::Null) => now,
        Some(v) => v.as_i64().ok_or_else(|| InputError("now: must be Unix seconds".into()))?,
    };
    let jti = embedgate_core::random_jti().map_err(|e| InputError(format!("random source: {e}")))?;
    let mut claims = Map::new();
    claims.insert("sub".into(), sub.into());
    claims.insert("jti".into(), jti.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl).into());
    match input.get("claims") {
        None | Some(Value::Null) => {}
        Some(Value::Object(extra)) => claims.extend(extra.clone()),
        Some(_) => return Err(InputError("claims: must be an object".into())),
    }
    sign_token(&claims, &client_id, &secret).map_err(|e| InputError(format!("claims: {e}")))
}

/// The field limits and names the console shows (`rules()`).
pub fn rules_value() -> Value {
    embedgate_core::rules::limits()
}

/// `None` when `value` obeys `field`'s rule, else the admin's 422 message.
pub fn check_field_value(field: &str, value: &Value, now: i64) -> Option<String> {
    embedgate_core::rules::check_field(field, value, now).err().map(|e| e.to_string())
}

/// A whole request body of `kind` checked as the admin checks it:
/// `{"ok":true}` or `{"ok":false,"field","message"}` (the first broken rule).
pub fn check_body_value(kind: &str, body: Value, now: i64) -> Result<Value, InputError> {
    use embedgate_core::rules::{parse_body, CredentialPatch, MemberPatch, NewCredential, NewMember};
    let result = match kind {
        "credential" => parse_body::<NewCredential>(body, now).map(drop),
        "credential_patch" => parse_body::<CredentialPatch>(body, now).map(drop),
        "member" => parse_body::<NewMember>(body, now).map(drop),
        "member_patch" => parse_body::<MemberPatch>(body, now).map(drop),
        _ => return Err(InputError("kind: one of credential, credential_patch, member, member_patch".into())),
    };
    Ok(match result {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "field": e.field, "message": e.to_string()}),
    })
}

/// The codes of architecture.md §4 with their HTTP status.
pub fn error_codes_value() -> Value {
    Value::Array(
        VerifyError::ONE_OF_EACH.iter().map(|e| json!({"code": e.code(), "status": e.http_status()})).collect(),
    )
}

#[cfg(target_arch = "wasm32")]
mod bindings {
    //! JavaScript values in, JavaScript values out.

    use wasm_bindgen::prelude::*;

    /// Through JSON text both ways: plain objects (not Maps), and numbers
    /// beyond 2^53 (a hostile `iat`) become JS numbers instead of failing.
    fn to_js(value: &serde_json::Value) -> JsValue {
        js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
    }

    fn from_js(value: &JsValue) -> Result<serde_json::Value, JsError> {
        if value.is_undefined() || value.is_null() {
            return Ok(serde_json::Value::Null);
        }
        let text = js_sys::JSON::stringify(value)
            .ok()
            .and_then(|t| t.as_string())
            .ok_or_else(|| JsError::new("options: not representable as JSON"))?;
        serde_json::from_str(&text).map_err(|e| JsError::new(&format!("options: {e}")))
    }

    fn now() -> i64 {
        // Whole seconds; the float is far inside i64's range.
        #[allow(clippy::cast_possible_truncation)]
        let secs = (js_sys::Date::now() / 1000.0).floor() as i64;
        secs
    }

    fn input_error(e: &super::InputError) -> JsError {
        JsError::new(&e.0)
    }

    /// What a token says, decoded for reading; nothing is verified. Never throws.
    #[wasm_bindgen]
    pub fn inspect(token: &str) -> JsValue {
        to_js(&super::inspect_value(token))
    }

    /// Every §4 rule's verdict and the final answer. `key` (the embed secret
    /// or the public JWK) may be null.
    #[wasm_bindgen]
    #[allow(clippy::needless_pass_by_value, reason = "wasm-bindgen passes JS strings by value")]
    pub fn explain(token: &str, key: Option<String>, options: &JsValue) -> Result<JsValue, JsError> {
        super::explain_value(token, key.as_deref(), from_js(options)?, now())
            .map(|v| to_js(&v))
            .map_err(|e| input_error(&e))
    }

    /// The answer `embedgate verify` gives: `{ok:true,…}` or `{error, message}`.
    #[wasm_bindgen]
    pub fn verify(token: &str, key: &str, options: &JsValue) -> Result<JsValue, JsError> {
        super::verify_value(token, key, from_js(options)?, now()).map(|v| to_js(&v)).map_err(|e| input_error(&e))
    }

    /// What a pasted key is: `{kind:"secret"}` or `{kind:"public_key", algorithm, thumbprint}`;
    /// throws `key: <why>` for a JWK that is not a valid public key.
    #[wasm_bindgen(js_name = keyInfo)]
    pub fn key_info(key: &str) -> Result<JsValue, JsError> {
        super::key_info_value(key).map(|v| to_js(&v)).map_err(|e| input_error(&e))
    }

    /// Signs a test token from `{client_id, secret, sub, ttl_s?, now?, claims?}`.
    #[wasm_bindgen]
    pub fn sign(input: &JsValue) -> Result<String, JsError> {
        super::sign_value(&from_js(input)?, now()).map_err(|e| input_error(&e))
    }

    /// The field limits, account types, privileges and statuses.
    #[wasm_bindgen]
    pub fn rules() -> JsValue {
        to_js(&super::rules_value())
    }

    /// `null` when `value` obeys the field's rule, else the sentence the admin would answer.
    #[wasm_bindgen(js_name = checkField)]
    pub fn check_field(field: &str, value: &JsValue) -> Result<Option<String>, JsError> {
        Ok(super::check_field_value(field, &from_js(value)?, now()))
    }

    /// A whole request body: `{ok:true}` or `{ok:false, field, message}`.
    #[wasm_bindgen(js_name = checkBody)]
    pub fn check_body(kind: &str, body: &JsValue) -> Result<JsValue, JsError> {
        super::check_body_value(kind, from_js(body)?, now()).map(|v| to_js(&v)).map_err(|e| input_error(&e))
    }

    /// `[{code, status}]` for every architecture.md §4 code.
    #[wasm_bindgen(js_name = errorCodes)]
    pub fn error_codes() -> JsValue {
        to_js(&super::error_codes_value())
    }
}
