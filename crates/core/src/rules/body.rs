//! The admin API's request bodies as typed values, and [`parse_body`], which
//! turns a JSON body into one or names the field that broke a rule.
//!
//! Every body is a JSON object; a key the body does not have, or a change
//! that names no field, is refused as a whole (`body`); a missing required
//! field or a value that breaks its rule is refused by its name. The same
//! function serves the admin (422 `invalid_input` with `field`) and the
//! browser module (the console shows the message by the field).

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::fields::text;
use super::key::{optional_public_key, public_key_of};
use super::{
    AllowedOrigins, CredentialName, Cutoff, Description, Email, FieldError, Privileges, RuleError, TokenLifetime,
};
use crate::public_key::PublicJwk;
use crate::types::AccountType;

/// A request body: a struct whose fields are rule types.
pub trait Body: DeserializeOwned {
    /// Whether an object without any field is refused (a change must name one).
    const AT_LEAST_ONE_FIELD: bool = false;

    /// The rules that need the clock (`now`, Unix seconds), after every field parsed.
    fn check(&self, now: i64) -> Result<(), FieldError> {
        let _ = now;
        Ok(())
    }
}

/// Parses `body` as a `T`: an object, only `T`'s fields, each under its
/// rule, required ones present, then [`Body::check`] at `now`. The first
/// broken rule is the error; its message never contains the value.
pub fn parse_body<T: Body>(body: Value, now: i64) -> Result<T, FieldError> {
    let fields = fields_of::<T>();
    let Value::Object(map) = body else {
        return Err(FieldError::new("body", RuleError::NotAnObject));
    };
    if map.keys().any(|key| !fields.contains(&key.as_str())) {
        return Err(FieldError::new("body", RuleError::UnknownField(fields)));
    }
    if T::AT_LEAST_ONE_FIELD && map.is_empty() {
        return Err(FieldError::new("body", RuleError::NothingToChange(fields)));
    }
    // A public key's refusal says why in more than one sentence: kept to name it again.
    let public_key = map.get("public_key").cloned();
    let parsed: T = serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let message = e.inner().to_string();
        let key = match e.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        if let Some(key) = key {
            if let (Some(Err(rule)), "public_key") = (public_key.as_ref().map(public_key_of), key.as_str()) {
                return FieldError::new("public_key", RuleError::PublicKey(rule));
            }
            return FieldError::new(static_name(fields, &key), rule_named(&message));
        }
        // Only a missing field fails at the object itself (serde: "missing field `x`").
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
        missing.map_or(FieldError::new("body", RuleError::NotAnObject), |name| {
            FieldError::new(static_name(fields, name), RuleError::Required)
        })
    })?;
    parsed.check(now)?;
    Ok(parsed)
}

/// Checks one field's value on its own, as the body that holds it would:
/// the console's hint under each input. `null` is fine for the optional
/// fields; `now` bounds a cutoff.
pub fn check_field(field: &str, value: &Value, now: i64) -> Result<(), FieldError> {
    fn under<T: DeserializeOwned>(value: &Value, field: &'static str, rule: RuleError) -> Result<T, FieldError> {
        T::deserialize(value).map_err(|_| FieldError::new(field, rule))
    }
    match field {
        "name" => under::<CredentialName>(value, "name", RuleError::Name).map(drop),
        "description" => under::<Option<Description>>(value, "description", RuleError::Description).map(drop),
        "owner" => under::<Email>(value, "owner", RuleError::Email).map(drop),
        "email" => under::<Email>(value, "email", RuleError::Email).map(drop),
        "privileges" => under::<Privileges>(value, "privileges", RuleError::Privileges).map(drop),
        "allowed_origins" => {
            under::<Option<AllowedOrigins>>(value, "allowed_origins", RuleError::AllowedOrigins).map(drop)
        }
        "max_token_lifetime_s" => {
            under::<Option<TokenLifetime>>(value, "max_token_lifetime_s", RuleError::TokenLifetime).map(drop)
        }
        "not_before_cutoff" => check_cutoff(under(value, "not_before_cutoff", RuleError::Cutoff)?, now),
        "account_type" => {
            let Value::String(s) = value else { return Err(FieldError::new("account_type", RuleError::AccountType)) };
            s.parse::<AccountType>().map(drop).map_err(|_| FieldError::new("account_type", RuleError::AccountType))
        }
        "public_key" if value.is_null() => Ok(()),
        "public_key" => {
            public_key_of(value).map(drop).map_err(|rule| FieldError::new("public_key", RuleError::PublicKey(rule)))
        }
        _ => Err(FieldError::new("body", RuleError::UnknownField(CHECKED_FIELDS))),
    }
}

