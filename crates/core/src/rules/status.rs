//! Statuses: a member's, and a credential's, decided in one place.

use serde::{Deserialize, Serialize};

/// Whether a member may act (sign in, own working credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// May sign in; their credentials work.
    Active,
    /// Deactivated by an admin: their tokens and the credentials they own stop working.
    Deactivated,
}

impl MemberStatus {
    /// Both, active first.
    pub const ALL: [Self; 2] = [Self::Active, Self::Deactivated];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }

    /// The status a stored name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A credential's status: what the API and the console show, and whether
/// the edges accept its tokens. [`CredentialStatus::of`] is the only place it
/// is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    /// Its tokens are accepted.
    Active,
    /// Revoked by an admin: for good.
    Revoked,
    /// Its owner is deactivated: refused like a revoked one until the owner
    /// is active again.
    OwnerInactive,
}

impl CredentialStatus {
    /// Every status.
    pub const ALL: [Self; 3] = [Self::Active, Self::Revoked, Self::OwnerInactive];

    /// A credential's status: revoked wins; otherwise an owner who is not
    /// active suspends it.
    pub const fn of(revoked: bool, owner: MemberStatus) -> Self {
        match (revoked, owner) {
            (true, _) => Self::Revoked,
            (false, MemberStatus::Deactivated) => Self::OwnerInactive,
            (false, MemberStatus::Active) => Self::Active,
        }
    }

    /// Whether the edges accept the credential's tokens (and its sessions go on).
    pub const fn accepts_tokens(self) -> bool {
        matches!(self, Self::Active)
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::OwnerInactive => "owner_inactive",
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn revoked_wins_then_the_owner_decides() {
        use CredentialStatus as C;
        use MemberStatus as M;
        assert_eq!(C::of(false, M::Active), C::Active);
        assert_eq!(C::of(false, M::Deactivated), C::OwnerInactive);
        assert_eq!(C::of(true, M::Active), C::Revoked);
        assert_eq!(C::of(true, M::Deactivated), C::Revoked);
        assert_eq!(C::ALL.iter().filter(|s| s.accepts_tokens()).count(), 1);
        assert_eq!(serde_json::to_string(&C::OwnerInactive).unwrap(), "\"owner_inactive\"");
        assert_eq!(M::from_name("deactivated"), Some(M::Deactivated));
    }
}
