//! Text encodings of CSV sources: Latin-1 and Windows-1252 bytes are transcoded to UTF-8
//! as they are read, so everything after works on UTF-8 only.

use std::io::{self, Read};

use crate::Encoding;

/// `input` as UTF-8 text: as is for UTF-8, transcoded as it is read otherwise.
pub(crate) fn to_utf8(input: Box<dyn Read + Send>, encoding: Encoding) -> Box<dyn Read + Send> {
    match encoding {
        Encoding::Utf8 => input,
        Encoding::Latin1 | Encoding::Windows1252 => Box::new(Transcoder {
            input,
            encoding,
            raw: vec![0; 64 * 1024],
            out: Vec::new(),
            at: 0,
        }),
    }
}

/// Read past `lines` lines of `input` (through their `\n`).
pub(crate) fn skip_lines(input: &mut dyn io::BufRead, lines: usize) -> io::Result<()> {
    let mut sink = Vec::new();
    for _ in 0..lines {
        sink.clear();
        if input.read_until(b'\n', &mut sink)? == 0 {
            break;
        }
    }
    Ok(())
}

/// The character of byte `b` in `encoding` (a single-byte encoding).
pub(crate) fn decode_byte(b: u8, encoding: Encoding) -> char {
    match (encoding, b) {
        (Encoding::Windows1252, 0x80..=0x9f) => WINDOWS_1252_HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Windows-1252's characters for 0x80-0x9F (the five unassigned bytes keep their
/// Latin-1 control characters, as Windows' own decoder does).
const WINDOWS_1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}',
    '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// Reads a single-byte encoding and gives UTF-8.
struct Transcoder {
    input: Box<dyn Read + Send>,
    encoding: Encoding,
    raw: Vec<u8>,
    /// Transcoded bytes not handed out yet: `out[at..]`.
    out: Vec<u8>,
    at: usize,
}

impl Read for Transcoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.out.len() {
            let n = self.input.read(&mut self.raw)?;
            self.out.clear();
            self.at = 0;
            let mut utf8 = [0u8; 4];
            for &b in &self.raw[..n] {
                if b.is_ascii() {
                    self.out.push(b);
                } else {
                    let c = decode_byte(b, self.encoding);
                    self.out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], encoding: Encoding) -> String {
        let mut text = String::new();
        to_utf8(Box::new(io::Cursor::new(bytes.to_vec())), encoding)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn single_byte_encodings_become_utf8() {
        let bytes = b"Beyonc\xe9,\x80 5\n";
        assert_eq!(decode(bytes, Encoding::Latin1), "Beyoncé,\u{80} 5\n");
        assert_eq!(decode(bytes, Encoding::Windows1252), "Beyoncé,€ 5\n");
        assert_eq!(decode(b"\x93hi\x94", Encoding::Windows1252), "“hi”");
    }

    #[test]
    fn skipping_lines_leaves_the_rest() {
        let mut input = io::BufReader::new(&b"title\r\nnote\na,b\n1,2\n"[..]);
        skip_lines(&mut input, 2).unwrap();
        let mut rest = String::new();
        input.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "a,b\n1,2\n");
    }
}
