//! [`Amount`]: an exact decimal amount of money, as the API writes it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod arith;

use serde_json::value::RawValue;

use super::tolerant::{Json, Parsed, Scalar, tolerant_scalar};
use crate::error::{Error, ErrorKind};

/// An amount of money in the currency's major unit, exactly as the API
/// wrote it (`"10"`, `"11.1"`, `"11.10"`, or a JSON number such as `11.1`
/// or `1.11e1`).
///
/// The text is kept as sent; comparisons are by numeric value, exact to the
/// last digit (no floating point anywhere, a JSON number is read from its
/// text): `"11.10"` and `"11.1"` are equal amounts whose
/// [`as_str`](Amount::as_str) differ.
///
/// ```
/// use smart_router_webhooks::Amount;
///
/// let refunded: Amount = "4.50".parse()?;
/// let captured: Amount = "10".parse()?;
/// assert!(refunded < captured);
/// assert_eq!(refunded.as_str(), "4.50");
/// assert_eq!(refunded, "4.5".parse()?);
/// assert_eq!(refunded, "45e-1".parse()?);
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
///
/// Amounts add and subtract exactly (`&captured - &refunded`), sum, and
/// convert to and from minor units given the currency's exponent
/// ([`to_minor_units`](Amount::to_minor_units)): no other crate needed.
///
/// ```
/// use smart_router_webhooks::Amount;
///
/// let captured: Amount = "10.00".parse()?;
/// let refunded: Amount = "4.5".parse()?;
/// assert_eq!((&captured - &refunded).as_str(), "5.50");
/// assert_eq!((&captured - &refunded).to_minor_units(2)?, 550);
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
///
/// With the `rust_decimal` feature, an amount also converts to and from a
/// [`rust_decimal::Decimal`]:
///
/// ```
/// # #[cfg(feature = "rust_decimal")] {
/// use rust_decimal::Decimal;
/// use smart_router_webhooks::Amount;
///
/// let captured: Amount = "10.00".parse()?;
/// let refunded: Amount = "4.5".parse()?;
/// let left = Decimal::try_from(&captured)? - Decimal::try_from(&refunded)?;
/// assert_eq!(Amount::from(left).as_str(), "5.50");
/// # }
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct Amount {
    /// The text as sent.
    text: Box<str>,
    /// The same amount as a plain decimal, when the text has an exponent.
    plain: Option<Box<str>>,
}

/// The largest exponent magnitude read (`1e64`): beyond it, the plain
/// decimal would be as long as the exponent says, and no amount of money
/// needs it.
const MAX_EXPONENT: i64 = 64;

impl Amount {
    /// Parses a decimal amount: an optional `-`, digits, optionally a `.`
    /// followed by digits, and optionally an exponent (`e` or `E`, an
    /// optional sign, digits) of at most 64, as JSON numbers are written.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidAmount`] for anything else (empty, `+`, spaces,
    /// a lone `.`, an exponent above 64).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::new(
                ErrorKind::InvalidAmount,
                "an amount must be digits with an optional sign, decimal part and exponent",
            )
        };
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(at) => (&s[..at], Some(&s[at + 1..])),
            None => (s, None),
        };
        let digits = mantissa.strip_prefix('-').unwrap_or(mantissa);
        let (int, frac) = match digits.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (digits, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
            return Err(invalid());
        }
        let plain = match exponent {
            None => None,
            Some(exponent) => {
                let magnitude = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
                if !all_digits(magnitude) || magnitude.len() > 4 {
                    return Err(invalid());
                }
                let exponent: i64 = exponent.parse().map_err(|_| invalid())?;
                if exponent.abs() > MAX_EXPONENT {
                    return Err(invalid());
                }
                Some(shift(mantissa.starts_with('-'), int, frac.unwrap_or(""), exponent).into())
            }
        };
        Ok(Amount {
            text: s.into(),
            plain,
        })
    }

    /// The amount as the API wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The amount as a plain decimal, without exponent: the text as sent
    /// when it has none.
    pub fn as_plain_str(&self) -> &str {
        self.plain.as_deref().unwrap_or(&self.text)
    }

    /// Whether the amount is zero (`"0"`, `"0.00"`, `"-0"`).
    pub fn is_zero(&self) -> bool {
        let (_, int, frac) = self.parts();
        int.is_empty() && frac.is_empty()
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.parts().0
    }

    /// Sign, integer digits without leading zeros, fraction digits without
    /// trailing zeros. Zero has empty parts and no sign.
    fn parts(&self) -> (bool, &str, &str) {
        let text = self.as_plain_str();
        let negative = text.starts_with('-');
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let zero = int.is_empty() && frac.is_empty();
        (negative && !zero, int, frac)
    }
}

/// `int.frac × 10^exponent` as a plain decimal.
fn shift(negative: bool, int: &str, frac: &str, exponent: i64) -> String {
    let digits = format!("{int}{frac}");
    // Where the point goes in `digits`; |exponent| <= 64 and the lengths
    // are those of a string, so this cannot overflow.
    let point = i64::try_from(int.len()).unwrap_or(i64::MAX / 2) + exponent;
    let mut out = String::with_capacity(digits.len() + 70);
    if negative {
        out.push('-');
    }
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX / 2);
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(-point).unwrap_or(0),
        ));
        out.push_str(&digits);
    } else if point >= len {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(point - len).unwrap_or(0),
        ));
    } else {
        let at = usize::try_from(point).unwrap_or(0);
        out.push_str(&digits[..at]);
        out.push('.');
        out.push_str(&digits[at..]);
    }
    out
}

