//! Durations as people write them (the CLI's flags, the edge's variables):
//! `90`, `90s`, `15m`, `1h`, `7d`.

/// Parses a duration into whole seconds (at least 1).
pub fn parse_seconds(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = digits.parse().map_err(|_| format!("`{s}` is not a duration like 90s, 15m, 1h or 7d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}` has an unknown unit (use s, m, h or d)")),
    };
    n.checked_mul(scale).filter(|&v| v > 0).ok_or_else(|| format!("`{s}` must be a positive duration"))
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn durations() {
        assert_eq!(parse_seconds("90"), Ok(90));
        assert_eq!(parse_seconds("90s"), Ok(90));
        assert_eq!(parse_seconds("15m"), Ok(900));
        assert_eq!(parse_seconds("1h"), Ok(3600));
        assert_eq!(parse_seconds("7d"), Ok(604_800));
        for bad in ["", "h", "0", "-5m", "1w", "1.5h", "99999999999999999999d"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
