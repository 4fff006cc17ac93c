//! Capture timestamps: seconds and nanoseconds since the Unix epoch, printed as RFC 3339 UTC by
//! `jiff`. The type is ours only because a capture can hold times outside `jiff`'s range (a
//! corrupt pcapng tick count or offset), which must still print rather than fail.

use std::fmt;

/// A point in time as captures record it: whole seconds since 1970-01-01T00:00:00Z plus
/// nanoseconds. Serializes as an RFC 3339 string with nanoseconds, e.g.
/// `"2025-11-22T06:14:03.123456789Z"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (negative before 1970, which pcapng's offsets allow).
    pub secs: i64,
    /// Nanoseconds within the second, always below 1_000_000_000.
    pub nanos: u32,
}

impl Timestamp {
    /// Builds a timestamp, carrying whole seconds out of `nanos`.
    pub fn new(secs: i64, nanos: u64) -> Self {
        let carry = (nanos / 1_000_000_000) as i64;
        Timestamp {
            secs: secs.saturating_add(carry),
            nanos: (nanos % 1_000_000_000) as u32,
        }
    }
}

/// RFC 3339 in UTC with nine fractional digits, e.g. `2025-11-22T06:14:03.123456789Z`. A time
/// outside `jiff`'s range (about the years -9999 to 9999, which RFC 3339's four-digit year
/// cannot exceed either; only a corrupt pcapng tick count or offset gets there) is printed as
/// Unix seconds, `unix:SECS.NANOS`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::new(self.secs, self.nanos as i32) {
            Ok(t) => write!(f, "{t:.9}"),
            Err(_) => write!(f, "unix:{}.{:09}", self.secs, self.nanos),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(
            Timestamp::new(0, 0).to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        // 2024-02-29T12:34:56.5Z (a leap day).
        assert_eq!(
            Timestamp::new(1_709_210_096, 500_000_000).to_string(),
            "2024-02-29T12:34:56.500000000Z"
        );
        assert_eq!(
            Timestamp::new(-1, 0).to_string(),
            "1969-12-31T23:59:59.000000000Z"
        );
        assert_eq!(
            Timestamp::new(951_782_400, 0).to_string(),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            Timestamp::new(253_402_207_200, 999_999_999).to_string(),
            "9999-12-30T22:00:00.999999999Z"
        );
        assert_eq!(
            Timestamp::new(253_402_300_800, 0).to_string(),
            "unix:253402300800.000000000"
        );
        assert_eq!(
            Timestamp::new(i64::MIN, 5).to_string(),
            "unix:-9223372036854775808.000000005"
        );
    }

    #[test]
    fn carries_whole_seconds_out_of_nanos() {
        assert_eq!(
            Timestamp::new(1, 2_500_000_000),
            Timestamp {
                secs: 3,
                nanos: 500_000_000
            }
        );
        assert_eq!(Timestamp::new(i64::MAX, 1_000_000_000).secs, i64::MAX);
    }
}
