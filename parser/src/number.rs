//! [`Number`]: a value as the board wrote it, integer or decimal.
//!
//! A sketch that prints `512` means an integer and one that prints `23.5`
//! means a decimal; JSON can say both (`512`, `23.5`), so the difference is
//! kept from the parser to every client instead of turning every value into
//! an `f64` (which would publish `512.0` and lose integers above 2^53).

use std::fmt;

/// One value of a field.
///
/// `Float` is always finite when it comes from [`parse_line`](crate::parse_line):
/// the grammar rejects decimals that overflow an `f64`, and `nan`, `inf`,
/// `-inf` and `ovf` are reported apart as [`NotANumber`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// `-?[0-9]+` that fits in an `i64`.
    Int(i64),
    /// Any other decimal the grammar accepts: `23.5`, `5.`, `.5`, `1e3`.
    Float(f64),
}

impl Number {
    /// The value as an `f64` (an integer beyond 2^53 is rounded).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(value) => value as f64,
            Number::Float(value) => value,
        }
    }

    /// How far apart two values are, as a non-negative `f64`; exact between
    /// two integers up to 2^53 apart.
    pub fn distance(self, other: Number) -> f64 {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.abs_diff(b) as f64,
            (a, b) => (a.as_f64() - b.as_f64()).abs(),
        }
    }

    /// Whether both are integers or both decimals.
    pub fn same_kind(self, other: Number) -> bool {
        matches!(
            (self, other),
            (Number::Int(_), Number::Int(_)) | (Number::Float(_), Number::Float(_))
        )
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Self {
        Number::Int(value)
    }
}

impl From<f64> for Number {
    fn from(value: f64) -> Self {
        Number::Float(value)
    }
}

/// Writes the value so that the grammar reads it back as the same kind and
/// value: an integer in plain digits, a decimal always with a `.` or an
/// exponent (`5.0`, `1e16`, `1e-7`), in the shortest form that round-trips.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(value) => write!(f, "{value}"),
            // `Debug` of an f64 is the shortest round-trip form and, unlike
            // `Display`, never drops the `.0` nor writes 300 digits for 1e300.
            Number::Float(value) => write!(f, "{value:?}"),
        }
    }
}

/// What Arduino's `Serial.print(float)` prints for a value it cannot show.
/// A field that holds one keeps its previous value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotANumber {
    /// `nan`
    Nan,
    /// `inf`
    Inf,
    /// `-inf`
    NegInf,
    /// `ovf`: beyond what `print` can write (about ±4.3e9).
    Ovf,
}

impl NotANumber {
    /// The text as the board prints it, also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            NotANumber::Nan => "nan",
            NotANumber::Inf => "inf",
            NotANumber::NegInf => "-inf",
            NotANumber::Ovf => "ovf",
        }
    }

    /// Reads one of the four words, exactly (lower case, as Arduino prints).
    pub fn from_bytes(text: &[u8]) -> Option<NotANumber> {
        match text {
            b"nan" => Some(NotANumber::Nan),
            b"inf" => Some(NotANumber::Inf),
            b"-inf" => Some(NotANumber::NegInf),
            b"ovf" => Some(NotANumber::Ovf),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_the_kind() {
        assert_eq!(Number::Int(512).to_string(), "512");
        assert_eq!(Number::Int(i64::MIN).to_string(), "-9223372036854775808");
        assert_eq!(Number::Float(5.0).to_string(), "5.0");
        assert_eq!(Number::Float(23.5).to_string(), "23.5");
        assert_eq!(Number::Float(-0.0).to_string(), "-0.0");
        assert_eq!(Number::Float(1e300).to_string(), "1e300");
        assert_eq!(Number::Float(1e-7).to_string(), "1e-7");
    }

    #[test]
    fn distance_is_exact_between_integers() {
        assert_eq!(Number::Int(-3).distance(Number::Int(4)), 7.0);
        assert_eq!(Number::Int(1).distance(Number::Float(1.5)), 0.5);
        assert!(Number::Int(1).same_kind(Number::Int(2)));
        assert!(!Number::Int(1).same_kind(Number::Float(1.0)));
    }

    #[test]
    fn the_four_words_and_nothing_else() {
        for word in [
            NotANumber::Nan,
            NotANumber::Inf,
            NotANumber::NegInf,
            NotANumber::Ovf,
        ] {
            assert_eq!(NotANumber::from_bytes(word.as_str().as_bytes()), Some(word));
        }
        assert_eq!(NotANumber::from_bytes(b"NaN"), None);
        assert_eq!(NotANumber::from_bytes(b"+inf"), None);
    }
}
