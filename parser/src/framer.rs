//! Cutting a byte stream into lines, with a bounded buffer.
//!
//! Serial reads end anywhere: in the middle of a line, or with several lines
//! at once. [`LineFramer`] takes the bytes as they come and hands over whole
//! lines, so that the parser only ever sees one line at a time.
//!
//! A board that misbehaves must not cost memory: a line longer than the
//! limit is never buffered whole. The framer keeps at most
//! [`MAX_LINE_LEN`] + 1 bytes (room for a line and its `\r`; more only when
//! built [`with_max_len`](LineFramer::with_max_len)); past that it
//! only counts the bytes of the line until its `\n`, then reports it as
//! [`LineError::TooLong`]. Lines that arrive whole in one chunk are handed
//! over straight from that chunk, without a copy.

use crate::{LineError, MAX_LINE_LEN};

/// Splits a byte stream into lines with a bounded buffer.
///
/// Each line is handed over without its `\n`, with its `\r` if it had one:
/// `Ok(line)`, or `Err` when it was too long or was the partial first line
/// after [`resync`](Self::resync). Empty lines are handed over too, so that
/// the parser counts them.
#[derive(Debug)]
pub struct LineFramer {
    /// The start of a line whose `\n` has not come yet. Its capacity is
    /// allocated once and never grows.
    buf: Vec<u8>,
    /// The longest line handed over, without its `\r`.
    max_len: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a line in `buf`.
    Collecting,
    /// Dropping a line up to its `\n`, without keeping its bytes.
    Skipping {
        /// Bytes of the line so far, its `\r` included.
        len: usize,
        /// Whether the last byte so far was `\r`, which is not counted in
        /// the reported length when the `\n` follows.
        ends_with_cr: bool,
        why: Skip,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// The line went past the buffer: report it as too long.
    TooLong,
    /// The line began before a (re)connect: report it as partial.
    Partial,
}

impl LineFramer {
    /// A framer at the start of a stream, where the first byte starts a line.
    /// A framer for board lines: at most [`MAX_LINE_LEN`] bytes.
    pub fn new() -> Self {
        Self::with_max_len(MAX_LINE_LEN)
    }

    /// A framer for lines of at most `max_len` bytes (without the `\r`),
    /// for formats that wrap a board line, such as a timed capture.
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            buf: Vec::with_capacity(max_len + 1),
            max_len,
            state: State::Collecting,
        }
    }

    /// Start of a new connection mid-stream: drop any buffered bytes and
    /// discard everything up to and including the next `\n`, reported as
    /// `Err(LineError::Partial)` (only if there were bytes before that
    /// newline, a lone `\r` aside).
    pub fn resync(&mut self) {
        self.buf.clear();
        self.state = State::Skipping {
            len: 0,
            ends_with_cr: false,
            why: Skip::Partial,
        };
    }

    /// Feeds bytes in any chunking; calls `on_line` once per complete line,
    /// in order: `Ok(line without \n, \r kept)` or `Err(TooLong{..})` /
    /// `Err(Partial)`.
    ///
    /// A line longer than [`MAX_LINE_LEN`] (+1 for a `\r`) is never buffered
    /// whole: the framer stops buffering, skips to the next `\n`, and reports
    /// one `TooLong` for it.
    pub fn push(&mut self, bytes: &[u8], mut on_line: impl FnMut(Result<&[u8], LineError>)) {
        let mut rest = bytes;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            self.end_line(&rest[..newline], &mut on_line);
            rest = &rest[newline + 1..];
        }
        self.keep(rest);
    }

    /// End of input (a file without a final newline): hands over the
    /// unterminated rest, if any, as a last line (or `TooLong`, or
    /// `Partial` after a [`resync`](Self::resync)). Then the framer is empty.
    pub fn finish(&mut self, mut on_line: impl FnMut(Result<&[u8], LineError>)) {
        if self.state != State::Collecting || !self.buf.is_empty() {
            self.end_line(&[], &mut on_line);
        }
    }

    /// Ends the current line, whose last bytes (before its `\n`) are `tail`.
    fn end_line(&mut self, tail: &[u8], on_line: &mut impl FnMut(Result<&[u8], LineError>)) {
        match self.state {
            State::Collecting if self.buf.is_empty() => on_line(check_len(tail, self.max_len)),
            State::Collecting => {
                if self.buf.len() + tail.len() <= self.buffer_len() {
                    self.buf.extend_from_slice(tail);
                    on_line(check_len(&self.buf, self.max_len));
                } else {
                    let ends_with_cr = tail.last().or(self.buf.last()) == Some(&b'\r');
                    let len = self.buf.len() + tail.len() - usize::from(ends_with_cr);
                    on_line(Err(LineError::TooLong { len }));
                }
                self.buf.clear();
            }
            State::Skipping {
                len,
                ends_with_cr,
                why,
            } => {
                let ends_with_cr = tail.last().map_or(ends_with_cr, |&byte| byte == b'\r');
                let len = len.saturating_add(tail.len()) - usize::from(ends_with_cr);
                match why {
                    Skip::TooLong => on_line(Err(LineError::TooLong { len })),
                    Skip::Partial if len > 0 => on_line(Err(LineError::Partial)),
                    Skip::Partial => {}
                }
                self.state = State::Collecting;
            }
        }
    }

    /// Keeps the start of a line whose `\n` has not come yet.
    fn keep(&mut self, head: &[u8]) {
        let fits = self.buf.len() + head.len() <= self.buffer_len();
        match &mut self.state {
            State::Collecting if fits => {
                self.buf.extend_from_slice(head);
            }
            State::Collecting => {
                self.state = State::Skipping {
                    len: self.buf.len() + head.len(),
                    ends_with_cr: head.last() == Some(&b'\r'),
                    why: Skip::TooLong,
                };
                self.buf.clear();
            }
            State::Skipping {
                len, ends_with_cr, ..
            } => {
                *len = len.saturating_add(head.len());
                if let Some(&last) = head.last() {
                    *ends_with_cr = last == b'\r';
                }
            }
        }
    }

    /// The most bytes the framer buffers: a line of `max_len` and its `\r`.
    fn buffer_len(&self) -> usize {
        self.max_len + 1
    }

    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new()
    }
}

