//! The raw blocks: one field's changes, up to [`MAX_VALUES`] of them or
//! [`MAX_SPAN_MS`] of time, packed into one BLOB.
//!
//! A row per change would cost 15 to 40 bytes; a week at 100 Hz would not
//! fit in any sensible budget. So the changes of a field are kept in
//! columns: the times, then the values, each delta-encoded, so that a
//! steady 10 ms rhythm and a value jittering around its level are runs of
//! small numbers, which DEFLATE then squeezes to a fraction of a byte each.
//!
//! The BLOB is a raw DEFLATE stream (RFC 1951, no zlib header) of:
//!
//! ```text
//! kind     1 byte: 0 = integers, 1 = decimals as bits, 2 = decimals as
//!          scaled integers
//! scale    kind 2 only, 1 byte: d, 0 to 9
//! count    varint
//! times    count zigzag varints: the first time in ms since the epoch,
//!          then each time minus the one before
//! values   kind 0: count zigzag varints: the first value, then each value
//!                  minus the one before (wrapping i64)
//!          kind 1: count 8-byte little-endian words: the first value's
//!                  IEEE 754 bits, then each value's bits XOR the one before
//!          kind 2: as kind 0, of each value times 10^d; the value is that
//!                  integer divided by 10^d (exactly the f64 the board's
//!                  decimal text parsed to)
//! ```
//!
//! A sketch prints decimals with a few digits (`23.50`), whose bits look
//! random; kind 2 stores them as the small integers they are (2350), and is
//! used whenever some d from 0 to 9 gives every value of the block back bit
//! for bit.
//!
//! varint: LEB128 (7 bits a byte, low first, high bit set on all but the
//! last); zigzag: `(n << 1) ^ (n >> 63)`. A field that switches between
//! integers and decimals starts a new block at each switch.

use std::io::{Read, Write};

use esplora_parser::Number;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

/// The most changes a block holds.
pub const MAX_VALUES: usize = 32_768;
/// The longest time a block spans, first change to last: queries look this
/// far back before their start for a block that reaches into it.
pub const MAX_SPAN_MS: i64 = 60_000;

/// The changes of one field in one block, decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub times: Vec<i64>,
    pub values: Vec<Number>,
}

