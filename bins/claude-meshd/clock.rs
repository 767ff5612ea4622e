//! Wall-clock time as the daemon stores it: RFC 3339 UTC text with milliseconds (sortable,
//! the same shape SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ')` writes) and Unix milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_text() -> String {
    text(now_ms())
}

/// `ms` (Unix milliseconds) as RFC 3339 UTC with milliseconds.
pub fn text(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::text(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(super::text(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
