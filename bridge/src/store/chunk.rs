//! Raw chunks (work in progress, issue 12's 300 MB week): the lines of a
//! span kept with each line's arrival time once, rather than once per field
//! that changed in it.
//!
//! Every field that changed in one line shares the line's arrival time, and
//! an average line of the demo board changes 6.5 of its 12 fields, so a
//! time per field's change stores most times six times over. A chunk holds
//! up to [`MAX_LINES`] lines or [`MAX_SPAN_MS`] of time:
//!
//! - the line times: a raw DEFLATE stream of the count (varint), then the
//!   first time in ms since the epoch and each time minus the one before
//!   (zigzag varints);
//! - per field, a [`Changes`] block as [`block`] encodes it, whose times are
//!   not milliseconds but the indices of the chunk's lines the field changed
//!   in: delta-coded or a bit a line, whichever is smaller, so a field that
//!   changes on most lines costs well under a bit a line for its times.
//!
//! Decoding a field maps its indices back through the line times, so a
//! query gets the same `Changes`, times in ms, as from a per-field block:
//! exact. Not yet used by the writer or the queries; the bench measures it
//! on the synthetic week's lines.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use super::block::{self, Changes, Corrupt};
use crate::transform::{Name, Values};

/// The most lines a chunk holds: five and a half minutes at 100 Hz.
pub const MAX_LINES: usize = 32_768;
/// The longest time a chunk spans, first line to last.
pub const MAX_SPAN_MS: i64 = 300_000;

/// The lines of one chunk: their times, and each field's changes by line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    times: Vec<i64>,
    fields: Vec<(Name, Changes)>,
}

impl Chunk {
    /// The lines held.
    pub fn lines(&self) -> usize {
        self.times.len()
    }

    /// Whether a line at `t_ms` with `values` may join this chunk, or must
    /// start another: the chunk is full, too long, or a field's block is.
    pub fn fits(&self, t_ms: i64, values: &Values) -> bool {
        let Some(&first) = self.times.first() else {
            return true;
        };
        let line = self.times.len() as i64;
        self.times.len() < MAX_LINES
            && t_ms.abs_diff(first) < MAX_SPAN_MS as u64
            && values.iter().all(|(name, value)| {
                self.field(name)
                    .is_none_or(|changes| changes.fits(line, value))
            })
    }

    /// Adds a line; the caller checks [`Chunk::fits`] first.
    pub fn push(&mut self, t_ms: i64, values: &Values) {
        let line = self.times.len() as i64;
        self.times.push(t_ms);
        for (name, value) in values.iter() {
            match self.fields.iter_mut().find(|(field, _)| *field == name) {
                Some((_, changes)) => changes.push(line, value),
                None => {
                    let mut changes = Changes::default();
                    changes.push(line, value);
                    self.fields.push((name, changes));
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.times.clear();
        self.fields.clear();
    }

    fn field(&self, name: Name) -> Option<&Changes> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, changes)| changes)
    }

