//! Regions: where the edge keeps a replica of the state (one set of
//! Durable Objects per region, placed with the region's location hint), and
//! which replica a request reads (the one nearest its data centre).

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Durable Objects location hint (Cloudflare's region names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// Western North America.
    Wnam,
    /// Eastern North America.
    Enam,
    /// South America.
    Sam,
    /// Western Europe.
    Weur,
    /// Eastern Europe.
    Eeur,
    /// Asia-Pacific.
    Apac,
    /// Oceania.
    Oc,
    /// Africa.
    Afr,
    /// Middle East.
    Me,
}

/// Why a region list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// A name is not a location hint.
    #[error("not a region (one of wnam, enam, sam, weur, eeur, apac, oc, afr, me)")]
    Unknown,
    /// The list is empty or names a region twice.
    #[error("a region list names at least one region, each once")]
    List,
}

impl Region {
    /// Every region.
    pub const ALL: [Self; 9] =
        [Self::Wnam, Self::Enam, Self::Sam, Self::Weur, Self::Eeur, Self::Apac, Self::Oc, Self::Afr, Self::Me];

    /// The location hint's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wnam => "wnam",
            Self::Enam => "enam",
            Self::Sam => "sam",
            Self::Weur => "weur",
            Self::Eeur => "eeur",
            Self::Apac => "apac",
            Self::Oc => "oc",
            Self::Afr => "afr",
            Self::Me => "me",
        }
    }

    /// Parses `EMBEDGATE_REGIONS`: comma-separated names, at least one, no repeats.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, RegionError> {
        let mut out: Vec<Self> = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let region: Self = name.parse()?;
            if out.contains(&region) {
                return Err(RegionError::List);
            }
            out.push(region);
        }
        if out.is_empty() {
            return Err(RegionError::List);
        }
        Ok(out)
    }

    /// The regions nearest a continent, nearest first (Cloudflare's
    /// `request.cf.continent`: AF, AN, AS, EU, NA, OC, SA).
    fn nearest(continent: &str) -> &'static [Self] {
        use Region::{Afr, Apac, Eeur, Enam, Me, Oc, Sam, Weur, Wnam};
        match continent {
            "NA" => &[Enam, Wnam, Sam, Weur, Eeur, Apac, Oc, Me, Afr],
            "SA" => &[Sam, Enam, Wnam, Weur, Afr, Eeur, Me, Apac, Oc],
            "EU" => &[Weur, Eeur, Me, Enam, Afr, Wnam, Sam, Apac, Oc],
            "AF" => &[Afr, Weur, Me, Eeur, Enam, Sam, Apac, Wnam, Oc],
            "AS" => &[Apac, Me, Eeur, Oc, Weur, Wnam, Afr, Enam, Sam],
            "OC" => &[Oc, Apac, Wnam, Enam, Me, Eeur, Weur, Sam, Afr],
            "AN" => &[Oc, Sam, Afr, Apac, Wnam, Enam, Weur, Eeur, Me],
            _ => &[],
        }
    }

    /// The replica a request reads: the configured region nearest its
    /// continent, or the first configured one when the continent is unknown
    /// (`configured` must not be empty).
    pub fn for_request(configured: &[Self], continent: Option<&str>) -> Self {
        continent
            .map(Self::nearest)
            .and_then(|order| order.iter().copied().find(|r| configured.contains(r)))
            .or_else(|| configured.first().copied())
            .unwrap_or(Self::Wnam)
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, RegionError> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or(RegionError::Unknown)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::rules::text(d, RegionError::Unknown, str::parse)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn lists_parse_strictly() {
        assert_eq!(Region::parse_list("wnam, weur").unwrap(), [Region::Wnam, Region::Weur]);
        assert_eq!(Region::parse_list(""), Err(RegionError::List));
        assert_eq!(Region::parse_list("wnam,wnam"), Err(RegionError::List));
        assert_eq!(Region::parse_list("wnam,mars"), Err(RegionError::Unknown));
        assert!(serde_json::from_str::<Region>("7").is_err());
    }

    #[test]
    fn a_request_reads_the_nearest_configured_replica() {
        let two = [Region::Wnam, Region::Weur];
        assert_eq!(Region::for_request(&two, Some("EU")), Region::Weur);
        assert_eq!(Region::for_request(&two, Some("NA")), Region::Wnam);
        assert_eq!(Region::for_request(&two, Some("AS")), Region::Weur, "eeur/me/apac absent: weur before wnam");
        assert_eq!(Region::for_request(&two, None), Region::Wnam);
        assert_eq!(Region::for_request(&two, Some("??")), Region::Wnam);
        // Every continent reaches every region in its order.
        for continent in ["NA", "SA", "EU", "AF", "AS", "OC", "AN"] {
            let mut order = Region::nearest(continent).to_vec();
            order.sort();
            assert_eq!(order, Region::ALL, "{continent}");
        }
    }
}
