//! [`Timestamp`]: an instant as the API writes it, in any of the forms the
//! API documents, keeping its original text.

use std::cmp::Ordering;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use super::tolerant::{Json, Parsed, Scalar, tolerant_scalar};
use crate::error::{Error, ErrorKind};

/// An instant as the API writes it.
///
/// The API writes dates in RFC 3339 (`2023-04-22T15:48:57.55294073Z`, 0 to
/// 9 fraction digits, any offset); its 2021 reference calls them "RFC1123
/// date or timestamp", so RFC 1123 / RFC 2822 (`Sat, 22 Apr 2023 15:48:57
/// GMT`) and Unix seconds (a JSON number or a string, with up to 9 fraction
/// digits) are read too. Every form is read into the same instant, so
/// timestamps of different forms compare correctly.
///
/// The original text is kept as sent (a JSON number keeps its digits). A
/// text that is none of these forms does not fail the object it is in: it
/// is kept ([`Timestamp::lenient`]), [`unix_nanos`](Timestamp::unix_nanos)
/// is `None`, and the object lists a [`ModelWarning`](crate::ModelWarning)
/// for it. [`Timestamp::parse`] (and `str::parse`) refuse such a text.
///
/// Timestamps order by instant; one that could not be read orders before
/// every readable one, and two with the same instant order by their text.
///
/// ```
/// use smart_router_webhooks::{ErrorKind, Timestamp};
///
/// let a = Timestamp::parse("2023-04-22T15:48:57.55294073Z")?;
/// let b: Timestamp = "2023-04-22T17:48:57.552940731+02:00".parse()?;
/// assert!(a < b);
/// assert_eq!(a.as_str(), "2023-04-22T15:48:57.55294073Z");
/// assert_eq!(a.unix_nanos(), Some(1_682_178_537_552_940_730));
/// let rfc1123 = Timestamp::parse("Sat, 22 Apr 2023 15:48:57 GMT")?;
/// let unix = Timestamp::parse("1682178537")?;
/// assert_eq!(rfc1123.unix_nanos(), unix.unix_nanos());
/// assert!(rfc1123 < a);
///
/// let refused = Timestamp::parse("last tuesday").unwrap_err();
/// assert_eq!(refused.kind(), ErrorKind::InvalidTimestamp);
/// let kept = Timestamp::lenient("last tuesday");
/// assert_eq!((kept.as_str(), kept.unix_nanos()), ("last tuesday", None));
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct Timestamp {
    text: Box<str>,
    /// Nanoseconds since the Unix epoch, when the text could be read.
    nanos: Option<Nanos>,
}

/// An `i128` kept as two halves, so that a `Timestamp` is aligned to 8
/// bytes rather than 16: the in-memory transaction store keeps one per
/// transaction, and the padding an `i128` forces costs every record.
#[derive(Clone, Copy)]
struct Nanos {
    high: i64,
    low: u64,
}

impl Nanos {
    fn new(nanos: i128) -> Nanos {
        Nanos {
            high: (nanos >> 64) as i64,
            low: nanos as u64,
        }
    }

    fn get(self) -> i128 {
        (i128::from(self.high) << 64) | i128::from(self.low)
    }
}

/// The most digits of whole Unix seconds read: about 31 million years.
const MAX_UNIX_DIGITS: usize = 15;

impl Timestamp {
    /// Reads a timestamp in any form the API uses (see [`Timestamp`]),
    /// keeping `text` as written.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidTimestamp`](crate::ErrorKind::InvalidTimestamp)
    /// when `text` is none of those forms ([`lenient`](Self::lenient)
    /// keeps such a text instead).
    pub fn parse(text: &str) -> Result<Timestamp, Error> {
        let timestamp = Timestamp::lenient(text);
        match timestamp.nanos {
            Some(_) => Ok(timestamp),
            None => Err(Error::new(
                ErrorKind::InvalidTimestamp,
                "not an RFC 3339, RFC 2822 or Unix-seconds date",
            )),
        }
    }

    /// Keeps `text` as a timestamp whether or not it can be read, as the
    /// crate does with the dates the API sends: read in any form the API
    /// uses, else kept with [`unix_nanos`](Self::unix_nanos) `None`
    /// (ordered before every readable timestamp). Never fails.
    pub fn lenient(text: &str) -> Timestamp {
        Timestamp {
            text: text.into(),
            nanos: parse_instant(text).map(Nanos::new),
        }
    }

