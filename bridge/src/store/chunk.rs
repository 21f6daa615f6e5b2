//! Raw chunks: the changes of a span of lines, with each line's arrival
//! time kept once for all the fields that changed in it.
//!
//! An average line of the demo board changes 6.5 of its 12 fields, so a
//! time per field's change would store most times six times over. A chunk
//! instead holds up to [`MAX_LINES`] lines within [`MAX_SPAN_MS`]: the
//! lines' times, and per field a [`Changes`] block (see [`super::block`])
//! whose times are not milliseconds but the indices of the chunk's lines
//! the field changed in: for a field that changes on most lines, a bit a
//! line.
//!
//! The BLOB, so that a query decodes only the fields it asks for:
//!
//! ```text
//! lines    varint: the number of lines
//! times    varint length, then a raw DEFLATE stream of the lines' times:
//!          the first in ms since the epoch, then each minus the one before
//!          (zigzag varints)
//! fields   varint count, then per field: its `field.id` (zigzag varint), its
//!          block's length (varint), its block
//! ```
//!
//! Decoding maps a field's line indices back through the line times, so a
//! query gets each change's time in ms: exact.

use esplora_parser::Number;

use super::block::{
    self, Changes, Corrupt, deflate, inflate, put_deltas, put_varint, take_deltas, take_varint,
    unzigzag, zigzag,
};
use crate::transform::{Name, Values};

/// The most lines a chunk holds: five minutes at 100 Hz, half a minute at
/// 1 kHz.
pub const MAX_LINES: usize = block::MAX_VALUES;
/// The most time a chunk spans, earliest line to latest: queries look this
/// far back before their start for a chunk that reaches into it.
pub const MAX_SPAN_MS: i64 = 300_000;

/// The lines of one chunk: their times, and each field's changes by line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    times: Vec<i64>,
    /// The earliest and latest line times (the clock may step back).
    span: Option<(i64, i64)>,
    fields: Vec<Field>,
}

/// One field's changes in a chunk, held in 12 bytes each (a full chunk of
/// a busy board is thousands of them): the lines it changed in, and its
/// values' bits, all of one kind.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    name: Name,
    float: bool,
    lines: Vec<u32>,
    bits: Vec<u64>,
}

impl Field {
    fn new(name: Name, value: Number) -> Field {
        Field {
            name,
            float: matches!(value, Number::Float(_)),
            lines: Vec::new(),
            bits: Vec::new(),
        }
    }

    fn push(&mut self, line: u32, value: Number) {
        self.lines.push(line);
        self.bits.push(match value {
            Number::Int(value) => value as u64,
            Number::Float(value) => value.to_bits(),
        });
    }

    fn value(&self, bits: u64) -> Number {
        if self.float {
            Number::Float(f64::from_bits(bits))
        } else {
            Number::Int(bits as i64)
        }
    }
}

