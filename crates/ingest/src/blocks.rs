//! Cutting a CSV byte stream into blocks of whole records, so that blocks can be parsed
//! independently.
//!
//! A block ends right after a `\n` that is outside every quoted field: there the `csv`
//! crate's parser is always at the start of a record, whatever came before. Quote state
//! follows the `csv` crate's rules (RFC 4180 with doubled quotes): a `"` opens a quoted
//! field only as the first byte of a field (after `,`, `\r`, `\n`, the start of the
//! stream or a UTF-8 byte-order mark there); inside, `""` is a quote and a lone `"` closes
//! it; elsewhere a `"` is an ordinary byte. (`"` and `,` stand for the source's quote and
//! delimiter.)

use std::io::Read;

use memchr::{memchr, memrchr};

use crate::csv_read::Bytes;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Quote {
    /// Not inside a quoted field.
    Outside,
    /// Inside a quoted field.
    Inside,
    /// A `"` was the last byte seen inside a quoted field: the next byte decides whether
    /// it was an escaped quote (`""`) or the end of the field.
    Pending,
}

/// Tracks the quote state of a buffer that grows at its end and is cut at record ends.
struct Splitter {
    bytes: Bytes,
    state: Quote,
    /// Bytes of the buffer already scanned.
    scanned: usize,
    /// Stretches of the buffer outside quoted fields, in order.
    outside: Vec<(usize, usize)>,
    /// Whether the buffer still starts at the beginning of the stream.
    stream_start: bool,
}

impl Splitter {
    fn new(bytes: Bytes) -> Self {
        Splitter {
            bytes,
            state: Quote::Outside,
            scanned: 0,
            outside: Vec::new(),
            stream_start: true,
        }
    }

    /// Follow the quote state over the bytes of `buf` not scanned yet.
    fn scan(&mut self, buf: &[u8]) {
        let mut pos = self.scanned;
        while pos < buf.len() {
            pos = match self.state {
                Quote::Outside => self.scan_outside(buf, pos),
                Quote::Inside => match memchr(self.bytes.quote, &buf[pos..]) {
                    Some(k) => {
                        self.state = Quote::Pending;
                        pos + k + 1
                    }
                    None => buf.len(),
                },
                Quote::Pending if buf[pos] == self.bytes.quote => {
                    self.state = Quote::Inside;
                    pos + 1
                }
                Quote::Pending => {
                    self.state = Quote::Outside;
                    pos
                }
            };
        }
        self.scanned = buf.len();
    }

    /// Scan from `pos` (outside quotes) to the next quote; return where to go on.
    fn scan_outside(&mut self, buf: &[u8], pos: usize) -> usize {
        match memchr(self.bytes.quote, &buf[pos..]) {
            None => {
                self.outside.push((pos, buf.len()));
                buf.len()
            }
            Some(k) => {
                let quote = pos + k;
                self.outside.push((pos, quote));
                if self.opens_field(buf, quote) {
                    self.state = Quote::Inside;
                }
                quote + 1
            }
        }
    }

    /// Whether the quote at `at` (outside quotes) is the first byte of a field.
    fn opens_field(&self, buf: &[u8], at: usize) -> bool {
        at == 0
            || matches!(buf[at - 1], b'\n' | b'\r')
            || buf[at - 1] == self.bytes.delimiter
            || (self.stream_start && at == BOM.len() && buf.starts_with(BOM))
    }

    /// The end of the last whole record in the scanned part of `buf`, if any.
    fn boundary(&self, buf: &[u8]) -> Option<usize> {
        self.outside
            .iter()
            .rev()
            .find_map(|&(start, end)| memrchr(b'\n', &buf[start..end]).map(|k| start + k + 1))
    }

    /// The buffer was cut: it now holds only its last `kept` (scanned) bytes.
    fn cut(&mut self, kept: usize) {
        self.outside.clear();
        self.scanned = kept;
        self.stream_start = false;
    }
}

/// Read `input` to its end and hand it to `send` as blocks of whole records of about
/// `chunk` bytes or more (a block holds at least one record end, so a record longer than
/// `chunk` makes a longer block). Concatenated, the blocks are exactly the input. Stops
/// early, without error, when `send` returns false.
pub(crate) fn split(
    input: &mut dyn Read,
    chunk: usize,
    bytes: Bytes,
    send: &mut dyn FnMut(Vec<u8>) -> bool,
) -> std::io::Result<()> {
    let chunk = chunk.max(1);
    let mut splitter = Splitter::new(bytes);
    let mut buf: Vec<u8> = Vec::with_capacity(chunk);
    loop {
        buf.reserve(chunk);
        let read = (&mut *input).take(chunk as u64).read_to_end(&mut buf)?;
        splitter.scan(&buf);
        if read < chunk {
            if !buf.is_empty() {
                send(buf);
            }
            return Ok(());
        }
        if let Some(end) = splitter.boundary(&buf) {
            let mut rest = Vec::with_capacity(chunk + buf.len() - end);
            rest.extend_from_slice(&buf[end..]);
            buf.truncate(end);
            splitter.cut(rest.len());
            if !send(std::mem::replace(&mut buf, rest)) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMA: Bytes = Bytes {
        delimiter: b',',
        quote: b'"',
    };

    fn blocks(text: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        split(&mut &text[..], chunk, COMMA, &mut |b| {
            out.push(b);
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn blocks_end_only_at_record_ends() {
        let text = b"a,b\r\n\"x\ny\",\"q\"\"\n\"\n1,2\"\n3\n\"\"\"\n\",z\n4,5";
        // Record ends (in bytes): after "a,b\r\n", after the quoted-newline record, after
        // `1,2"` (a literal quote), after "3", after the `"""\n"` record, then the tail.
        let ends = [5, 18, 23, 25, 33];
        for chunk in 1..text.len() + 2 {
            let got = blocks(text, chunk);
            assert_eq!(got.concat(), text, "chunk {chunk}");
            let mut at = 0;
            for block in &got[..got.len() - 1] {
                at += block.len();
                assert!(ends.contains(&at), "chunk {chunk}: cut at {at}");
            }
        }
    }

    #[test]
    fn the_source_quote_and_delimiter_decide_record_ends() {
        let semicolon = Bytes {
            delimiter: b';',
            quote: b'\'',
        };
        // A `'` opens a quoted field after `;` only; the quoted newline is not a record end.
        let text = b"a;b\n'x\ny';\"q\n1;2\n";
        for chunk in 1..text.len() + 2 {
            let mut got = Vec::new();
            split(&mut &text[..], chunk, semicolon, &mut |b| {
                got.push(b);
                true
            })
            .unwrap();
            assert_eq!(got.concat(), text);
            let mut at = 0;
            for block in &got[..got.len() - 1] {
                at += block.len();
                assert!([4, 13, 15].contains(&at), "chunk {chunk}: cut at {at}");
            }
        }
    }

    #[test]
    fn a_stopped_receiver_stops_reading() {
        let text = b"1\n2\n3\n4\n";
        let mut seen = 0;
        split(&mut &text[..], 1, COMMA, &mut |_| {
            seen += 1;
            false
        })
        .unwrap();
        assert_eq!(seen, 1);
    }
}