    /// The instant `nanos` nanoseconds after the Unix epoch, written in
    /// RFC 3339, UTC, with nine fractional digits (as Unix seconds beyond
    /// the year 9999).
    pub fn from_unix_nanos(nanos: i128) -> Timestamp {
        let text = match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(at) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.nanosecond()
            ),
            Err(_) => {
                let sign = if nanos < 0 { "-" } else { "" };
                let magnitude = nanos.unsigned_abs();
                format!(
                    "{sign}{}.{:09}",
                    magnitude / 1_000_000_000,
                    magnitude % 1_000_000_000
                )
            }
        };
        Timestamp {
            text: text.into(),
            nanos: Some(Nanos::new(nanos)),
        }
    }

    /// The text as the API wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Nanoseconds since the Unix epoch, or `None` when the text is none of
    /// the forms read.
    pub fn unix_nanos(&self) -> Option<i128> {
        self.nanos.map(Nanos::get)
    }

    /// The instant as a [`SystemTime`], or `None` when the text could not
    /// be read or the instant is outside what `SystemTime` can hold.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let nanos = self.unix_nanos()?;
        let magnitude = u64::try_from(nanos.unsigned_abs() / 1_000_000_000).ok()?;
        let sub = u32::try_from(nanos.unsigned_abs() % 1_000_000_000).ok()?;
        let offset = Duration::new(magnitude, sub);
        if nanos >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(offset)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(offset)
        }
    }

    /// The instant as a [`time::OffsetDateTime`] in UTC (the crate reads
    /// dates with `time`, so this needs no feature), or `None` when the
    /// text could not be read.
    pub fn to_offset_date_time(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(self.unix_nanos()?).ok()
    }

    /// The instant as a [`jiff::Timestamp`], or `None` when the text could
    /// not be read or the instant is outside jiff's range.
    ///
    /// Requires the `jiff` feature.
    #[cfg(feature = "jiff")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jiff")))]
    pub fn to_jiff(&self) -> Option<jiff::Timestamp> {
        jiff::Timestamp::from_nanosecond(self.unix_nanos()?).ok()
    }

    /// The instant as a [`chrono::DateTime`] in UTC, or `None` when the
    /// text could not be read or the instant is outside chrono's range.
    ///
    /// Requires the `chrono` feature.
    #[cfg(feature = "chrono")]
    #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
    pub fn to_chrono(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let nanos = self.unix_nanos()?;
        let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
        let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
        chrono::DateTime::from_timestamp(seconds, sub)
    }
}

/// Reads Unix seconds, RFC 3339, then RFC 2822 (which includes RFC 1123's
/// `GMT`).
fn parse_instant(text: &str) -> Option<i128> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Some(nanos) = unix_seconds(text) {
        return Some(nanos);
    }
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Rfc2822))
        .ok()?;
    Some(at.unix_timestamp_nanos())
}

/// `[-]digits[.digits]`, at most 15 whole digits and 9 fraction digits.
fn unix_seconds(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > MAX_UNIX_DIGITS
        || frac.len() > 9
        || (digits.contains('.') && frac.is_empty())
        || !all_digits(whole)
        || !all_digits(frac)
    {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let sub: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i128>().ok()? * 10_i128.pow(9 - frac.len() as u32)
    };
    let nanos = whole * 1_000_000_000 + sub;
    Some(if negative { -nanos } else { nanos })
}

impl Scalar for Timestamp {
    const EXPECTED: &'static str = "a date";
    fn parse(json: Json<'_>, _: &RawValue) -> Parsed<Self> {
        match json {
            Json::Str(s) if s.is_empty() => Parsed::Absent,
            Json::Str(s) => Parsed::Value(Timestamp::lenient(&s)),
            Json::Number(n) => Parsed::Value(Timestamp::lenient(n)),
            Json::Null => Parsed::Absent,
            _ => Parsed::Mismatch,
        }
    }
    fn doubtful(&self) -> bool {
        self.nanos.is_none()
    }
}

tolerant_scalar!(Timestamp);