/// A block that does not decode: written by something else, or damaged.
#[derive(Debug, thiserror::Error)]
#[error("a raw block does not decode: {0}")]
pub struct Corrupt(&'static str);

impl Corrupt {
    pub(super) fn new(reason: &'static str) -> Corrupt {
        Corrupt(reason)
    }
}

impl Changes {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    pub fn push(&mut self, t_ms: i64, value: Number) {
        self.times.push(t_ms);
        self.values.push(value);
    }

    pub fn clear(&mut self) {
        self.times.clear();
        self.values.clear();
    }

    /// Whether `value` may join this block at `t_ms`, or must start another.
    pub fn fits(&self, t_ms: i64, value: Number) -> bool {
        match (self.times.first(), self.values.first()) {
            (Some(first), Some(kind)) => {
                self.len() < MAX_VALUES
                    && t_ms.abs_diff(*first) < MAX_SPAN_MS as u64
                    && kind.same_kind(value)
            }
            _ => true,
        }
    }

    /// The BLOB; `best` spends more time to make it smaller, for a block
    /// that is written for the last time.
    pub fn encode(&self, best: bool) -> Vec<u8> {
        let mut plain = Vec::with_capacity(3 + self.len() * 3);
        let floats = matches!(self.values.first(), Some(Number::Float(_)));
        let scale = if floats { self.decimal_scale() } else { None };
        match scale {
            Some(scale) => plain.extend_from_slice(&[2, scale]),
            None => plain.push(u8::from(floats)),
        }
        put_varint(&mut plain, self.len() as u64);
        let mut before = 0i64;
        for &t in &self.times {
            put_varint(&mut plain, zigzag(t.wrapping_sub(before)));
            before = t;
        }
        let values_at = plain.len();
        if let Some(scale) = scale {
            let factor = 10f64.powi(i32::from(scale));
            let mut before = 0i64;
            for value in &self.values {
                let value = (value.as_f64() * factor).round() as i64;
                put_varint(&mut plain, zigzag(value.wrapping_sub(before)));
                before = value;
            }
        } else if floats {
            let mut before = 0u64;
            for value in &self.values {
                let bits = value.as_f64().to_bits();
                plain.extend_from_slice(&(bits ^ before).to_le_bytes());
                before = bits;
            }
        } else {
            let mut before = 0i64;
            for value in &self.values {
                let value = match *value {
                    Number::Int(value) => value,
                    // `fits` keeps one kind a block.
                    Number::Float(value) => value as i64,
                };
                put_varint(&mut plain, zigzag(value.wrapping_sub(before)));
                before = value;
            }
        }
        let level = if best {
            Compression::best()
        } else {
            Compression::fast()
        };
        let mut encoder = DeflateEncoder::new(Vec::with_capacity(plain.len() / 2), level);
        // Times and values each get a DEFLATE block, so each gets a Huffman
        // code fitted to it: the flush between them ends the first block.
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&plain[..values_at]);
        let _ = encoder.flush();
        let _ = encoder.write_all(&plain[values_at..]);
        encoder.finish().unwrap_or_default()
    }

    /// The fewest decimal digits that give every value back exactly, as
    /// `integer / 10^d`, if 9 or fewer do.
    fn decimal_scale(&self) -> Option<u8> {
        (0..=9u8).find(|&d| {
            let factor = 10f64.powi(i32::from(d));
            self.values.iter().all(|value| {
                let value = value.as_f64();
                let scaled = (value * factor).round();
                // Through the integer, so that -0.0 (stored as 0) fails.
                scaled.abs() < 9.0e15
                    && ((scaled as i64) as f64 / factor).to_bits() == value.to_bits()
            })
        })
    }

    /// Decodes a BLOB into `self` (cleared first).
    pub fn decode(&mut self, blob: &[u8]) -> Result<(), Corrupt> {
        self.clear();
        let mut plain = Vec::with_capacity(blob.len() * 4);
        DeflateDecoder::new(blob)
            .read_to_end(&mut plain)
            .map_err(|_| Corrupt("not a DEFLATE stream"))?;
        let mut bytes = plain.as_slice();
        let (&kind, rest) = bytes.split_first().ok_or(Corrupt("empty"))?;
        bytes = rest;
        let mut factor = 1.0;
        if kind == 2 {
            let (&scale, rest) = bytes.split_first().ok_or(Corrupt("truncated"))?;
            if scale > 9 {
                return Err(Corrupt("scale over 9"));
            }
            factor = 10f64.powi(i32::from(scale));
            bytes = rest;
        }
        let count = usize::try_from(take_varint(&mut bytes)?)
            .ok()
            .filter(|&count| count <= MAX_VALUES)
            .ok_or(Corrupt("too many values"))?;
        let mut t = 0i64;
        for _ in 0..count {
            t = t.wrapping_add(unzigzag(take_varint(&mut bytes)?));
            self.times.push(t);
        }
        match kind {
            0 | 2 => {
                let mut value = 0i64;
                for _ in 0..count {
                    value = value.wrapping_add(unzigzag(take_varint(&mut bytes)?));
                    self.values.push(match kind {
                        0 => Number::Int(value),
                        _ => Number::Float(value as f64 / factor),
                    });
                }
            }
            1 => {
                let mut bits = 0u64;
                for _ in 0..count {
                    let (word, rest) =
                        bytes.split_first_chunk::<8>().ok_or(Corrupt("truncated"))?;
                    bits ^= u64::from_le_bytes(*word);
                    bytes = rest;
                    self.values.push(Number::Float(f64::from_bits(bits)));
                }
            }
            _ => return Err(Corrupt("unknown kind")),
        }
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(Corrupt("trailing bytes"))
        }
    }
}

pub(super) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

