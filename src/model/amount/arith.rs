//! Exact arithmetic on [`Amount`]s: on their decimal digits, with no
//! floating point and no bound on their size.

use std::iter::Sum;
use std::ops::{Add, Neg, Sub};

use super::Amount;
use crate::error::{Error, ErrorKind};

/// An amount as a sign, the digits of its magnitude without the point
/// (most significant first, no leading zeros) and how many of them are
/// after the point.
struct Digits {
    negative: bool,
    digits: Vec<u8>,
    scale: usize,
}

impl Digits {
    fn of(amount: &Amount) -> Digits {
        let text = amount.as_plain_str();
        let negative = text.starts_with('-');
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = int.bytes().chain(frac.bytes()).map(|b| b - b'0');
        // Zero has no digits, whatever its scale.
        let digits: Vec<u8> = digits.skip_while(|d| *d == 0).collect();
        Digits {
            negative: negative && !digits.is_empty(),
            digits,
            scale: frac.len(),
        }
    }

    /// The same value with `scale` digits after the point (not fewer than
    /// it has).
    fn rescaled(mut self, scale: usize) -> Digits {
        if !self.digits.is_empty() {
            self.digits
                .extend(std::iter::repeat_n(0, scale - self.scale));
        }
        self.scale = scale;
        self
    }

    fn into_amount(self) -> Amount {
        let mut text = String::with_capacity(self.digits.len() + self.scale + 3);
        if self.negative && !self.digits.is_empty() {
            text.push('-');
        }
        let padded = self.digits.len().max(self.scale + 1);
        let zeros = padded - self.digits.len();
        let all = std::iter::repeat_n(0, zeros).chain(self.digits.iter().copied());
        for (i, digit) in all.enumerate() {
            if i == padded - self.scale {
                text.push('.');
            }
            text.push(char::from(b'0' + digit));
        }
        Amount {
            text: text.into(),
            plain: None,
        }
    }
}

/// Compares two magnitudes of the same scale.
fn cmp_digits(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `a + b`, magnitudes.
fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut a, mut b) = (a.iter().rev(), b.iter().rev());
    let mut carry = 0;
    loop {
        let (x, y) = (a.next(), b.next());
        if x.is_none() && y.is_none() && carry == 0 {
            break;
        }
        let sum = x.copied().unwrap_or(0) + y.copied().unwrap_or(0) + carry;
        out.push(sum % 10);
        carry = sum / 10;
    }
    out.reverse();
    out
}

/// `a - b`, magnitudes, `a >= b`.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut b = b.iter().rev();
    let mut borrow = 0;
    for x in a.iter().rev() {
        let y = b.next().copied().unwrap_or(0) + borrow;
        let (digit, next) = if *x >= y { (x - y, 0) } else { (x + 10 - y, 1) };
        out.push(digit);
        borrow = next;
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    out.reverse();
    out
}

/// `a + b`, signed, at the larger of the two scales.
fn add(a: &Amount, b: &Amount) -> Amount {
    let (a, b) = (Digits::of(a), Digits::of(b));
    let scale = a.scale.max(b.scale);
    let (a, b) = (a.rescaled(scale), b.rescaled(scale));
    let sum = if a.negative == b.negative {
        Digits {
            negative: a.negative,
            digits: add_digits(&a.digits, &b.digits),
            scale,
        }
    } else {
        let (large, small) = match cmp_digits(&a.digits, &b.digits) {
            std::cmp::Ordering::Less => (b, a),
            _ => (a, b),
        };
        Digits {
            negative: large.negative,
            digits: sub_digits(&large.digits, &small.digits),
            scale,
        }
    };
    sum.into_amount()
}

fn negate(a: &Amount) -> Amount {
    let mut digits = Digits::of(a);
    digits.negative = !digits.negative;
    digits.into_amount()
}

impl Amount {
    /// Zero (`"0"`).
    pub fn zero() -> Amount {
        Amount {
            text: "0".into(),
            plain: None,
        }
    }

    /// The amount in the currency's minor unit, given the currency's
    /// exponent (2 for EUR or USD: `"10.5"` is 1050 cents; 0 for JPY; 3
    /// for KWD).
    ///
    /// ```
    /// use smart_router_webhooks::Amount;
    ///
    /// assert_eq!("10.5".parse::<Amount>()?.to_minor_units(2)?, 1050);
    /// assert_eq!("1500".parse::<Amount>()?.to_minor_units(0)?, 1500);
    /// assert!("0.001".parse::<Amount>()?.to_minor_units(2).is_err());
    /// assert_eq!(Amount::from_minor_units(-1050, 2).as_str(), "-10.50");
    /// # Ok::<(), smart_router_webhooks::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidAmount`] when the amount has a non-zero digit
    /// past the exponent (it is not a whole number of minor units), or does
    /// not fit an `i64`.
    pub fn to_minor_units(&self, exponent: u32) -> Result<i64, Error> {
        let digits = Digits::of(self);
        let exponent = exponent as usize;
        let invalid = |message| Error::new(ErrorKind::InvalidAmount, message);
        let digits = if digits.scale > exponent {
            let cut = digits.digits.len().saturating_sub(digits.scale - exponent);
            if digits.digits[cut..].iter().any(|d| *d != 0) {
                return Err(invalid(
                    "the amount has more decimals than the currency's minor unit",
                ));
            }
            Digits {
                digits: digits.digits[..cut].to_vec(),
                scale: exponent,
                ..digits
            }
        } else {
            digits.rescaled(exponent)
        };
        // Accumulated with the amount's sign, so that i64::MIN fits.
        let mut units: i64 = 0;
        for digit in &digits.digits {
            let digit = i64::from(*digit);
            units = units
                .checked_mul(10)
                .and_then(|u| {
                    if digits.negative {
                        u.checked_sub(digit)
                    } else {
                        u.checked_add(digit)
                    }
                })
                .ok_or_else(|| invalid("the amount in minor units does not fit an i64"))?;
        }
        Ok(units)
    }