/// As [`Timestamp::parse`].
impl std::str::FromStr for Timestamp {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Timestamp::parse(text)
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.unix_nanos()
            .cmp(&other.unix_nanos())
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
        self.unix_nanos().hash(state);
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

/// Reads a JSON string or number (Unix seconds, from its text).
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        match <Timestamp as Scalar>::parse(Json::of(&raw), &raw) {
            Parsed::Value(timestamp) => Ok(timestamp),
            Parsed::Absent => Ok(Timestamp::lenient("")),
            Parsed::Mismatch => Err(serde::de::Error::custom(
                "a date must be a string or a number",
            )),
        }
    }
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
            let t = Timestamp::lenient(text);
            assert_eq!(t.unix_nanos(), Some(base + sub), "{text}");
            assert_eq!(t.as_str(), text);
        }
    }

    #[test]
    fn orders_by_instant_to_the_nanosecond() {
        let a = Timestamp::lenient("2023-04-22T15:48:57.55294073Z");
        let b = Timestamp::lenient("2023-04-22T15:48:57.552940731Z");
        let c = Timestamp::lenient("2023-04-22T16:48:57.552940731+00:59");
        assert!(a < b);
        assert!(c > b, "16:48:57 at +00:59 is 15:49:57 UTC");
        let same = Timestamp::lenient("2023-04-22T17:48:57.55294073+02:00");
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
            "2023-04-22T15:48:57.12x4Z",
            "Sat, 31 Apr 2023 15:48:57 GMT",
            "1682178537.",
            "1e9",
            "12345678901234567",
            "-",
            "2023-04-22T15:48:57Zjunk",
            "2023-04-22T15:48:57+0200",
            "２023-04-22T15:48:57Z",
        ] {
            let t = Timestamp::lenient(text);
            assert_eq!(t.unix_nanos(), None, "{text:?}");
            assert_eq!(t.as_str(), text);
            assert!(t < Timestamp::lenient("1970-01-01T00:00:00Z"));
        }
        assert!(
            Timestamp::lenient("2024-02-29T00:00:00Z")
                .unix_nanos()
                .is_some()
        );
    }

    #[test]
    fn reads_every_form_the_api_documents() {
        // The 2021 API reference calls dates "RFC1123 date or timestamp";
        // the current one and the SDKs (processout-go, event.go: `FiredAt
        // *time.Time`, RFC 3339 in JSON) use RFC 3339.
        let at = 1_682_178_537_i128 * 1_000_000_000;
        let cases = [
            ("2023-04-22T15:48:57Z", at),
            ("2023-04-22T17:48:57+02:00", at),
            ("2023-04-22t15:48:57z", at),
            ("2023-04-22T10:18:57.5-05:30", at + 500_000_000),
            ("Sat, 22 Apr 2023 15:48:57 GMT", at),
            ("Sat, 22 Apr 2023 17:48:57 +0200", at),
            ("22 Apr 2023 15:48:57 UT", at),
            ("1682178537", at),
            ("1682178537.25", at + 250_000_000),
            ("1682178537.000000001", at + 1),
            ("-1.5", -1_500_000_000),
        ];
        for (text, nanos) in cases {
            let t = Timestamp::lenient(text);
            assert_eq!(t.unix_nanos(), Some(nanos), "{text}");
            assert_eq!(t.as_str(), text);
        }
        // A JSON number is Unix seconds, its text kept.
        let t: Timestamp = serde_json::from_str("1682178537.5").unwrap();
        assert_eq!(t.as_str(), "1682178537.5");
        assert_eq!(t.unix_nanos(), Some(at + 500_000_000));
        // Forms compare with each other.
        assert!(
            Timestamp::lenient("Sat, 22 Apr 2023 15:48:58 GMT") > Timestamp::lenient("1682178537")
        );
        assert!(serde_json::from_str::<Timestamp>("{}").is_err());
    }

    #[test]
    fn parse_refuses_what_lenient_keeps() {
        for text in ["", "  ", "never", "2023-13-45T00:00:00Z", "1.", "1e9"] {
            let error = Timestamp::parse(text).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidTimestamp, "{text:?}");
            assert!(!error.to_string().contains(text) || text.trim().is_empty());
            assert_eq!(Timestamp::lenient(text).as_str(), text);
            assert!(text.parse::<Timestamp>().is_err());
        }
        let read = Timestamp::parse("1682178537").unwrap();
        assert_eq!(read, Timestamp::lenient("1682178537"));
    }

    #[test]
    fn converts_to_the_date_types_of_other_crates() {
        let t = Timestamp::lenient("2023-04-22T15:48:57.55294073Z");
        let odt = t.to_offset_date_time().unwrap();
        assert_eq!(odt.unix_timestamp_nanos(), 1_682_178_537_552_940_730);
        assert_eq!(Timestamp::lenient("never").to_offset_date_time(), None);
        #[cfg(feature = "jiff")]
        assert_eq!(
            t.to_jiff().unwrap().as_nanosecond(),
            1_682_178_537_552_940_730
        );
        #[cfg(feature = "chrono")]
        assert_eq!(
            t.to_chrono().unwrap().timestamp_nanos_opt(),
            Some(1_682_178_537_552_940_730)
        );
    }

    #[test]
    fn formats_and_reads_back() {
        for nanos in [
            0_i128,
            1_682_178_537_552_940_730,
            -1,
            4_102_444_800_000_000_001,
            // Beyond the year 9999: written as Unix seconds.
            400_000_000_000_000_000_000,
        ] {
            let t = Timestamp::from_unix_nanos(nanos);
            assert_eq!(
                Timestamp::lenient(t.as_str()).unix_nanos(),
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
        let t = Timestamp::lenient("1970-01-01T00:00:01.5Z");
        assert_eq!(
            t.to_system_time(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert_eq!(Timestamp::lenient("nope").to_system_time(), None);
    }
}
