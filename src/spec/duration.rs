//! Durations as Flagger reads them: Go's `time.ParseDuration`, behind the CRD's `^[0-9]+(m|s)`.
//!
//! Owns parsing and printing durations. Pure.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Not a Go duration at all.
    NotADuration,
    /// A Go duration the CRD pattern refuses (e.g. `1h`: only `s` and `m` may follow the first
    /// number).
    Pattern,
}

/// Parses a duration the way a Flagger CRD field would accept it.
pub fn parse_crd_duration(text: &str) -> Result<Duration, DurationError> {
    let d = parse_go_duration(text).ok_or(DurationError::NotADuration)?;
    if matches_crd_pattern(text) {
        Ok(d)
    } else {
        Err(DurationError::Pattern)
    }
}

/// Flagger's CRD pattern `^[0-9]+(m|s)`: digits, then `m` or `s` (a prefix match, so `1m30s` and
/// `500ms` pass).
pub fn matches_crd_pattern(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(text.as_bytes().get(digits), Some(b'm' | b's'))
}

/// Go's `time.ParseDuration` for non-negative values: `300ms`, `1.5h`, `2h45m`, `0`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Prints a duration the short way: `30s`, `1m`, `1m30s`, `500ms`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            ("30s", Some(30_000)),
            ("1m", Some(60_000)),
            ("1m30s", Some(90_000)),
            ("500ms", Some(500)),
            ("1.5h", Some(5_400_000)),
            ("0", Some(0)),
            ("30 seconds", None),
            ("30", None),
            ("", None),
            ("1x", None),
            ("-1s", None),
            ("1..5s", None),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_go_duration(text).map(|d| d.as_millis() as u64),
                ms,
                "{text}"
            );
        }
    }

    #[test]
    fn crd_pattern_is_a_prefix_match() {
        assert!(matches_crd_pattern("1m30s"));
        assert!(matches_crd_pattern("500ms"));
        assert!(!matches_crd_pattern("1h"));
        assert_eq!(parse_crd_duration("1h"), Err(DurationError::Pattern));
        assert_eq!(
            parse_crd_duration("30 seconds"),
            Err(DurationError::NotADuration)
        );
    }

    #[test]
    fn prints_short() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(60)), "1m");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }
}