/// The fields [`check_field`] knows.
const CHECKED_FIELDS: &[&str] = &[
    "name",
    "description",
    "owner",
    "email",
    "privileges",
    "allowed_origins",
    "max_token_lifetime_s",
    "not_before_cutoff",
    "account_type",
    "public_key",
];

/// The declared name equal to `key` (keys were checked against them above).
fn static_name(fields: &'static [&'static str], key: &str) -> &'static str {
    fields.iter().copied().find(|f| *f == key).unwrap_or("body")
}

/// The rule whose sentence `message` is: every field type fails with its
/// rule's own sentence, so this finds it.
fn rule_named(message: &str) -> RuleError {
    const FIELD_RULES: [RuleError; 11] = [
        RuleError::Name,
        RuleError::Description,
        RuleError::Email,
        RuleError::Origin,
        RuleError::AllowedOrigins,
        RuleError::Privileges,
        RuleError::TokenLifetime,
        RuleError::Cutoff,
        RuleError::AccountType,
        RuleError::Region,
        RuleError::Confirm,
    ];
    FIELD_RULES.into_iter().find(|rule| message == rule.to_string()).unwrap_or(RuleError::NotAnObject)
}

/// The field names serde's derive declares for `T`, read by asking `T` to
/// deserialize from a probe that records them (no list to keep in step).
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// `Some(value)` for a present field; `null` is given to `T` (which refuses it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// What a change does to an optional field: absent keeps it, `null` clears
/// it, a value sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Absent: unchanged.
    #[default]
    Keep,
    /// `null`: cleared.
    Clear,
    /// A new value.
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map_or(Self::Clear, Self::Set))
    }
}

/// `null` as the empty list.
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<AllowedOrigins, D::Error> {
    Option::<AllowedOrigins>::deserialize(d).map(Option::unwrap_or_default)
}

/// An account type under [`RuleError::AccountType`].
fn account_type<'de, D: Deserializer<'de>>(d: D) -> Result<AccountType, D::Error> {
    text(d, RuleError::AccountType, |s| s.parse().map_err(|_| RuleError::AccountType))
}

/// `POST …/credentials`: a new credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCredential {
    /// Unique within the org.
    pub name: CredentialName,
    /// What it is for.
    #[serde(default)]
    pub description: Option<Description>,
    /// An active member of the org; their account type bounds what the credential may sign.
    pub owner: Email,
    /// What it may be used for.
    pub privileges: Privileges,
    /// Pages allowed to frame its embeds (absent or null: any).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub allowed_origins: AllowedOrigins,
    /// The longest token lifetime (`exp − iat`) accepted, in seconds.
    #[serde(default)]
    pub max_token_lifetime_s: Option<TokenLifetime>,
    /// Tokens issued before this Unix time are refused (at most a day ahead).
    #[serde(default)]
    pub not_before_cutoff: Option<Cutoff>,
    /// The host app's public key (ES256 over P-256 or EdDSA over Ed25519, a
    /// JWK with its public members only): the credential verifies tokens
    /// signed with its private key, and no secret is generated. Absent or
    /// null: a generated embed secret (HS256).
    #[serde(default, deserialize_with = "optional_public_key")]
    pub public_key: Option<PublicJwk>,
}

