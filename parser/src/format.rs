//! Formatting a line as a board sends it: the inverse of
//! [`parse_line`](crate::parse_line).
//!
//! The bridge reads lines, it does not write them; this exists so tests,
//! demos and board simulators produce lines from one definition of the
//! format instead of hand-written strings.

use std::fmt::Write as _;

use crate::Number;
use crate::line::checksum as nmea_checksum;

/// Formats a labelled line: `label:value` fields joined by `,`, then `n`
/// (the Esplora's sequence key) if given, then `*HH` if `checksum`. No
/// newline. Integers are written as integers and decimals always with a
/// `.` or an exponent, so the line reads back as the same [`Number`]s.
///
/// The input is not validated: a label that breaks the grammar, a label
/// `n` in `fields`, a duplicate label or too many fields give a line that
/// [`parse_line`](crate::parse_line) rejects.
pub fn format_line(fields: &[(&str, Number)], seq: Option<u16>, checksum: bool) -> String {
    let mut line = String::new();
    let seq = seq.map(|n| ("n", Number::Int(i64::from(n))));
    for (index, (label, value)) in fields.iter().copied().chain(seq).enumerate() {
        if index > 0 {
            line.push(',');
        }
        // Writing to a `String` cannot fail, so there is no error to handle.
        let _ = write!(line, "{label}:{value}");
    }
    finish(line, checksum)
}

/// Formats a line of bare values joined by spaces, as a sketch written for
/// the Serial Plotter prints them (`Serial.print(a); Serial.print(' ');`),
/// then `*HH` if `checksum`. They read back as `value 1`, `value 2`, ...
pub fn format_values(values: &[Number], checksum: bool) -> String {
    let mut line = String::new();
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            line.push(' ');
        }
        let _ = write!(line, "{value}");
    }
    finish(line, checksum)
}

fn finish(mut line: String, checksum: bool) -> String {
    if checksum {
        let _ = write!(line, "*{:02X}", nmea_checksum(line.as_bytes()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints<'a>(fields: &[(&'a str, i64)]) -> Vec<(&'a str, Number)> {
        fields
            .iter()
            .map(|&(label, value)| (label, Number::Int(value)))
            .collect()
    }

    #[test]
    fn formats_a_board_line_with_checksum() {
        let fields = ints(&[
            ("s", 511),
            ("x", 1),
            ("y", 1),
            ("z", 126),
            ("j", 0),
            ("k", 0),
            ("l", 597),
            ("m", 5),
            ("t", 72),
            ("u", 0),
            ("b", 0),
        ]);
        // The first line of the messy sample capture, byte for byte.
        assert_eq!(
            format_line(&fields, Some(0), true),
            "s:511,x:1,y:1,z:126,j:0,k:0,l:597,m:5,t:72,u:0,b:0,n:0*12"
        );
    }

    #[test]
    fn formats_without_seq_or_checksum() {
        assert_eq!(
            format_line(&ints(&[("s", -3), ("x", 4)]), None, false),
            "s:-3,x:4"
        );
        assert_eq!(format_line(&[], Some(9), false), "n:9");
        assert_eq!(format_line(&[], None, false), "");
    }

    #[test]
    fn decimals_keep_a_point_or_an_exponent() {
        let fields = [
            ("temp_C", Number::Float(23.5)),
            ("hum_%", Number::Float(41.0)),
            ("light", Number::Int(512)),
            ("tiny", Number::Float(1e-9)),
        ];
        assert_eq!(
            format_line(&fields, None, false),
            "temp_C:23.5,hum_%:41.0,light:512,tiny:1e-9"
        );
    }

    #[test]
    fn bare_values_are_joined_by_spaces() {
        let values = [Number::Float(23.5), Number::Int(-4)];
        assert_eq!(format_values(&values, false), "23.5 -4");
        assert_eq!(
            format_values(&values, true),
            format!("23.5 -4*{:02X}", nmea_checksum(b"23.5 -4"))
        );
    }

    #[test]
    fn the_checksum_is_two_upper_case_hex_digits() {
        // "s:1" XORs to 0x78, "0:10" to 0x0B: the leading zero is kept.
        assert_eq!(format_line(&ints(&[("s", 1)]), None, true), "s:1*78");
        assert_eq!(format_line(&ints(&[("0", 10)]), None, true), "0:10*0B");
    }
}