impl Chunk {
    /// The lines held.
    pub fn lines(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The earliest and latest line times, if any.
    pub fn span(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// Whether a line at `t_ms` with `values` may join this chunk, or must
    /// start another: the chunk is full, would span too long, or a field
    /// would switch between integers and decimals.
    pub fn fits(&self, t_ms: i64, values: &Values) -> bool {
        let Some((first, last)) = self.span else {
            return true;
        };
        self.times.len() < MAX_LINES
            && last.max(t_ms).abs_diff(first.min(t_ms)) < MAX_SPAN_MS as u64
            && values.iter().all(|(name, value)| {
                self.fields
                    .iter()
                    .find(|field| field.name == name)
                    .is_none_or(|field| field.float == matches!(value, Number::Float(_)))
            })
    }

    /// Adds a line; the caller checks [`Chunk::fits`] first.
    pub fn push(&mut self, t_ms: i64, values: &Values) {
        // MAX_LINES is far below u32::MAX.
        let line = self.times.len() as u32;
        self.times.push(t_ms);
        self.span = Some(match self.span {
            Some((first, last)) => (first.min(t_ms), last.max(t_ms)),
            None => (t_ms, t_ms),
        });
        for (name, value) in values.iter() {
            match self.fields.iter_mut().find(|field| field.name == name) {
                Some(field) => field.push(line, value),
                None => {
                    let mut field = Field::new(name, value);
                    field.push(line, value);
                    self.fields.push(field);
                }
            }
        }
    }

    /// The fields that changed in the chunk, in the order they first did.
    pub fn names(&self) -> impl Iterator<Item = Name> + '_ {
        self.fields.iter().map(|field| field.name)
    }

    /// The BLOB of the lines from `from` on, as a chunk of their own, with
    /// each field under the id `id` gives it; `best` as in
    /// [`Changes::encode`]. Also returns the earliest and latest of those
    /// lines' times, or `None` if there are none.
    pub fn encode_from(
        &self,
        from: usize,
        best: bool,
        mut id: impl FnMut(Name) -> i64,
    ) -> Option<(Vec<u8>, i64, i64)> {
        let times = self.times.get(from..).filter(|times| !times.is_empty())?;
        let first = times.iter().min().copied()?;
        let last = times.iter().max().copied()?;
        let mut blob = Vec::new();
        put_varint(&mut blob, times.len() as u64);

        let mut plain = Vec::with_capacity(times.len() * 2);
        put_deltas(&mut plain, times);
        let stream = deflate(&[&plain], best);
        put_varint(&mut blob, stream.len() as u64);
        blob.extend_from_slice(&stream);

        let mut fields = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let at = field.lines.partition_point(|&line| (line as usize) < from);
            if at == field.lines.len() {
                continue;
            }
            let part = Changes {
                times: field.lines[at..]
                    .iter()
                    .map(|&line| i64::from(line) - from as i64)
                    .collect(),
                values: field.bits[at..]
                    .iter()
                    .map(|&bits| field.value(bits))
                    .collect(),
            };
            fields.push((id(field.name), part.encode(best)));
        }
        put_varint(&mut blob, fields.len() as u64);
        for (id, stream) in fields {
            put_varint(&mut blob, zigzag(id));
            put_varint(&mut blob, stream.len() as u64);
            blob.extend_from_slice(&stream);
        }
        Some((blob, first, last))
    }
}

/// A chunk's BLOB, read as far as its parts: nothing is decompressed until
/// asked for.
pub struct Stored<'a> {
    lines: usize,
    times: &'a [u8],
    fields: Vec<(i64, &'a [u8])>,
}