/// Compares the magnitudes of two normalized (int, frac) pairs.
fn cmp_magnitude(a: (&str, &str), b: (&str, &str)) -> Ordering {
    a.0.len()
        .cmp(&b.0.len())
        .then_with(|| a.0.cmp(b.0))
        .then_with(|| a.1.cmp(b.1))
}

impl Ord for Amount {
    fn cmp(&self, other: &Self) -> Ordering {
        let (neg_a, int_a, frac_a) = self.parts();
        let (neg_b, int_b, frac_b) = other.parts();
        match (neg_a, neg_b) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_magnitude((int_a, frac_a), (int_b, frac_b)),
            (true, true) => cmp_magnitude((int_b, frac_b), (int_a, frac_a)),
        }
    }
}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Amount {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Amount {}

impl Hash for Amount {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.text)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Amount {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Amount::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// Reads a JSON string or number (from its text, never through `f64`).
impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        match <Amount as Scalar>::parse(Json::of(&raw), &raw) {
            Parsed::Value(amount) => Ok(amount),
            _ => Err(serde::de::Error::custom(
                "an amount must be a decimal string or a JSON number",
            )),
        }
    }
}

impl Scalar for Amount {
    const EXPECTED: &'static str = "an amount";
    fn parse(json: Json<'_>, _: &RawValue) -> Parsed<Self> {
        match json {
            Json::Str(s) if s.is_empty() => Parsed::Absent,
            Json::Str(s) => Amount::parse(&s).map_or(Parsed::Mismatch, Parsed::Value),
            Json::Number(n) => Amount::parse(n).map_or(Parsed::Mismatch, Parsed::Value),
            Json::Null => Parsed::Absent,
            _ => Parsed::Mismatch,
        }
    }
}

tolerant_scalar!(Amount);

/// Requires the `rust_decimal` feature.
#[cfg(feature = "rust_decimal")]
#[cfg_attr(docsrs, doc(cfg(feature = "rust_decimal")))]
impl TryFrom<&Amount> for rust_decimal::Decimal {
    type Error = Error;
    /// The amount as a `Decimal`, exactly.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidAmount`] when the amount does not fit a
    /// `Decimal` exactly (more than 28 significant digits).
    fn try_from(amount: &Amount) -> Result<Self, Error> {
        amount
            .as_plain_str()
            .parse::<rust_decimal::Decimal>()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidAmount,
                    "the amount does not fit a Decimal",
                )
                .with_source(e)
            })
    }
}

/// Requires the `rust_decimal` feature.
#[cfg(feature = "rust_decimal")]
#[cfg_attr(docsrs, doc(cfg(feature = "rust_decimal")))]
impl From<rust_decimal::Decimal> for Amount {
    /// The decimal written as an amount, with its scale (`5.50` stays
    /// `"5.50"`).
    fn from(decimal: rust_decimal::Decimal) -> Self {
        Amount {
            text: decimal.to_string().into(),
            plain: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        s.parse().unwrap()
    }

    #[test]
    fn keeps_the_exact_text() {
        for s in ["10", "11.1", "11.10", "0", "0.00", "-3.5", "007"] {
            assert_eq!(a(s).as_str(), s);
            let json = serde_json::to_string(&a(s)).unwrap();
            assert_eq!(json, format!("\"{s}\""));
        }
    }

    #[test]
    fn compares_by_value_exactly() {
        assert_eq!(a("11.10"), a("11.1"));
        assert_eq!(a("007"), a("7.000"));
        assert_eq!(a("0"), a("-0.0"));
        assert!(a("9.99") < a("10"));
        assert!(a("10.01") > a("10.009"));
        assert!(a("-1") < a("0"));
        assert!(a("-2") < a("-1.5"));
        assert!(a("0.1") < a("0.10000000000000000001"));
        assert!(a("123456789012345678901234567890") > a("123456789012345678901234567889.99"));
    }

    #[test]
    fn equal_amounts_hash_alike() {
        use std::collections::HashSet;
        let set: HashSet<Amount> = [a("1.50"), a("1.5"), a("01.5")].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn zero_and_sign() {
        assert!(a("0.000").is_zero());
        assert!(a("-0").is_zero());
        assert!(!a("-0").is_negative());
        assert!(a("-0.01").is_negative());
        assert!(!a("0.01").is_zero());
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for s in [
            "",
            "-",
            ".",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "1e65",
            "1e-65",
            "1e99999999999",
            "e3",
            "1,5",
            " 1",
            "1 ",
            "NaN",
            "--1",
            "1.2.3",
            "1e3.5",
        ] {
            let err = Amount::parse(s).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidAmount, "{s:?}");
        }
        assert!(serde_json::from_str::<Amount>("true").is_err());
        assert!(serde_json::from_str::<Amount>("\"\"").is_err());
    }

    #[test]
    fn reads_json_numbers_and_exponents_exactly() {
        // The 2021 API reference and the SDKs type amounts as strings; a
        // JSON number is read from its text, never through f64.
        let n: Amount = serde_json::from_str("0.10000000000000000001").unwrap();
        assert_eq!(n.as_str(), "0.10000000000000000001");
        assert!(n > a("0.1"));
        for (exp, plain) in [
            ("1e3", "1000"),
            ("1.5E+2", "150"),
            ("-25e-1", "-2.5"),
            ("12.5e-3", "0.0125"),
            ("7e0", "7"),
            ("1e64", &format!("1{}", "0".repeat(64))),
        ] {
            let amount = a(exp);
            assert_eq!(amount.as_str(), exp);
            assert_eq!(amount.as_plain_str(), plain, "{exp}");
            assert_eq!(amount, a(plain), "{exp}");
        }
        let n: Amount = serde_json::from_str("1.1e1").unwrap();
        assert_eq!(n, a("11.00"));
    }
}
