//! A block: one field's changes within a [`super::chunk`], packed into
//! bytes.
//!
//! A row per change would cost 15 to 40 bytes; a week at 100 Hz would not
//! fit in any sensible budget. So the changes of a field are kept in
//! columns: the times (in a chunk, the indices of the lines the field
//! changed in), then the values, each coded as the difference from a
//! prediction, so that a field that changes on most lines and a value
//! jittering around its level are runs of small numbers, which DEFLATE then
//! squeezes to a fraction of a byte each.
//!
//! The BLOB is a raw DEFLATE stream (RFC 1951, no zlib header) of two
//! DEFLATE blocks, the times then the values (a sync flush between them, so
//! each gets a Huffman code of its own):
//!
//! ```text
//! kind      1 byte: 0 = integers, 1 = decimals as bits, 2 = decimals as
//!           scaled integers
//! scale     kind 2 only, 1 byte: d, 0 to 9
//! count     varint
//! times     1 byte, then
//!           0 (deltas): count zigzag varints: the first time, then each
//!             time minus the one before (wrapping i64)
//!           1 (bitmap), for rising times: the first time, a zigzag
//!             varint; then bit k (byte k / 8, low bit first) set when
//!             first + k is a time, up to the byte holding the last time,
//!             whose bits past it are 0
//! values    kind 0: 1 byte: the predictor, plus 16 when it skips; then
//!             0 (previous): count zigzag varints, each value minus the
//!               one before (the first minus 0)
//!             1 (base): a zigzag varint b, then count zigzag varints,
//!               each value minus b
//!             2 (mean of 4), 3 (mean of 16): count zigzag varints, each
//!               value minus the mean of the (up to) 4 or 16 values
//!               before it, rounded down (0 for the first)
//!           (all differences wrapping i64). Skips (1 to 3 only, when no
//!           value equals the one before): from the second value on, the
//!           difference that would give the value before is left out, and
//!           each difference above it is stored one less
//!           kind 1: count 8-byte little-endian words: the first value's
//!             IEEE 754 bits, then each value's bits XOR the one before
//!           kind 2: as kind 0, of each value times 10^d; the value is
//!             that integer divided by 10^d (exactly the f64 the board's
//!             decimal text parsed to)
//! ```
//!
//! The encoder writes each column every way that applies and keeps the
//! one that DEFLATEs smallest (at level 1): deltas suit a value that moves little
//! between changes, a base suits noise around a level (its deltas spread
//! twice as wide as the values do), the mean noise around a level that
//! drifts; a bitmap suits times that are the indices of lines a field
//! changed in (a chunk's), a bit a line rather than at least one a change.
//! A block written for the last time (`best`) is also DEFLATEd with each
//! of miniz's strategies, the smallest kept: any of them inflates alike.
//!
//! A sketch prints decimals with a few digits (`23.50`), whose bits look
//! random; kind 2 stores them as the small integers they are (2350), and is
//! used whenever some d from 0 to 9 gives every value of the block back bit
//! for bit.
//!
//! varint: LEB128 (7 bits a byte, low first, high bit set on all but the
//! last); zigzag: `(n << 1) ^ (n >> 63)`. A field that switches between
//! integers and decimals starts a new chunk at each switch.

use std::io::Read;

use esplora_parser::Number;
use flate2::read::DeflateDecoder;
use miniz_oxide::DataFormat;
use miniz_oxide::deflate::core::{
    CompressionStrategy, CompressorOxide, TDEFLFlush, compress_to_output,
};

/// The most changes a block holds: one a line of a full chunk.
pub const MAX_VALUES: usize = 32_768;

/// The changes of one field in one block, decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub times: Vec<i64>,
    pub values: Vec<Number>,
}