impl<'a> Stored<'a> {
    pub fn parse(blob: &'a [u8]) -> Result<Stored<'a>, Corrupt> {
        let mut bytes = blob;
        let lines = usize::try_from(take_varint(&mut bytes)?)
            .ok()
            .filter(|&lines| lines <= MAX_LINES)
            .ok_or(Corrupt::new("too many lines"))?;
        let times = take_part(&mut bytes)?;
        let count = take_varint(&mut bytes)?;
        let mut fields = Vec::new();
        for _ in 0..count {
            let id = unzigzag(take_varint(&mut bytes)?);
            fields.push((id, take_part(&mut bytes)?));
        }
        if !bytes.is_empty() {
            return Err(Corrupt::new("trailing bytes after the fields"));
        }
        Ok(Stored {
            lines,
            times,
            fields,
        })
    }

    /// The lines' times in ms.
    pub fn times(&self) -> Result<Vec<i64>, Corrupt> {
        let plain = inflate(self.times)?;
        let mut bytes = plain.as_slice();
        let mut times = Vec::new();
        take_deltas(&mut bytes, self.lines, &mut times)?;
        if !bytes.is_empty() {
            return Err(Corrupt::new("line times: trailing bytes"));
        }
        Ok(times)
    }

    /// Decodes the field with id `id` into `changes`, times in ms through
    /// `times` (from [`Stored::times`]); false if it did not change here.
    pub fn field(&self, id: i64, times: &[i64], changes: &mut Changes) -> Result<bool, Corrupt> {
        let Some((_, part)) = self.fields.iter().find(|(field, _)| *field == id) else {
            changes.clear();
            return Ok(false);
        };
        changes.decode(part)?;
        for line in &mut changes.times {
            *line = usize::try_from(*line)
                .ok()
                .and_then(|index| times.get(index))
                .copied()
                .ok_or(Corrupt::new("a line index past the chunk"))?;
        }
        Ok(true)
    }
}

/// A length-prefixed part of a BLOB.
fn take_part<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], Corrupt> {
    let len = usize::try_from(take_varint(bytes)?).map_err(|_| Corrupt::new("truncated"))?;
    if len > bytes.len() {
        return Err(Corrupt::new("truncated"));
    }
    let (part, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One field's changes over `lines`, times in ms.
    fn changes_of(lines: &[(i64, Values)], name: Name) -> Changes {
        let mut changes = Changes::default();
        for (t, values) in lines {
            if let Some((_, value)) = values.iter().find(|(field, _)| *field == name) {
                changes.push(*t, value);
            }
        }
        changes
    }

    fn id_of(name: Name) -> i64 {
        if &*name == "a" { 1 } else { 2 }
    }

    fn lines() -> Vec<(i64, Values)> {
        let a = Name::from("a");
        let b = Name::from("b");
        (0..1000i64)
            .map(|i| {
                let mut values = Values::new();
                if i % 3 != 0 {
                    values.set(a, Number::Int(i % 7 - 3));
                }
                if i % 10 == 0 {
                    values.set(b, Number::Float(20.0 + (i % 13) as f64 / 100.0));
                }
                (1_764_000_000_000 + i * 10 + i % 3, values)
            })
            .collect()
    }

    #[test]
    fn each_field_decodes_to_its_changes_in_ms_from_any_line_on() {
        let lines = lines();
        let mut chunk = Chunk::default();
        for (t, values) in &lines {
            assert!(chunk.fits(*t, values));
            chunk.push(*t, values);
        }
        assert_eq!(chunk.lines(), 1000);
        for (from, best) in [(0, false), (0, true), (1, false), (500, true), (999, false)] {
            let (blob, first, last) = chunk.encode_from(from, best, id_of).unwrap();
            assert_eq!((first, last), (lines[from].0, lines[999].0));
            let stored = Stored::parse(&blob).unwrap();
            let times = stored.times().unwrap();
            assert_eq!(times.len(), 1000 - from);
            for name in [Name::from("a"), Name::from("b")] {
                let mut decoded = Changes::default();
                let found = stored.field(id_of(name), &times, &mut decoded).unwrap();
                let expected = changes_of(&lines[from..], name);
                assert_eq!(found, !expected.is_empty());
                assert_eq!(decoded, expected, "{name} from line {from}");
            }
            let mut none = Changes::default();
            assert!(!stored.field(7, &times, &mut none).unwrap());
        }
        assert!(chunk.encode_from(1000, true, id_of).is_none());
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
        // A clock that steps back counts towards the span too.
        chunk.push(1000 + MAX_SPAN_MS - 1, &int);
        assert!(!chunk.fits(999, &int));
        assert_eq!(chunk.span(), Some((1000, 1000 + MAX_SPAN_MS - 1)));
        assert!(!chunk.fits(1001, &float));
        assert!(chunk.fits(1001, &Values::new()));
        for _ in 2..MAX_LINES {
            chunk.push(1001, &Values::new());
        }
        assert!(!chunk.fits(1001, &Values::new()));
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let lines = lines();
        let mut chunk = Chunk::default();
        for (t, values) in &lines {
            chunk.push(*t, values);
        }
        let (blob, _, _) = chunk.encode_from(0, false, id_of).unwrap();
        for cut in [0, 1, 2, blob.len() / 2, blob.len() - 1] {
            assert!(Stored::parse(&blob[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(Stored::parse(&longer).is_err());
        // A field whose line indices run past the chunk's lines.
        let mut short = Chunk::default();
        short.push(5, &lines[1].1);
        let (times, _, _) = short.encode_from(0, false, id_of).unwrap();
        let stored = Stored::parse(&times).unwrap();
        let mut far = Changes::default();
        far.push(3, Number::Int(1));
        let part = far.encode(false);
        let bad = Stored {
            fields: vec![(1, &part)],
            ..stored
        };
        let mut decoded = Changes::default();
        let times = bad.times().unwrap();
        assert!(bad.field(1, &times, &mut decoded).is_err());
        let junk = Stored {
            times: b"junk",
            ..Stored::parse(&blob).unwrap()
        };
        assert!(junk.times().is_err());
    }
}
