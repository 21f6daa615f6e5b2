//! The timed capture format: what `record` writes and replay reads.
//!
//! A timed capture starts with [`HEADER`] on a line of its own. Each line
//! after it is the time since the recording started, in seconds with six
//! decimals, one space, and the line exactly as the board sent it:
//!
//! ```text
//! # esplora-bridge capture v1
//! 0.000000 s:512,x:3,y:-2,z:120,j:0,k:0,l:800,m:20,t:72,u:0,b:0,n:17*3C
//! 0.010021 s:513,x:2,y:-2,z:121,j:0,k:0,l:801,m:18,t:72,u:0,b:0,n:18*3F
//! ```
//!
//! A file without the header is a raw capture: board lines only.

use std::time::Duration;

pub const HEADER: &[u8] = b"# esplora-bridge capture v1";

/// The longest time prefix, with its space: what a replay's framer must
/// allow on top of the longest board line.
pub const PREFIX_MAX: usize = 32;

/// Appends one timed line, with its `\n`.
pub fn write_record(out: &mut Vec<u8>, elapsed: Duration, line: &[u8]) {
    out.extend_from_slice(
        format!("{}.{:06} ", elapsed.as_secs(), elapsed.subsec_micros()).as_bytes(),
    );
    out.extend_from_slice(line);
    out.push(b'\n');
}

/// Splits a timed line into its time and the board's line.
pub fn parse_record(line: &[u8]) -> Option<(Duration, &[u8])> {
    let space = line.iter().position(|&b| b == b' ')?;
    let (time, rest) = (
        std::str::from_utf8(&line[..space]).ok()?,
        &line[space + 1..],
    );
    let (secs, micros) = time.split_once('.')?;
    if micros.len() != 6 {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let micros: u32 = micros.parse().ok()?;
    Some((
        Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)),
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut out = Vec::new();
        write_record(&mut out, Duration::from_micros(12_000_345), b"s:1,x:2\r");
        assert_eq!(out, b"12.000345 s:1,x:2\r\n");
        let (time, line) = parse_record(&out[..out.len() - 1]).unwrap();
        assert_eq!(time, Duration::from_micros(12_000_345));
        assert_eq!(line, b"s:1,x:2\r");
    }

    #[test]
    fn malformed_times_are_not_records() {
        for line in [
            &b"s:1,x:2"[..],
            b"1.5 s:1",
            b"x.000001 s:1",
            b"-1.000000 s:1",
            b"",
        ] {
            assert_eq!(
                parse_record(line),
                None,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