/// A block that does not decode: written by something else, or damaged.
#[derive(Debug, thiserror::Error)]
#[error("a raw chunk does not decode: {0}")]
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

    /// The BLOB; `best` spends more time to make it smaller, for a block
    /// that is written for the last time. Each column is written every way
    /// the format allows and the way that DEFLATEs smallest is kept.
    pub fn encode(&self, best: bool) -> Vec<u8> {
        let floats = matches!(self.values.first(), Some(Number::Float(_)));
        let scale = if floats { self.decimal_scale() } else { None };
        let mut times = Vec::with_capacity(3 + self.len() * 2);
        match scale {
            Some(scale) => times.extend_from_slice(&[2, scale]),
            None => times.push(u8::from(floats)),
        }
        put_varint(&mut times, self.len() as u64);
        let bitmap = put_bitmap(&self.times);
        times.extend_from_slice(&smallest([Some(put_time_deltas(&self.times)), bitmap]));
        let values = if floats && scale.is_none() {
            let mut plain = Vec::with_capacity(self.len() * 8);
            let mut before = 0u64;
            for value in &self.values {
                let bits = value.as_f64().to_bits();
                plain.extend_from_slice(&(bits ^ before).to_le_bytes());
                before = bits;
            }
            plain
        } else {
            let factor = 10f64.powi(i32::from(scale.unwrap_or(0)));
            let integers: Vec<i64> = self
                .values
                .iter()
                .map(|value| match *value {
                    Number::Int(value) => value,
                    Number::Float(value) => (value * factor).round() as i64,
                })
                .collect();
            smallest(Predictor::ALL.map(|predictor| Some(predictor.put(&integers))))
        };
        // Times and values each get a DEFLATE block, so each gets a Huffman
        // code fitted to it: the flush between them ends the first block.
        deflate(&[&times, &values], best)
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
        let plain = inflate(blob)?;
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
        match bytes.split_first() {
            Some((&TIMES_DELTAS, rest)) => {
                bytes = rest;
                take_deltas(&mut bytes, count, &mut self.times)?;
            }
            Some((&TIMES_BITMAP, rest)) => {
                bytes = rest;
                take_bitmap(&mut bytes, count, &mut self.times)?;
            }
            _ => return Err(Corrupt("unknown times mode")),
        }
        match kind {
            0 | 2 => {
                let (&predictor, rest) = bytes.split_first().ok_or(Corrupt("truncated"))?;
                bytes = rest;
                if kind == 0 {
                    Predictor::take(predictor, &mut bytes, count, Number::Int, &mut self.values)?;
                } else {
                    let value_of = |value| Number::Float(value as f64 / factor);
                    Predictor::take(predictor, &mut bytes, count, value_of, &mut self.values)?;
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

/// The times column's first byte: how the times follow.
const TIMES_DELTAS: u8 = 0;
const TIMES_BITMAP: u8 = 1;

/// The times column as deltas: its mode byte, then [`put_deltas`].
fn put_time_deltas(times: &[i64]) -> Vec<u8> {
    let mut plain = Vec::with_capacity(1 + times.len() * 2);
    plain.push(TIMES_DELTAS);
    put_deltas(&mut plain, times);
    plain
}

/// Times as zigzag varints: the first, then each minus the one before
/// (wrapping i64).
pub(super) fn put_deltas(out: &mut Vec<u8>, times: &[i64]) {
    let mut before = 0i64;
    for &t in times {
        put_varint(out, zigzag(t.wrapping_sub(before)));
        before = t;
    }
}

/// Reads `count` times that [`put_deltas`] wrote.
pub(super) fn take_deltas(
    bytes: &mut &[u8],
    count: usize,
    times: &mut Vec<i64>,
) -> Result<(), Corrupt> {
    times.reserve(count);
    let mut t = 0i64;
    for _ in 0..count {
        t = t.wrapping_add(unzigzag(take_varint(bytes)?));
        times.push(t);
    }
    Ok(())
}

/// The times as the first (a zigzag varint), then one bit for each time
/// from it to the last, set for the times there are: for times that rise
/// by small steps, such as the lines a field changed in. `None` when the
/// times do not rise, or are too sparse for a bitmap to be worth trying.
fn put_bitmap(times: &[i64]) -> Option<Vec<u8>> {
    let (&first, &last) = (times.first()?, times.last()?);
    let rising = times.windows(2).all(|pair| pair[0] < pair[1]);
    let span = last.checked_sub(first)?;
    if !rising || span / 64 > times.len() as i64 {
        return None;
    }
    let mut plain = Vec::with_capacity(11 + span as usize / 8);
    plain.push(TIMES_BITMAP);
    put_varint(&mut plain, zigzag(first));
    let bits_at = plain.len();
    plain.resize(bits_at + span as usize / 8 + 1, 0);
    for &t in times {
        let bit = (t - first) as usize;
        plain[bits_at + bit / 8] |= 1 << (bit % 8);
    }
    Some(plain)
}

/// Reads what [`put_bitmap`] wrote (after its mode byte): `count` times.
fn take_bitmap(bytes: &mut &[u8], count: usize, times: &mut Vec<i64>) -> Result<(), Corrupt> {
    let mut t = unzigzag(take_varint(bytes)?);
    while times.len() < count {
        let (&byte, rest) = bytes.split_first().ok_or(Corrupt("truncated"))?;
        *bytes = rest;
        let mut bits = byte;
        while bits != 0 && times.len() < count {
            let skip = bits.trailing_zeros();
            times.push(t.wrapping_add(i64::from(skip)));
            bits &= bits - 1;
        }
        if bits != 0 {
            return Err(Corrupt("bits past the last time"));
        }
        t = t.wrapping_add(8);
    }
    Ok(())
}

/// How the integers (kinds 0 and 2) are predicted: each is stored as its
/// difference from the prediction, so the better the guess, the smaller
/// the numbers DEFLATE sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Predictor {
    /// The value before: a value that moves little between changes.
    Previous,
    /// One base value for the block (its median): noise around a level,
    /// whose deltas spread twice as wide as the values do.
    Base,
    /// The mean of the 4 values before (rounded down), or of those there
    /// are: noise around a level that drifts fast.
    Mean4,
    /// The mean of the 16 values before: noise around a level that drifts
    /// slowly.
    Mean16,
}

/// The predictor byte's flag: no value equals the one before it, so the
/// difference that would give the value before is skipped (the numbers
/// above it taken one down). A field's changes are changes: this saves one
/// of the few likely numbers of a noisy field.
const SKIPS_BEFORE: u8 = 0x10;

/// The most values a mean predictor averages.
const MEAN_OF: usize = 16;

impl Predictor {
    const ALL: [Predictor; 4] = [
        Predictor::Previous,
        Predictor::Base,
        Predictor::Mean4,
        Predictor::Mean16,
    ];

    /// The predictor's byte, any parameter, then each value minus its
    /// prediction as zigzag varints (wrapping i64).
    fn put(self, values: &[i64]) -> Vec<u8> {
        let mut plain = Vec::with_capacity(11 + values.len() * 2);
        let skips = self != Predictor::Previous && values.windows(2).all(|pair| pair[0] != pair[1]);
        plain.push(self as u8 | if skips { SKIPS_BEFORE } else { 0 });
        let mut guess = match self {
            Predictor::Previous => Guess::Previous(0),
            Predictor::Base => {
                let mut sorted = values.to_vec();
                sorted.sort_unstable();
                let base = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
                put_varint(&mut plain, zigzag(base));
                Guess::Base(base)
            }
            Predictor::Mean4 => Guess::Mean(Recent::of(4)),
            Predictor::Mean16 => Guess::Mean(Recent::of(16)),
        };
        let mut before = None;
        for &value in values {
            let prediction = guess.predict();
            let mut difference = value.wrapping_sub(prediction);
            if let Some(before) = before.filter(|_| skips) {
                let skipped = i64::wrapping_sub(before, prediction);
                if difference > skipped {
                    difference -= 1;
                }
            }
            put_varint(&mut plain, zigzag(difference));
            guess.push(value);
            before = Some(value);
        }
        plain
    }

    /// Reads what [`Predictor::put`] wrote for `count` values, from the
    /// predictor's byte `which` on.
    fn take(
        which: u8,
        bytes: &mut &[u8],
        count: usize,
        mut value_of: impl FnMut(i64) -> Number,
        values: &mut Vec<Number>,
    ) -> Result<(), Corrupt> {
        let skips = which & SKIPS_BEFORE != 0;
        let mut guess = match which & !SKIPS_BEFORE {
            0 if !skips => Guess::Previous(0),
            1 => Guess::Base(unzigzag(take_varint(bytes)?)),
            2 => Guess::Mean(Recent::of(4)),
            3 => Guess::Mean(Recent::of(16)),
            _ => return Err(Corrupt("unknown predictor")),
        };
        values.reserve(count);
        let mut before = None;
        for _ in 0..count {
            let prediction = guess.predict();
            let mut difference = unzigzag(take_varint(bytes)?);
            if let Some(before) = before.filter(|_| skips) {
                if difference >= i64::wrapping_sub(before, prediction) {
                    // Wrapping: only a damaged blob reaches i64::MAX here.
                    difference = difference.wrapping_add(1);
                }
            }
            let value = prediction.wrapping_add(difference);
            guess.push(value);
            values.push(value_of(value));
            before = Some(value);
        }
        Ok(())
    }
}

/// A predictor's state as the values go by.
enum Guess {
    Previous(i64),
    Base(i64),
    Mean(Recent),
}

impl Guess {
    fn predict(&self) -> i64 {
        match self {
            Guess::Previous(value) | Guess::Base(value) => *value,
            Guess::Mean(mean) => mean.predict(),
        }
    }

    fn push(&mut self, value: i64) {
        match self {
            Guess::Previous(before) => *before = value,
            Guess::Base(_) => {}
            Guess::Mean(mean) => mean.push(value),
        }
    }
}

/// The last values (up to `of`, at most [`MEAN_OF`]) and their sum, for
/// the mean predictors.
struct Recent {
    last: [i64; MEAN_OF],
    of: usize,
    seen: usize,
    sum: i128,
}

impl Recent {
    /// `of`: a power of 2, at most [`MEAN_OF`].
    fn of(of: usize) -> Recent {
        Recent {
            last: [0; MEAN_OF],
            of,
            seen: 0,
            sum: 0,
        }
    }

    /// The mean of the values held, rounded down; 0 before the first.
    fn predict(&self) -> i64 {
        match self.seen.min(self.of) {
            0 => 0,
            // Between the least and greatest value held, so it fits; a
            // shift (the windows are powers of 2) once the window is full.
            held if held == self.of => (self.sum >> self.of.trailing_zeros()) as i64,
            held => self.sum.div_euclid(held as i128) as i64,
        }
    }

    fn push(&mut self, value: i64) {
        let slot = &mut self.last[self.seen & (self.of - 1)];
        if self.seen >= self.of {
            self.sum -= i128::from(*slot);
        }
        *slot = value;
        self.sum += i128::from(value);
        self.seen += 1;
    }
}

/// The candidate that DEFLATEs smallest, judged at level 1: as good a
/// judge as level 9 with every strategy (0.1% more bytes over the
/// synthetic week's chunks) at a fifth of the time.
fn smallest<const N: usize>(candidates: [Option<Vec<u8>>; N]) -> Vec<u8> {
    candidates
        .into_iter()
        .flatten()
        .min_by_key(|plain| deflate(&[plain], false).len())
        .unwrap_or_default()
}

/// `parts` as one raw DEFLATE stream, a block (at least) each: at level 1,
/// or, `best`, at level 9 with each of miniz's strategies, the smallest
/// kept. A noisy column's bytes repeat in short runs that plain LZ77 spends
/// more bits on than it saves: "filtered" (no matches under 6 bytes),
/// "RLE" or Huffman codes alone store it smaller.
pub(super) fn deflate(parts: &[&[u8]], best: bool) -> Vec<u8> {
    let once = |level: u8, strategy: CompressionStrategy| {
        let mut compressor = CompressorOxide::with_params(DataFormat::Raw, level, strategy, 15);
        let mut blob = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let flush = if i + 1 == parts.len() {
                TDEFLFlush::Finish
            } else {
                TDEFLFlush::Sync
            };
            // Output to a callback is never short, so each call takes all
            // of its input.
            compress_to_output(&mut compressor, part, flush, |bytes| {
                blob.extend_from_slice(bytes);
                true
            });
        }
        blob
    };
    if !best {
        return once(1, CompressionStrategy::Default);
    }
    [
        CompressionStrategy::Default,
        CompressionStrategy::Filtered,
        CompressionStrategy::RLE,
        CompressionStrategy::HuffmanOnly,
    ]
    .map(|strategy| once(9, strategy))
    .into_iter()
    .min_by_key(Vec::len)
    .unwrap_or_default()
}

/// What [`deflate`] wrote, inflated.
pub(super) fn inflate(blob: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut plain = Vec::with_capacity(blob.len() * 4);
    DeflateDecoder::new(blob)
        .read_to_end(&mut plain)
        .map_err(|_| Corrupt("not a DEFLATE stream"))?;
    Ok(plain)
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
    if let Some((&byte, rest)) = bytes.split_first().filter(|(byte, _)| **byte < 0x80) {
        *bytes = rest;
        return Ok(u64::from(byte));
    }
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

    /// Integers at the extremes, a level with noise, and a drift: every
    /// predictor gives each back.
    #[test]
    fn every_predictor_round_trips_at_the_extremes() {
        let extremes = [0, i64::MAX, i64::MIN, -1, i64::MIN, i64::MAX, 1, i64::MAX];
        let level: Vec<i64> = (0..100).map(|i| 600 + (i * 7) % 5 - 2).collect();
        let drift: Vec<i64> = (0..100).map(|i| i * 3 - (i * 11) % 4).collect();
        let repeats = [5, 5, 7, 7, 7, 3];
        for values in [&extremes[..], &level, &drift, &repeats, &[], &[42]] {
            for predictor in Predictor::ALL {
                let plain = predictor.put(values);
                assert_eq!(plain[0] & !SKIPS_BEFORE, predictor as u8);
                let skips = predictor != Predictor::Previous
                    && values.windows(2).all(|pair| pair[0] != pair[1]);
                assert_eq!(plain[0] & SKIPS_BEFORE != 0, skips, "{predictor:?}");
                let mut bytes = &plain[1..];
                let mut back = Vec::new();
                Predictor::take(plain[0], &mut bytes, values.len(), Number::Int, &mut back)
                    .unwrap();
                let values: Vec<Number> = values.iter().copied().map(Number::Int).collect();
                assert_eq!(back, values, "{predictor:?}");
                assert!(bytes.is_empty(), "{predictor:?} left bytes");
            }
        }
    }

    #[test]
    fn noise_around_a_level_is_stored_from_a_base() {
        let mut changes = Changes::default();
        let mut noise = 1u64;
        for line in 0..4000i64 {
            noise = noise
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // A field that changes on most lines, jittering around 125.
            let value = Number::Int(125 + (noise >> 33) as i64 % 7 - 3);
            if changes.values.last() != Some(&value) {
                changes.push(line, value);
            }
        }
        let blob = changes.encode(true);
        let mut plain = Vec::new();
        DeflateDecoder::new(&blob[..])
            .read_to_end(&mut plain)
            .unwrap();
        // kind 0, the count (2 bytes), the bitmap: its mode, the first
        // line (1 byte) and a bit a line to the last; then the predictor.
        assert_eq!(plain[3], TIMES_BITMAP, "line indices as a bitmap");
        let bits = changes.times[changes.len() - 1] - changes.times[0];
        assert_eq!(
            plain[5 + bits as usize / 8 + 1],
            Predictor::Base as u8 | SKIPS_BEFORE
        );
        round_trip(&changes);
    }

    #[test]
    fn times_round_trip_as_deltas_and_as_bitmaps() {
        for times in [
            vec![],
            vec![7],
            vec![i64::MIN, i64::MIN + 1, i64::MIN + 9],
            vec![i64::MAX - 20, i64::MAX - 8, i64::MAX],
            vec![-3, -2, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 40],
            vec![0, 8, 16, 17],
        ] {
            let candidates = [Some(put_time_deltas(&times)), put_bitmap(&times)];
            assert_eq!(candidates[1].is_some(), !times.is_empty());
            for plain in candidates.into_iter().flatten() {
                let mut changes = Changes::default();
                let mut bytes = &plain[1..];
                match plain[0] {
                    TIMES_BITMAP => take_bitmap(&mut bytes, times.len(), &mut changes.times),
                    _ => (0..times.len()).try_for_each(|_| {
                        let t = unzigzag(take_varint(&mut bytes)?);
                        let before = changes.times.last().copied().unwrap_or(0);
                        changes.times.push(before.wrapping_add(t));
                        Ok(())
                    }),
                }
                .unwrap();
                assert_eq!(changes.times, times, "mode {}", plain[0]);
                assert!(bytes.is_empty());
            }
        }
        // Not rising, or too sparse: no bitmap.
        assert!(put_bitmap(&[5, 5]).is_none());
        assert!(put_bitmap(&[5, 4]).is_none());
        assert!(put_bitmap(&[0, 1_000_000]).is_none());
        assert!(put_bitmap(&[i64::MIN, i64::MAX]).is_none());
    }

    #[test]
    fn an_empty_block_and_a_single_change_round_trip() {
        round_trip(&Changes::default());
        for value in [
            Number::Int(i64::MIN),
            Number::Float(-1.25),
            Number::Float(f64::NAN),
        ] {
            let mut changes = Changes::default();
            changes.push(i64::MAX, value);
            let mut decoded = Changes::default();
            decoded.decode(&changes.encode(true)).unwrap();
            assert_eq!(decoded.times, changes.times);
            assert_eq!(
                decoded.values[0].as_f64().to_bits(),
                value.as_f64().to_bits()
            );
        }
    }

    #[test]
    fn every_damaged_copy_of_a_blob_is_an_error_or_decodes() {
        let mut changes = Changes::default();
        for i in 0..300i64 {
            changes.push(i + i / 7, Number::Int((i * 13) % 17));
        }
        let blob = changes.encode(true);
        let mut decoded = Changes::default();
        for cut in 0..blob.len() {
            assert!(decoded.decode(&blob[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..blob.len() {
            for flip in [1u8, 0x10, 0x80] {
                let mut bad = blob.clone();
                bad[at] ^= flip;
                let _ = decoded.decode(&bad);
            }
        }
        for (plain, reason) in [
            (&[0, 1, 9, 0, 0][..], "unknown times mode"),
            (&[0, 1, 0, 0, 9, 0], "unknown predictor"),
            (&[0, 2, TIMES_BITMAP, 0, 0b111], "bits past the last time"),
            (&[0, 9, TIMES_BITMAP, 0, 0xff], "truncated"),
            (&[0, 1, 0, 0, 0, 0, 0], "trailing bytes"),
        ] {
            let error = decoded.decode(&deflate(&[plain], false)).unwrap_err();
            assert_eq!(error.0, reason, "{plain:?}");
        }
    }

    #[test]
    fn every_strategy_inflates_to_the_parts() {
        let parts: [&[u8]; 2] = [b"times times times", &[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 9]];
        for best in [false, true] {
            let mut plain = Vec::new();
            DeflateDecoder::new(&deflate(&parts, best)[..])
                .read_to_end(&mut plain)
                .unwrap();
            assert_eq!(plain, parts.concat());
        }
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let mut changes = Changes::default();
        changes.push(1, Number::Int(1));
        let blob = changes.encode(false);
        let mut decoded = Changes::default();
        assert!(decoded.decode(b"not deflate").is_err());
        assert!(decoded.decode(&blob[..blob.len() / 2]).is_err());
        assert!(decoded.decode(&deflate(&[&[7, 1, 2, 2]], true)).is_err());
    }
}
