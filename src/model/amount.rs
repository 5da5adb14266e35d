//! [`Amount`]: an exact decimal amount of money, as the API writes it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind};

/// An amount of money in the currency's major unit, exactly as the API
/// wrote it (`"10"`, `"11.1"`, `"11.10"`).
///
/// The text is kept as sent; comparisons are by numeric value, exact to the
/// last digit (no floating point anywhere): `"11.10"` and `"11.1"` are equal
/// amounts whose [`as_str`](Amount::as_str) differ.
///
/// ```
/// use smart_router_webhooks::Amount;
///
/// let refunded: Amount = "4.50".parse()?;
/// let captured: Amount = "10".parse()?;
/// assert!(refunded < captured);
/// assert_eq!(refunded.as_str(), "4.50");
/// assert_eq!(refunded, "4.5".parse()?);
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct Amount(Box<str>);

impl Amount {
    /// Parses a decimal amount: an optional `-`, digits, and optionally a
    /// `.` followed by digits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidAmount`] for anything else (empty, exponent,
    /// `+`, spaces, a lone `.`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = match digits.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (digits, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
            return Err(Error::new(
                ErrorKind::InvalidAmount,
                "an amount must be digits with an optional sign and decimal part",
            ));
        }
        Ok(Amount(s.into()))
    }

    /// The amount as the API wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
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
        let negative = self.0.starts_with('-');
        let digits = self.0.strip_prefix('-').unwrap_or(&self.0);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let zero = int.is_empty() && frac.is_empty();
        (negative && !zero, int, frac)
    }
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
        write!(f, "Amount({})", self.0)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = crate::model::object::Text::deserialize(deserializer)?.0;
        Amount::parse(&s).map_err(serde::de::Error::custom)
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
            "", "-", ".", "1.", ".5", "+1", "1e3", "1,5", " 1", "1 ", "NaN", "--1", "1.2.3",
        ] {
            let err = Amount::parse(s).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidAmount, "{s:?}");
        }
        assert!(
            serde_json::from_str::<Amount>("10").is_err(),
            "a JSON number is not an amount"
        );
    }
}