pub(super) fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(super) fn take_varint(bytes: &mut &[u8]) -> Result<u64, Corrupt> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or(Corrupt("truncated"))?;
        *bytes = rest;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(Corrupt("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(changes: &Changes) {
        for best in [false, true] {
            let mut decoded = Changes::default();
            decoded.decode(&changes.encode(best)).unwrap();
            assert_eq!(&decoded, changes);
        }
    }

    #[test]
    fn integers_and_times_round_trip_at_the_extremes() {
        let mut changes = Changes::default();
        for (t, v) in [
            (1_764_000_000_000, 0),
            (1_764_000_000_010, i64::MAX),
            (1_764_000_000_009, i64::MIN),
            (1_764_000_000_009, -1),
            (-5, 3),
        ] {
            changes.push(t, Number::Int(v));
        }
        round_trip(&changes);
    }

    #[test]
    fn decimals_round_trip_bit_for_bit() {
        let mut changes = Changes::default();
        for (i, v) in [23.5, -0.0, 41.0, f64::MAX, 1e-300, 0.1 + 0.2]
            .into_iter()
            .enumerate()
        {
            changes.push(1_764_000_000_000 + i as i64, Number::Float(v));
        }
        round_trip(&changes);
        let mut decoded = Changes::default();
        decoded.decode(&changes.encode(true)).unwrap();
        assert!(matches!(decoded.values[1], Number::Float(z) if z.is_sign_negative()));
    }

    #[test]
    fn printed_decimals_are_stored_as_scaled_integers() {
        let mut changes = Changes::default();
        for i in 0..1000 {
            let text = format!("{}.{:02}", 20 + i % 7, (i * 37) % 100);
            changes.push(
                1_764_000_000_000 + i * 10,
                Number::Float(text.parse().unwrap()),
            );
        }
        let blob = changes.encode(true);
        assert!(blob.len() < 2_000, "{} bytes for 1000 decimals", blob.len());
        round_trip(&changes);
        let mut plain = Vec::new();
        DeflateDecoder::new(&blob[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain[..2], [2, 2], "kind 2, two digits");
        // One value that no scale gives back keeps the block in bits;
        // so does -0.0, which an integer cannot hold.
        let mut zero = Changes::default();
        zero.push(1, Number::Float(-0.0));
        round_trip(&zero);
        let mut decoded = Changes::default();
        decoded.decode(&zero.encode(true)).unwrap();
        assert!(matches!(decoded.values[0], Number::Float(z) if z.is_sign_negative()));
        changes.push(1_764_000_010_000, Number::Float(std::f64::consts::PI));
        round_trip(&changes);
    }

    #[test]
    fn a_steady_noisy_field_takes_well_under_a_byte_a_change() {
        let mut changes = Changes::default();
        let mut noise = 12345u64;
        for i in 0..6000 {
            noise = noise
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let jitter = (noise >> 61) as i64 - 3;
            changes.push(1_764_000_000_000 + i * 10, Number::Int(600 + jitter));
        }
        let blob = changes.encode(true);
        assert!(blob.len() < 6000, "{} bytes for 6000 changes", blob.len());
        round_trip(&changes);
    }

    #[test]
    fn a_block_ends_at_its_size_span_or_kind() {
        let mut changes = Changes::default();
        assert!(changes.fits(0, Number::Float(1.0)));
        changes.push(1000, Number::Int(1));
        assert!(changes.fits(1000 + MAX_SPAN_MS - 1, Number::Int(2)));
        assert!(!changes.fits(1000 + MAX_SPAN_MS, Number::Int(2)));
        assert!(!changes.fits(1001, Number::Float(2.0)));
        for i in 1..MAX_VALUES {
            changes.push(1000 + i as i64, Number::Int(1));
        }
        assert!(!changes.fits(1000, Number::Int(2)));
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let mut changes = Changes::default();
        changes.push(1, Number::Int(1));
        let blob = changes.encode(false);
        let mut decoded = Changes::default();
        assert!(decoded.decode(b"not deflate").is_err());
        assert!(decoded.decode(&blob[..blob.len() / 2]).is_err());
        let mut plain = DeflateEncoder::new(Vec::new(), Compression::fast());
        plain.write_all(&[7, 1, 2, 2]).unwrap();
        assert!(decoded.decode(&plain.finish().unwrap()).is_err());
    }
}