impl Body for NewCredential {
    fn check(&self, now: i64) -> Result<(), FieldError> {
        check_cutoff(self.not_before_cutoff, now)
    }
}

fn check_cutoff(cutoff: Option<Cutoff>, now: i64) -> Result<(), FieldError> {
    match cutoff {
        Some(c) => c.check_at(now).map(drop).map_err(|rule| FieldError::new("not_before_cutoff", rule)),
        None => Ok(()),
    }
}

/// `PATCH …/credentials/{client_id}`: the fields to change (the rest stay).
/// `null` clears an optional field; `name` and `privileges` cannot be null.
/// Ownership does not move.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialPatch {
    /// A new name (unique within the org).
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<CredentialName>,
    /// A new description (null: none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Description>))]
    pub description: Patch<Description>,
    /// New privileges.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub privileges: Option<Privileges>,
    /// New allowed origins (null: any).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<AllowedOrigins>))]
    pub allowed_origins: Patch<AllowedOrigins>,
    /// A new token lifetime limit (null: only the 30-day cap).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<TokenLifetime>))]
    pub max_token_lifetime_s: Patch<TokenLifetime>,
    /// A new cutoff (null: none); set it to now to refuse every token issued so far.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Cutoff>))]
    pub not_before_cutoff: Patch<Cutoff>,
}

impl Body for CredentialPatch {
    const AT_LEAST_ONE_FIELD: bool = true;

    fn check(&self, now: i64) -> Result<(), FieldError> {
        match self.not_before_cutoff {
            Patch::Set(c) => check_cutoff(Some(c), now),
            Patch::Keep | Patch::Clear => Ok(()),
        }
    }
}

/// `POST …/credentials/{client_id}/rotate`: the new key of the rotation.
/// A credential that signs with a generated secret rotates to a new secret
/// (no body, or no `public_key`); one that signs with a public key must be
/// given its new public key. The store decides which it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialRotation {
    /// The new public key (ES256 or EdDSA, a public JWK): required for a
    /// credential that signs with a public key, refused for one that signs
    /// with a generated secret. It may change the algorithm.
    #[serde(default, deserialize_with = "optional_public_key")]
    pub public_key: Option<PublicJwk>,
}

impl Body for CredentialRotation {}

/// `PATCH …/settings`: where the org's replay guards live at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgSettingsPatch {
    /// A Durable Objects location hint near the org's users (wnam, enam, sam, weur, eeur, apac, oc, afr, me).
    #[serde(deserialize_with = "region")]
    pub home_region: crate::Region,
}

impl Body for OrgSettingsPatch {}

/// `POST …/keys/rotate`: an emergency rotation of the org's key material,
/// confirmed by repeating the org's slug (every credential gets a new secret).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgKeyRotation {
    /// The org's slug, repeated: the rotation breaks every embed until the
    /// host apps have their new secrets.
    #[serde(deserialize_with = "confirm")]
    pub confirm: String,
}

impl Body for OrgKeyRotation {}

/// Any string under [`RuleError::Confirm`] (compared with the org by the caller).
fn confirm<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d, RuleError::Confirm, |s| if s.len() <= 63 { Ok(s.to_owned()) } else { Err(RuleError::Confirm) })
}

/// A region under [`RuleError::Region`].
fn region<'de, D: Deserializer<'de>>(d: D) -> Result<crate::Region, D::Error> {
    text(d, RuleError::Region, |s| s.parse().map_err(|_| RuleError::Region))
}

/// `POST …/members`: a new member.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMember {
    /// Their email address (stored lower-cased).
    pub email: Email,
    /// What they may do.
    #[serde(deserialize_with = "account_type")]
    pub account_type: AccountType,
}

impl Body for NewMember {}

/// `PATCH …/members/{email}`: a new account type (nothing else changes here).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberPatch {
    /// The new account type.
    #[serde(deserialize_with = "account_type")]
    pub account_type: AccountType,
}

