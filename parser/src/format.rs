//! Formatting a line as the board sends it: the inverse of
//! [`parse_line`](crate::parse_line).
//!
//! The bridge reads lines, it does not write them; this exists so tests,
//! demos and board simulators produce lines from one definition of the
//! format instead of hand-written strings.

use std::fmt::Write as _;

use crate::line::checksum as nmea_checksum;

/// Formats a line the board would send: fields in order, then `n` if given,
/// then `*HH` if `checksum`. No newline.
///
/// The input is not validated: a key that breaks the grammar, a key `n` in
/// `fields`, a duplicate key or too many fields give a line that
/// [`parse_line`](crate::parse_line) rejects.
pub fn format_line(fields: &[(&str, i64)], seq: Option<u16>, checksum: bool) -> String {
    let mut line = String::new();
    let seq = seq.map(|n| ("n", i64::from(n)));
    for (index, (key, value)) in fields.iter().copied().chain(seq).enumerate() {
        if index > 0 {
            line.push(',');
        }
        // Writing to a `String` cannot fail, so there is no error to handle.
        let _ = write!(line, "{key}:{value}");
    }
    if checksum {
        let _ = write!(line, "*{:02X}", nmea_checksum(line.as_bytes()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_board_line_with_checksum() {
        let fields = [
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
        ];
        // The first line of the messy sample capture, byte for byte.
        assert_eq!(
            format_line(&fields, Some(0), true),
            "s:511,x:1,y:1,z:126,j:0,k:0,l:597,m:5,t:72,u:0,b:0,n:0*12"
        );
    }

    #[test]
    fn formats_without_seq_or_checksum() {
        assert_eq!(format_line(&[("s", -3), ("x", 4)], None, false), "s:-3,x:4");
        assert_eq!(format_line(&[], Some(9), false), "n:9");
        assert_eq!(format_line(&[], None, false), "");
    }

    #[test]
    fn the_checksum_is_two_upper_case_hex_digits() {
        // "s:1" XORs to 0x78, "0:10" to 0x0B: the leading zero is kept.
        assert_eq!(format_line(&[("s", 1)], None, true), "s:1*78");
        assert_eq!(format_line(&[("0", 10)], None, true), "0:10*0B");
    }
}