    /// The amount of `units` minor units of a currency of `exponent`
    /// (1050 of exponent 2 is `"10.50"`).
    pub fn from_minor_units(units: i64, exponent: u32) -> Amount {
        let magnitude = units.unsigned_abs().to_string();
        Digits {
            negative: units < 0,
            digits: magnitude
                .bytes()
                .map(|b| b - b'0')
                .skip_while(|d| *d == 0)
                .collect(),
            scale: exponent as usize,
        }
        .into_amount()
    }
}

/// Adds and subtracts exactly, written with the larger of the two scales
/// (`"10.00" - "4.5"` is `"5.50"`).
///
/// ```
/// use smart_router_webhooks::Amount;
///
/// let captured: Amount = "10.00".parse()?;
/// let refunded: Amount = "4.5".parse()?;
/// let left = &captured - &refunded;
/// assert_eq!(left.as_str(), "5.50");
/// assert_eq!(&left + &refunded, captured);
/// let refunds = ["1.25", "2", "0.75"].map(|r| r.parse::<Amount>().unwrap());
/// assert_eq!(refunds.iter().sum::<Amount>().as_str(), "4.00");
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
macro_rules! operator {
    ($trait:ident, $method:ident, $f:expr) => {
        impl $trait<&Amount> for &Amount {
            type Output = Amount;
            fn $method(self, other: &Amount) -> Amount {
                $f(self, other)
            }
        }
        impl $trait for Amount {
            type Output = Amount;
            fn $method(self, other: Amount) -> Amount {
                $f(&self, &other)
            }
        }
        impl $trait<&Amount> for Amount {
            type Output = Amount;
            fn $method(self, other: &Amount) -> Amount {
                $f(&self, other)
            }
        }
    };
}

fn subtract(a: &Amount, b: &Amount) -> Amount {
    add(a, &negate(b))
}

operator!(Add, add, add);
operator!(Sub, sub, subtract);

impl Neg for &Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        negate(self)
    }
}

impl Neg for Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        negate(&self)
    }
}

impl<'a> Sum<&'a Amount> for Amount {
    fn sum<I: Iterator<Item = &'a Amount>>(iter: I) -> Amount {
        iter.fold(Amount::zero(), |total, a| add(&total, a))
    }
}

impl Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::zero(), |total, a| add(&total, &a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        s.parse().unwrap()
    }

    #[test]
    fn adds_and_subtracts_exactly_at_the_larger_scale() {
        for (x, y, sum, difference) in [
            ("10.00", "4.5", "14.50", "5.50"),
            ("0.1", "0.2", "0.3", "-0.1"),
            ("-3", "5", "2", "-8"),
            ("-3", "-5", "-8", "2"),
            ("999.99", "0.01", "1000.00", "999.98"),
            ("1e3", "25e-1", "1002.5", "997.5"),
            ("5", "5", "10", "0"),
            ("5.00", "5", "10.00", "0.00"),
            ("0", "-0.00", "0.00", "0.00"),
            (
                "0.10000000000000000001",
                "0.1",
                "0.20000000000000000001",
                "0.00000000000000000001",
            ),
        ] {
            assert_eq!((&a(x) + &a(y)).as_str(), sum, "{x} + {y}");
            assert_eq!((&a(x) - &a(y)).as_str(), difference, "{x} - {y}");
            assert_eq!(&(&a(x) - &a(y)) + &a(y), a(x), "({x} - {y}) + {y}");
        }
        let big = a("123456789012345678901234567890.5");
        assert_eq!((&big + &big).as_str(), "246913578024691357802469135781.0");
        assert_eq!((-a("-2.50")).as_str(), "2.50");
        assert_eq!((-a("0")).as_str(), "0");
    }

    #[test]
    fn sums_and_converts_to_minor_units() {
        let parts = [a("1.25"), a("2"), a("0.75")];
        assert_eq!(parts.iter().sum::<Amount>().as_str(), "4.00");
        assert_eq!(Vec::<Amount>::new().into_iter().sum::<Amount>(), a("0"));
        assert_eq!(a("10.50").to_minor_units(2).unwrap(), 1050);
        assert_eq!(a("10.500").to_minor_units(2).unwrap(), 1050);
        assert_eq!(a("-0.07").to_minor_units(2).unwrap(), -7);
        assert_eq!(a("7").to_minor_units(3).unwrap(), 7000);
        assert_eq!(a("0").to_minor_units(0).unwrap(), 0);
        for (bad, exponent) in [("0.001", 2), ("1.5", 0), ("1e30", 2)] {
            let err = a(bad).to_minor_units(exponent).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidAmount, "{bad}");
        }
        for (units, exponent, text) in [
            (1050, 2, "10.50"),
            (-7, 2, "-0.07"),
            (0, 2, "0.00"),
            (1500, 0, "1500"),
            (i64::MIN, 2, "-92233720368547758.08"),
        ] {
            let amount = Amount::from_minor_units(units, exponent);
            assert_eq!(amount.as_str(), text);
            assert_eq!(amount.to_minor_units(exponent).unwrap(), units);
        }
    }
}