impl Body for MemberPatch {}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn field_of<T: Body + core::fmt::Debug>(body: &Value) -> &'static str {
        parse_body::<T>(body.clone(), NOW).map(|v| panic!("{body} parsed as {v:?}")).unwrap_err().field
    }

    #[test]
    fn a_new_credential_parses_every_field_under_its_rule() {
        let ok = json!({"name": " Portal ", "owner": " ADMIN@acme.test ", "privileges": ["api", "api"],
            "allowed_origins": ["https://A.example/"], "max_token_lifetime_s": 2_592_000, "not_before_cutoff": NOW});
        let c: NewCredential = parse_body(ok, NOW).unwrap();
        assert_eq!((c.name.as_str(), c.owner.as_str()), ("Portal", "admin@acme.test"));
        assert_eq!(
            c.allowed_origins.iter().map(crate::rules::Origin::as_str).collect::<Vec<_>>(),
            ["https://a.example"]
        );
        let minimal: NewCredential = parse_body(
            json!({"name": "x", "owner": "a@b.c", "privileges": ["embedding"], "allowed_origins": null}),
            NOW,
        )
        .unwrap();
        assert!(minimal.allowed_origins.is_empty() && minimal.description.is_none());
    }

    #[test]
    fn the_offending_field_is_named() {
        let base = json!({"name": "x", "owner": "a@b.c", "privileges": ["embedding"]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = base.clone();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        for (body, field) in [
            (json!([1, 2]), "body"),
            (json!("x"), "body"),
            (with("secret", json!("y")), "body"),
            (without("name"), "name"),
            (with("name", json!(42)), "name"),
            (with("name", json!(null)), "name"),
            (without("owner"), "owner"),
            (with("owner", json!("not-an-email")), "owner"),
            (without("privileges"), "privileges"),
            (with("privileges", json!("embedding")), "privileges"),
            (with("privileges", json!([])), "privileges"),
            (with("allowed_origins", json!([7])), "allowed_origins"),
            (with("allowed_origins", json!("https://a.example")), "allowed_origins"),
            (with("description", json!(["x"])), "description"),
            (with("max_token_lifetime_s", json!("60")), "max_token_lifetime_s"),
            (with("not_before_cutoff", json!(-1)), "not_before_cutoff"),
            (with("not_before_cutoff", json!(NOW + 86_401)), "not_before_cutoff"),
        ] {
            assert_eq!(field_of::<NewCredential>(&body), field, "{body}");
        }
    }

    #[test]
    fn a_public_key_is_named_with_the_reason_it_was_refused() {
        use crate::public_key::{Algorithm, SigningJwk};
        let key = SigningJwk::generate(Algorithm::EdDsa).unwrap();
        let body = |public_key: Value| json!({"name": "x", "owner": "a@b.c", "privileges": ["embedding"], "public_key": public_key});
        let c: NewCredential = parse_body(body(serde_json::to_value(key.public()).unwrap()), NOW).unwrap();
        assert_eq!(c.public_key, Some(key.public()));
        let c: NewCredential = parse_body(body(Value::Null), NOW).unwrap();
        assert_eq!(c.public_key, None);
        let private: Value = serde_json::from_str(&key.to_json()).unwrap();
        let e = parse_body::<NewCredential>(body(private), NOW).unwrap_err();
        assert_eq!(e, FieldError::new("public_key", RuleError::PublicKey(crate::JwkError::PrivateKey)));
        assert!(e.to_string().starts_with("public_key is refused: this JWK holds a private key"), "{e}");
        let e = parse_body::<NewCredential>(body(json!("egs_not_a_key")), NOW).unwrap_err();
        assert_eq!(e.field, "public_key");
        assert!(!e.to_string().contains("egs_not_a_key"), "{e}");
        let r: CredentialRotation = parse_body(json!({}), NOW).unwrap();
        assert_eq!(r, CredentialRotation::default());
        assert_eq!(field_of::<CredentialRotation>(&json!({"public_key": {"kty": "RSA"}})), "public_key");
        assert_eq!(field_of::<CredentialRotation>(&json!({"secret": "x"})), "body");
        assert_eq!(check_field("public_key", &json!(null), NOW), Ok(()));
        assert_eq!(check_field("public_key", &json!([1]), NOW).unwrap_err().field, "public_key");
    }

    #[test]
    fn a_patch_names_at_least_one_field_and_null_clears_only_optional_ones() {
        assert_eq!(
            parse_body::<CredentialPatch>(json!({}), NOW).unwrap_err(),
            FieldError::new(
                "body",
                RuleError::NothingToChange(&[
                    "name",
                    "description",
                    "privileges",
                    "allowed_origins",
                    "max_token_lifetime_s",
                    "not_before_cutoff"
                ])
            )
        );
        for (body, field) in [
            (json!({"owner": "a@b.c"}), "body"),
            (json!({"name": null}), "name"),
            (json!({"privileges": null}), "privileges"),
            (json!({"name": "fine", "not_before_cutoff": -1}), "not_before_cutoff"),
            (json!({"not_before_cutoff": 1.5}), "not_before_cutoff"),
        ] {
            assert_eq!(field_of::<CredentialPatch>(&body), field, "{body}");
        }
        let p: CredentialPatch =
            parse_body(json!({"description": null, "allowed_origins": null, "max_token_lifetime_s": 60}), NOW).unwrap();
        assert_eq!(p.description, Patch::Clear);
        assert_eq!(p.allowed_origins, Patch::Clear);
        assert_eq!(p.max_token_lifetime_s, Patch::Set(TokenLifetime::new(60).unwrap()));
        assert_eq!((p.name, p.not_before_cutoff), (None, Patch::Keep));
    }

    #[test]
    fn one_field_is_checked_as_its_body_would_check_it() {
        assert_eq!(check_field("name", &json!(" ok "), NOW), Ok(()));
        assert_eq!(check_field("name", &json!(""), NOW), Err(FieldError::new("name", RuleError::Name)));
        assert_eq!(check_field("description", &json!(null), NOW), Ok(()));
        assert_eq!(check_field("owner", &json!("x"), NOW).unwrap_err().to_string(), "owner must be an email address");
        assert_eq!(
            check_field("allowed_origins", &json!(["https://a.example/x"]), NOW).unwrap_err().field,
            "allowed_origins"
        );
        assert_eq!(
            check_field("max_token_lifetime_s", &json!(2_592_001), NOW).unwrap_err().field,
            "max_token_lifetime_s"
        );
        assert_eq!(check_field("not_before_cutoff", &json!(NOW + 86_401), NOW).unwrap_err().field, "not_before_cutoff");
        assert_eq!(check_field("not_before_cutoff", &json!(NOW), NOW), Ok(()));
        assert_eq!(check_field("account_type", &json!("root"), NOW).unwrap_err().rule, RuleError::AccountType);
        assert_eq!(check_field("secret", &json!("x"), NOW).unwrap_err().field, "body");
    }

    #[test]
    fn member_bodies() {
        let m: NewMember = parse_body(json!({"email": "Bob@Acme.test", "account_type": "creator"}), NOW).unwrap();
        assert_eq!((m.email.as_str(), m.account_type), ("bob@acme.test", AccountType::Creator));
        for (body, field) in [
            (json!({}), "account_type"),
            (json!({"account_type": "root"}), "account_type"),
            (json!({"account_type": "Admin "}), "account_type"),
            (json!({"account_type": null}), "account_type"),
            (json!({"account_type": 1}), "account_type"),
            (json!({"account_type": "viewer", "status": "deactivated"}), "body"),
            (json!(["viewer"]), "body"),
        ] {
            assert_eq!(field_of::<MemberPatch>(&body), field, "{body}");
        }
        let e = parse_body::<MemberPatch>(json!({"account_type": 1}), NOW).unwrap_err();
        assert_eq!(e.to_string(), "account_type must be one of admin, creator, explorer, viewer");
    }
}
