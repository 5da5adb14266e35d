//! [`Timestamp`]: an RFC 3339 instant that keeps its original text.

use std::cmp::Ordering;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant as the API writes it (`2023-04-22T15:48:57.55294073Z`).
///
/// The original text is kept as sent, the instant is kept to the
/// nanosecond. A text that is not RFC 3339 does not fail the object it is
/// in: it is kept, and [`unix_nanos`](Timestamp::unix_nanos) is `None`.
///
/// Timestamps order by instant; one that could not be read orders before
/// every readable one, and two with the same instant order by their text.
///
/// ```
/// use smart_router_webhooks::Timestamp;
///
/// let a = Timestamp::parse("2023-04-22T15:48:57.55294073Z");
/// let b = Timestamp::parse("2023-04-22T17:48:57.552940731+02:00");
/// assert!(a < b);
/// assert_eq!(a.as_str(), "2023-04-22T15:48:57.55294073Z");
/// assert_eq!(a.unix_nanos(), Some(1_682_178_537_552_940_730));
/// ```
#[derive(Clone)]
pub struct Timestamp {
    text: Box<str>,
    /// Nanoseconds since the Unix epoch, when the text could be read.
    nanos: Option<i128>,
}

impl Timestamp {
    /// Reads an RFC 3339 timestamp, keeping `text` whether or not it can be
    /// read.
    pub fn parse(text: &str) -> Timestamp {
        Timestamp {
            text: text.into(),
            nanos: parse_rfc3339(text),
        }
    }

    /// The instant `nanos` nanoseconds after the Unix epoch, written in
    /// UTC with nine fractional digits.
    pub fn from_unix_nanos(nanos: i128) -> Timestamp {
        Timestamp {
            text: format_rfc3339(nanos).into(),
            nanos: Some(nanos),
        }
    }

    /// The text as the API wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Nanoseconds since the Unix epoch, or `None` when the text is not
    /// RFC 3339.
    pub fn unix_nanos(&self) -> Option<i128> {
        self.nanos
    }

    /// The instant as a [`SystemTime`], or `None` when the text is not
    /// RFC 3339 or the instant is outside what `SystemTime` can hold.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let nanos = self.nanos?;
        let magnitude = u64::try_from(nanos.unsigned_abs() / 1_000_000_000).ok()?;
        let sub = u32::try_from(nanos.unsigned_abs() % 1_000_000_000).ok()?;
        let offset = Duration::new(magnitude, sub);
        if nanos >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(offset)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(offset)
        }
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos
            .cmp(&other.nanos)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Timestamp {}

impl std::hash::Hash for Timestamp {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
        self.text.hash(state);
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = crate::model::object::Text::deserialize(deserializer)?.0;
        Ok(Timestamp::parse(&s))
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of the given day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` into nanoseconds since the
/// epoch.
fn parse_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            Some(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
        } else {
            None
        }
    };
    let year = i64::from(num(0..4)?);
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let second = num(17..19)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut pos = 19;
    let mut nanos: u32 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = pos - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(start..pos)? * 10u32.pow((9 - digits) as u32);
    }
    let offset_seconds: i64 = match b.get(pos)? {
        b'Z' | b'z' if pos + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let oh = i64::from(num(pos + 1..pos + 3)?);
            let om = i64::from(num(pos + 4..pos + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let magnitude = oh * 3600 + om * 60;
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return None,
    };
    // A leap second is read as the last second of its minute.
    let second = second.min(59);
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
        - offset_seconds;
    Some(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
}

fn format_rfc3339(nanos: i128) -> String {
    let seconds = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000);
    let days = i64::try_from(seconds.div_euclid(86_400)).unwrap_or(0);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{sub:09}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zero_to_nine_fractional_digits() {
        let base = 1_682_178_537_i128 * 1_000_000_000;
        let cases = [
            ("2023-04-22T15:48:57Z", 0),
            ("2023-04-22T15:48:57.5Z", 500_000_000),
            ("2023-04-22T15:48:57.55Z", 550_000_000),
            ("2023-04-22T15:48:57.552Z", 552_000_000),
            ("2023-04-22T15:48:57.5529Z", 552_900_000),
            ("2023-04-22T15:48:57.55294Z", 552_940_000),
            ("2023-04-22T15:48:57.552940Z", 552_940_000),
            ("2023-04-22T15:48:57.5529407Z", 552_940_700),
            ("2023-04-22T15:48:57.55294073Z", 552_940_730),
            ("2023-04-22T15:48:57.552940731Z", 552_940_731),
        ];
        for (text, sub) in cases {
            let t = Timestamp::parse(text);
            assert_eq!(t.unix_nanos(), Some(base + sub), "{text}");
            assert_eq!(t.as_str(), text);
        }
    }

    #[test]
    fn orders_by_instant_to_the_nanosecond() {
        let a = Timestamp::parse("2023-04-22T15:48:57.55294073Z");
        let b = Timestamp::parse("2023-04-22T15:48:57.552940731Z");
        let c = Timestamp::parse("2023-04-22T16:48:57.552940731+00:59");
        assert!(a < b);
        assert!(c > b, "16:48:57 at +00:59 is 15:49:57 UTC");
        let same = Timestamp::parse("2023-04-22T17:48:57.55294073+02:00");
        assert_eq!(a.unix_nanos(), same.unix_nanos());
        assert_ne!(
            a, same,
            "equal instants with different text are ordered by text"
        );
    }

    #[test]
    fn unreadable_text_is_kept_and_sorts_first() {
        for text in [
            "",
            "yesterday",
            "2023-04-22",
            "2023-04-22T15:48:57",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-04-22T24:00:00Z",
            "2023-04-22T15:48:57.Z",
            "2023-04-22T15:48:57.1234567890Z",
            "2023-04-22T15:48:57Zjunk",
            "2023-04-22T15:48:57+0200",
            "２023-04-22T15:48:57Z",
        ] {
            let t = Timestamp::parse(text);
            assert_eq!(t.unix_nanos(), None, "{text:?}");
            assert_eq!(t.as_str(), text);
            assert!(t < Timestamp::parse("1970-01-01T00:00:00Z"));
        }
        assert!(
            Timestamp::parse("2024-02-29T00:00:00Z")
                .unix_nanos()
                .is_some()
        );
    }

    #[test]
    fn formats_and_reads_back() {
        for nanos in [
            0_i128,
            1_682_178_537_552_940_730,
            -1,
            4_102_444_800_000_000_001,
        ] {
            let t = Timestamp::from_unix_nanos(nanos);
            assert_eq!(
                Timestamp::parse(t.as_str()).unix_nanos(),
                Some(nanos),
                "{t}"
            );
        }
        assert_eq!(
            Timestamp::from_unix_nanos(0).as_str(),
            "1970-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn converts_to_system_time() {
        let t = Timestamp::parse("1970-01-01T00:00:01.5Z");
        assert_eq!(
            t.to_system_time(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert_eq!(Timestamp::parse("nope").to_system_time(), None);
    }
}