    /// The line times' BLOB, and each field's BLOB (line indices for
    /// times); `best` as in [`Changes::encode`].
    pub fn encode(&self, best: bool) -> (Vec<u8>, Vec<(Name, Vec<u8>)>) {
        let mut plain = Vec::with_capacity(2 + self.times.len() * 2);
        block::put_varint(&mut plain, self.times.len() as u64);
        let mut before = 0i64;
        for &t in &self.times {
            block::put_varint(&mut plain, block::zigzag(t.wrapping_sub(before)));
            before = t;
        }
        let level = if best {
            Compression::best()
        } else {
            Compression::fast()
        };
        let mut encoder = DeflateEncoder::new(Vec::new(), level);
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&plain);
        let times = encoder.finish().unwrap_or_default();
        let fields = self
            .fields
            .iter()
            .map(|(name, changes)| (*name, changes.encode(best)))
            .collect();
        (times, fields)
    }

    /// One field's changes, times in ms, from the chunk's line-times BLOB
    /// and the field's BLOB.
    pub fn decode_field(times: &[u8], field: &[u8]) -> Result<Changes, Corrupt> {
        let mut plain = Vec::with_capacity(times.len() * 4);
        DeflateDecoder::new(times)
            .read_to_end(&mut plain)
            .map_err(|_| Corrupt::new("line times: not a DEFLATE stream"))?;
        let mut bytes = plain.as_slice();
        let count = usize::try_from(block::take_varint(&mut bytes)?)
            .ok()
            .filter(|&count| count <= MAX_LINES)
            .ok_or(Corrupt::new("too many lines"))?;
        let mut line_times = Vec::with_capacity(count);
        let mut t = 0i64;
        for _ in 0..count {
            t = t.wrapping_add(block::unzigzag(block::take_varint(&mut bytes)?));
            line_times.push(t);
        }
        if !bytes.is_empty() {
            return Err(Corrupt::new("line times: trailing bytes"));
        }
        let mut changes = Changes::default();
        changes.decode(field)?;
        for line in &mut changes.times {
            *line = usize::try_from(*line)
                .ok()
                .and_then(|index| line_times.get(index))
                .copied()
                .ok_or(Corrupt::new("a line index past the chunk"))?;
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use esplora_parser::Number;

    use super::*;

    /// One field's changes over `lines`, times in ms, as a per-field block
    /// holds them.
    fn changes_of(lines: &[(i64, Values)], name: Name) -> Changes {
        let mut changes = Changes::default();
        for (t, values) in lines {
            if let Some((_, value)) = values.iter().find(|(field, _)| *field == name) {
                changes.push(*t, value);
            }
        }
        changes
    }

    #[test]
    fn each_field_decodes_to_its_changes_in_ms() {
        let a = Name::from("a");
        let b = Name::from("b");
        let mut lines = Vec::new();
        for i in 0..1000i64 {
            let mut values = Values::new();
            if i % 3 != 0 {
                values.set(a, Number::Int(i % 7 - 3));
            }
            if i % 10 == 0 {
                values.set(b, Number::Float(20.0 + (i % 13) as f64 / 100.0));
            }
            lines.push((1_764_000_000_000 + i * 10 + i % 3, values));
        }
        let mut chunk = Chunk::default();
        for (t, values) in &lines {
            assert!(chunk.fits(*t, values));
            chunk.push(*t, values);
        }
        assert_eq!(chunk.lines(), 1000);
        for best in [false, true] {
            let (times, fields) = chunk.encode(best);
            assert_eq!(fields.len(), 2);
            for (name, blob) in &fields {
                let decoded = Chunk::decode_field(&times, blob).unwrap();
                assert_eq!(decoded, changes_of(&lines, *name));
            }
        }
    }

    #[test]
    fn a_chunk_ends_at_its_lines_span_or_a_fields_kind() {
        let a = Name::from("a");
        let mut int = Values::new();
        int.set(a, Number::Int(1));
        let mut float = Values::new();
        float.set(a, Number::Float(1.5));
        let mut chunk = Chunk::default();
        chunk.push(1000, &int);
        assert!(chunk.fits(1000 + MAX_SPAN_MS - 1, &int));
        assert!(!chunk.fits(1000 + MAX_SPAN_MS, &int));
        assert!(!chunk.fits(1001, &float));
        for _ in 1..MAX_LINES {
            chunk.push(1001, &Values::new());
        }
        assert!(!chunk.fits(1001, &Values::new()));
    }

    #[test]
    fn a_line_index_past_the_chunk_is_an_error() {
        let a = Name::from("a");
        let mut values = Values::new();
        values.set(a, Number::Int(1));
        let mut chunk = Chunk::default();
        chunk.push(5, &values);
        let (times, _) = chunk.encode(false);
        let mut far = Changes::default();
        far.push(1, Number::Int(1));
        assert!(Chunk::decode_field(&times, &far.encode(false)).is_err());
        assert!(Chunk::decode_field(b"junk", &far.encode(false)).is_err());
    }
}
