//! Human durations as plans write them: `500ms`, `10s`, `2m`, `1h30m`, `1d`.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};

/// The longest duration a plan (or a provider setting) may write: 365 days.
///
/// Every duration in a plan (`rto`, `rpo`, step `timeout`, gate `timeout`,
/// `healthy_for` and `every`, `wait` `duration`, `max_lag`, provider settings) is
/// at most this long; [`parse_duration`] rejects anything longer. A year is far
/// beyond any failover a plan describes, and small enough that adding it to the
/// current time, or a few of them together, can never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// Parses `500ms`, `10s`, `2m`, `1h30m`, `1.5s`, `1d`; a bare `0` is zero.
///
/// Never panics: the arithmetic is exact and checked, and a duration longer than
/// [`MAX_DURATION`] (365 days) is an error.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(dr_core::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(dr_core::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(dr_core::parse_duration("10 parsecs").is_err());
/// assert!(dr_core::parse_duration("366d").unwrap_err().contains("365d"));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let bad =
        || format!("unparsable duration `{text}` (expected e.g. `500ms`, `10s`, `2m`, `1h30m`)");
    let too_long = || format!("duration `{text}` is longer than the maximum of 365d");
    const NANOS: u128 = 1_000_000_000;
    let max = MAX_DURATION.as_nanos();
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number = &rest[..num_end];
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let unit_nanos: u128 = match unit {
            "ms" => NANOS / 1000,
            "s" => NANOS,
            "m" => 60 * NANOS,
            "h" => 3600 * NANOS,
            "d" => 86_400 * NANOS,
            _ => return Err(bad()),
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() || frac.contains('.') || (number.contains('.') && frac.is_empty()) {
            return Err(bad());
        }
        // Leading zeros carry no value; more digits than that cannot be short enough.
        let int = int.trim_start_matches('0');
        if int.len() > 15 {
            return Err(too_long());
        }
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        // Digits past the nanosecond of a millisecond unit (12) change nothing.
        let frac = &frac[..frac.len().min(12)];
        let scale = 10u128.pow(frac.len() as u32);
        let part: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let nanos = whole
            .checked_mul(unit_nanos)
            .and_then(|w| w.checked_add(part * unit_nanos / scale))
            .ok_or_else(too_long)?;
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        if total > max {
            return Err(too_long());
        }
    }
    let secs = u64::try_from(total / NANOS).map_err(|_| too_long())?;
    // `total % NANOS` is below one second, so it fits.
    Ok(Duration::new(secs, (total % NANOS) as u32))
}

/// A lag a service reports in seconds, as a [`Duration`]: a negative reading
/// (clock skew) is no lag, and a reading no duration can hold (not finite, or
/// beyond [`Duration::MAX`]) is an unknown lag (`None`), which every RPO gate
/// refuses, instead of a panic in `Duration::from_secs_f64`.
pub fn lag_from_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() {
        return None;
    }
    Duration::try_from_secs_f64(secs.max(0.0)).ok()
}

/// Formats a duration the way plans write them (`1m30s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    let rem_ms = ms % 1000;
    if secs > 0 || rem_ms > 0 {
        if rem_ms > 0 {
            out.push_str(&format!("{}.{:03}s", secs, rem_ms).replace(".000", ""));
        } else {
            out.push_str(&format!("{secs}s"));
        }
    }
    out
}

/// serde helpers for `Option<Duration>` as integer milliseconds.
pub(crate) mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// A `Retry-After` header value as a wait (the HTTP layer's `retry_after` reads
/// it from a response; providers with an SDK of their own call this):
/// delta-seconds (`"120"`, also fractional `"1.5"`) or an HTTP date
/// (IMF-fixdate, RFC 850 or asctime form), counted from `now`; a date in the past
/// is zero. A number too large for a [`Duration`] (`"99999999999999999999"`) is
/// [`Duration::MAX`]: a wait longer than any cap, never "no wait asked".
/// Unreadable: `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        // Digits too many for a u64 (or a `Duration`) are a very long wait.
        let plain = v.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        return match Duration::try_from_secs_f64(secs) {
            Ok(d) => Some(d),
            Err(_) if plain => Some(Duration::MAX),
            Err(_) => None,
        };
    }
    let at = http_date(v)?;
    let now: DateTime<Utc> = now.into();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP date in any of the three forms RFC 9110 §5.6.7 says to accept.
fn http_date(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(v) {
        return Some(d.with_timezone(&Utc));
    }
    // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`; asctime: `Sun Nov  6 08:49:37 1994`.
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_lag_never_panics_and_unknowable_readings_are_unknown() {
        assert_eq!(lag_from_secs(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(lag_from_secs(-3.0), Some(Duration::ZERO));
        for bad in [f64::NAN, f64::INFINITY, 1e300, f64::MAX] {
            assert_eq!(lag_from_secs(bad), None, "{bad}");
        }
        assert_eq!(lag_from_secs(f64::NEG_INFINITY), Some(Duration::ZERO));
    }

    proptest::proptest! {
        #[test]
        fn any_float_is_a_lag_or_unknown(secs in proptest::num::f64::ANY) {
            let _ = lag_from_secs(secs);
        }
    }

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in [
            "", "m", "15", "15 m", "-1s", "1w", "1s2", ".5s", "5.s", "1.2.3s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.25m"), Ok(Duration::from_secs(75)));
        assert_eq!(parse_duration("0.5ms"), Ok(Duration::from_micros(500)));
        assert_eq!(
            parse_duration("1.0000000000000000000001s"),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(parse_duration("0001s"), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn the_maximum_is_365_days_and_nothing_overflows() {
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("364d24h"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
        for long in [
            "365d1ms",
            "366d",
            "18446744073709551615s",
            "200000000000000d",
            "200000000000000d200000000000000d",
            "99999999999999999999999999999999999999999999999999d",
            "364d364d",
        ] {
            let e = parse_duration(long).unwrap_err();
            assert!(e.contains("longer than the maximum of 365d"), "{long}: {e}");
        }
        let many = "300d".repeat(1000);
        assert!(parse_duration(&many).is_err());
        let digits = format!("0.{}s", "9".repeat(10_000));
        assert_eq!(
            parse_duration(&digits),
            Ok(Duration::from_nanos(999_999_999))
        );
    }

    #[test]
    fn formats_round_trip() {
        for d in [0u64, 250, 1000, 90_000, 3_600_000, 5_400_500] {
            let d = Duration::from_millis(d);
            assert_eq!(
                parse_duration(&format_duration(d)),
                Ok(d),
                "{}",
                format_duration(d)
            );
        }
    }
}

/// serde helpers for `Duration` as integer milliseconds.
#[cfg(feature = "engine")]
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    #[allow(dead_code)]
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
