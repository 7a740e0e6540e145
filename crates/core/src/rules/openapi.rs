//! OpenAPI schemas of the rule types (feature `openapi`, used by the admin
//! to publish its API): built from the same constants as the rules, so the
//! document states the limits the parsers enforce.

use std::borrow::Cow;

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::{
    AllowedOrigins, CredentialName, CredentialStatus, Cutoff, Description, Email, MemberStatus, Origin, Privileges,
    TokenLifetime, EMAIL_CHARS, MAX_ALLOWED_ORIGINS, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS,
};
use crate::public_key::{Algorithm, PublicJwk, MAX_JWK_BYTES};
use crate::region::Region;
use crate::types::{AccountType, ClientId, OrgSlug, Privilege};
use crate::validation::MAX_LIFETIME_CAP_S;

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description))
}

fn names(description: &str, values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    string(description).enum_values(Some(values)).into()
}

macro_rules! schema {
    ($ty:ty, $name:literal, $build:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $build
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

schema!(
    CredentialName,
    "CredentialName",
    string("Unique within the org; trimmed; no control or bidirectional-override characters.")
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .into()
);
schema!(
    Description,
    "Description",
    string("No control characters but line breaks and tabs; no bidirectional-override characters.")
        .max_length(Some(MAX_DESCRIPTION_CHARS))
        .into()
);
schema!(
    Email,
    "Email",
    string("An email address, lower-cased.")
        .min_length(Some(*EMAIL_CHARS.start()))
        .max_length(Some(*EMAIL_CHARS.end()))
        .into()
);
schema!(
    Origin,
    "Origin",
    string("An http(s) origin, scheme://host[:port], lower-cased, without a path.")
        .examples(["https://app.example.com"])
        .into()
);
schema!(
    AllowedOrigins,
    "AllowedOrigins",
    ArrayBuilder::new()
        .items(
            string(
                "An http(s) origin (scheme://host[:port], lower-cased, without a path), 'self' (the edge's own \
                    origin, shared by every tenant), or \"*\" (any page; alone)."
            )
            .examples(["https://app.example.com"])
        )
        .max_items(Some(MAX_ALLOWED_ORIGINS))
        .description(Some(
            "Pages allowed to frame the credential's embeds. Empty: none may (frame-ancestors 'none'); [\"*\"]: any."
        ))
        .into()
);
schema!(
    Privileges,
    "Privileges",
    ArrayBuilder::new()
        .items(Privilege::schema())
        .min_items(Some(1))
        .unique_items(true)
        .description(Some("What the credential may be used for."))
        .into()
);
schema!(
    TokenLifetime,
    "TokenLifetime",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_LIFETIME_CAP_S))
        .description(Some("The longest token lifetime (exp - iat) accepted, in seconds."))
        .into()
);
schema!(
    Cutoff,
    "Cutoff",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .description(Some(
            "Unix seconds: tokens issued before it are refused. At most one day after the server's clock."
        ))
        .into()
);
schema!(AccountType, "AccountType", names("A member's account type.", AccountType::ALL.map(AccountType::as_str)));
schema!(Privilege, "Privilege", names("A privilege.", Privilege::ALL.map(Privilege::as_str)));
schema!(
    CredentialStatus,
    "CredentialStatus",
    names(
        "active: tokens accepted; revoked: for good; owner_inactive: the owner is deactivated.",
        CredentialStatus::ALL.map(CredentialStatus::as_str)
    )
);
schema!(MemberStatus, "MemberStatus", names("A member's status.", MemberStatus::ALL.map(MemberStatus::as_str)));
schema!(
    ClientId,
    "ClientId",
    string("A credential's public ID: 32 to 64 lower-case hex characters.").pattern(Some("^[0-9a-f]{32,64}$")).into()
);
schema!(OrgSlug, "OrgSlug", string("An org slug.").pattern(Some("^[a-z0-9-]{1,63}$")).into());
schema!(
    Region,
    "Region",
    names("A Durable Objects location hint (a region of the edge).", Region::ALL.map(Region::as_str))
);
schema!(
    Algorithm,
    "Algorithm",
    names(
        "How the credential's tokens are signed: HS256 with a generated embed secret, ES256 (P-256) or EdDSA \
         (Ed25519) with the host app's private key.",
        ["HS256", "ES256", "EdDSA"]
    )
);
schema!(PublicJwk, "PublicJwk", {
    let member = |description: &str| string(description);
    ObjectBuilder::new()
        .description(Some(format!(
            "A public key as a JWK (RFC 7517): EC P-256 (ES256; kty EC, crv P-256, x and y) or OKP Ed25519 \
             (EdDSA; kty OKP, crv Ed25519, x). Public members only: a private key (d) is refused. alg and use, \
             if given, must fit the key (ES256 or EdDSA; sig); kid and other members are ignored. At most \
             {MAX_JWK_BYTES} bytes of JSON. Answers give it in canonical form."
        )))
        .property("kty", member("Key type.").enum_values(Some(["EC", "OKP"])))
        .property("crv", member("Curve.").enum_values(Some(["P-256", "Ed25519"])))
        .property("x", member("The x coordinate (EC) or the public key (OKP): unpadded base64url of 32 bytes."))
        .property("y", member("The y coordinate (EC only): unpadded base64url of 32 bytes."))
        .required("kty")
        .required("crv")
        .required("x")
        .examples([serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        })])
        .into()
});