/// A line handed over whole still has to fit: `max_len` bytes without its
/// `\r`.
fn check_len(line: &[u8], max_len: usize) -> Result<&[u8], LineError> {
    let len = line.strip_suffix(b"\r").unwrap_or(line).len();
    if len > max_len {
        Err(LineError::TooLong { len })
    } else {
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the framer handed over: lines as text, errors by label.
    type Outcome = Result<String, &'static str>;

    fn record(outcomes: &mut Vec<Outcome>) -> impl FnMut(Result<&[u8], LineError>) + '_ {
        |line| {
            outcomes.push(
                line.map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                    .map_err(|error| error.reason()),
            )
        }
    }

    /// Feeds `chunks` in turn, then finishes.
    fn frame(framer: &mut LineFramer, chunks: &[&[u8]]) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for chunk in chunks {
            framer.push(chunk, record(&mut outcomes));
        }
        framer.finish(record(&mut outcomes));
        outcomes
    }

    fn lines(texts: &[&str]) -> Vec<Outcome> {
        texts.iter().map(|text| Ok((*text).to_owned())).collect()
    }

    const STREAM: &[u8] = b"s:1,x:2\r\n\ny:-3\nthis is\r not parsed here\n\r\nz:4";

    #[test]
    fn cuts_lines_keeping_cr_and_empty_lines() {
        let outcomes = frame(&mut LineFramer::new(), &[STREAM]);
        assert_eq!(
            outcomes,
            lines(&[
                "s:1,x:2\r",
                "",
                "y:-3",
                "this is\r not parsed here",
                "\r",
                "z:4"
            ])
        );
    }

    #[test]
    fn any_chunking_gives_the_same_lines() {
        let whole = frame(&mut LineFramer::new(), &[STREAM]);
        for size in 1..STREAM.len() {
            let chunks: Vec<&[u8]> = STREAM.chunks(size).collect();
            assert_eq!(
                frame(&mut LineFramer::new(), &chunks),
                whole,
                "chunks of {size}"
            );
        }
        for split in 0..=STREAM.len() {
            let (head, tail) = STREAM.split_at(split);
            assert_eq!(frame(&mut LineFramer::new(), &[head, b"", tail]), whole);
        }
    }

    #[test]
    fn finish_hands_over_the_unterminated_rest_then_is_empty() {
        let mut framer = LineFramer::new();
        let mut outcomes = Vec::new();
        framer.push(b"a:1\nb:2", record(&mut outcomes));
        assert_eq!(outcomes, lines(&["a:1"]));
        framer.finish(record(&mut outcomes));
        assert_eq!(outcomes, lines(&["a:1", "b:2"]));
        framer.finish(record(&mut outcomes));
        framer.push(b"c:3\n", record(&mut outcomes));
        assert_eq!(outcomes, lines(&["a:1", "b:2", "c:3"]));
    }

    #[test]
    fn finish_after_a_final_newline_hands_over_nothing() {
        assert_eq!(frame(&mut LineFramer::new(), &[b"a:1\n"]), lines(&["a:1"]));
        assert_eq!(frame(&mut LineFramer::new(), &[]), lines(&[]));
    }

    #[test]
    fn lines_of_512_bytes_pass_and_513_are_too_long() {
        let at_limit = vec![b'a'; MAX_LINE_LEN];
        let over = vec![b'a'; MAX_LINE_LEN + 1];
        for chunk_size in [1, 7, 512, 513, 2000] {
            let mut input = Vec::new();
            for line in [&at_limit, &over] {
                input.extend_from_slice(line);
                input.extend_from_slice(b"\n");
                input.extend_from_slice(line);
                input.extend_from_slice(b"\r\n");
            }
            let chunks: Vec<&[u8]> = input.chunks(chunk_size).collect();
            let outcomes = frame(&mut LineFramer::new(), &chunks);
            let text = String::from_utf8_lossy(&at_limit).into_owned();
            let expected = vec![
                Ok(text.clone()),
                Ok(text + "\r"),
                Err("too_long"),
                Err("too_long"),
            ];
            assert_eq!(outcomes, expected, "chunks of {chunk_size}");
        }
    }

    #[test]
    fn too_long_reports_the_length_without_the_cr() {
        for input in [&b"xxxxxx"[..], b"xxxxxx\r"] {
            for chunk_size in [1, 100, 1000] {
                let mut stream = input.repeat(200);
                stream.extend_from_slice(b"\n");
                let chunks: Vec<&[u8]> = stream.chunks(chunk_size).collect();
                let mut errors = Vec::new();
                let mut framer = LineFramer::new();
                for chunk in chunks {
                    framer.push(chunk, |line| errors.push(line.map(<[u8]>::to_vec)));
                }
                let len = stream.len() - 1 - usize::from(input.ends_with(b"\r"));
                assert_eq!(errors, [Err(LineError::TooLong { len })]);
            }
        }
    }

    #[test]
    fn sixteen_megabytes_without_newline_cost_a_bounded_buffer() {
        let mut framer = LineFramer::new();
        let capacity = framer.buffer_capacity();
        assert!(capacity <= 4096, "{capacity}");
        let mut outcomes = Vec::new();
        let junk = vec![b'x'; 64 * 1024];
        for _ in 0..256 {
            framer.push(&junk, record(&mut outcomes));
            assert_eq!(framer.buffer_capacity(), capacity);
        }
        assert!(outcomes.is_empty());
        framer.push(b"\ns:1,x:2\n", record(&mut outcomes));
        assert_eq!(outcomes, [Err("too_long"), Ok("s:1,x:2".to_owned())]);
        assert_eq!(framer.buffer_capacity(), capacity);
    }

    #[test]
    fn a_too_long_line_is_reported_once_with_its_full_length() {
        let mut framer = LineFramer::new();
        let mut errors = Vec::new();
        let junk = vec![b'x'; 16 * 1024 * 1024];
        framer.push(&junk, |line| errors.push(line.map(<[u8]>::to_vec)));
        framer.push(b"\n", |line| errors.push(line.map(<[u8]>::to_vec)));
        assert_eq!(errors, [Err(LineError::TooLong { len: junk.len() })]);
    }

    #[test]
    fn finish_reports_an_unterminated_too_long_line() {
        let long = vec![b'x'; MAX_LINE_LEN + 1];
        assert_eq!(frame(&mut LineFramer::new(), &[&long]), [Err("too_long")]);
        let longer = vec![b'x'; 5000];
        assert_eq!(frame(&mut LineFramer::new(), &[&longer]), [Err("too_long")]);
    }

    #[test]
    fn resync_discards_the_partial_first_line() {
        let mut framer = LineFramer::new();
        let mut outcomes = Vec::new();
        framer.push(b"a:1\nb:", record(&mut outcomes));
        framer.resync();
        framer.push(b"2,c:3\r\nd:4\n", record(&mut outcomes));
        assert_eq!(
            outcomes,
            [Ok("a:1".to_owned()), Err("partial"), Ok("d:4".to_owned())]
        );
    }

    #[test]
    fn resync_at_a_line_start_reports_nothing() {
        for start in [&b"\nd:4\n"[..], b"\r\nd:4\n"] {
            let mut framer = LineFramer::new();
            framer.resync();
            assert_eq!(frame(&mut framer, &[start]), lines(&["d:4"]));
        }
    }

    #[test]
    fn resync_skips_a_partial_line_of_any_length_in_any_chunking() {
        let mut stream = vec![b'x'; 3000];
        stream.extend_from_slice(b"\nd:4\n");
        for chunk_size in [1, 10, 3000, 5000] {
            let mut framer = LineFramer::new();
            framer.resync();
            let chunks: Vec<&[u8]> = stream.chunks(chunk_size).collect();
            assert_eq!(
                frame(&mut framer, &chunks),
                [Err("partial"), Ok("d:4".to_owned())]
            );
        }
    }

    #[test]
    fn finish_reports_an_unterminated_partial_line() {
        let mut framer = LineFramer::new();
        framer.resync();
        assert_eq!(frame(&mut framer, &[b"b:"]), [Err("partial")]);
        framer.resync();
        assert_eq!(frame(&mut framer, &[]), lines(&[]));
    }
}
