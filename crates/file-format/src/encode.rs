//! CSV encoding of one line at a time, through the `csv` crate.

use std::cell::{Ref, RefCell};
use std::io;

/// The buffer the `csv` writer flushes each encoded line into.
///
/// A `RefCell` lets the encoder read and clear the line through `csv::Writer::get_ref`, which
/// is the only access the `csv` crate gives to its inner writer; it keeps the encoder `Send`.
#[derive(Debug, Default)]
struct LineBuf(RefCell<Vec<u8>>);

impl io::Write for LineBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Encodes rows as LiveRamp CSV lines: `,` delimiter, `\n` terminator, RFC 4180 quoting only
/// where needed (a field with `,` or `"`, embedded `"` doubled), each `\r` or `\n` inside a
/// field replaced with a space. Reuses its buffers: no allocation per row once warm.
#[derive(Debug)]
pub(crate) struct LineEncoder {
    csv: csv::Writer<LineBuf>,
    scratch: Vec<u8>,
}

impl LineEncoder {
    pub(crate) fn new() -> Self {
        let csv = csv::WriterBuilder::new()
            .delimiter(b',')
            .quote(b'"')
            .double_quote(true)
            .quote_style(csv::QuoteStyle::Necessary)
            .terminator(csv::Terminator::Any(b'\n'))
            .flexible(true)
            .has_headers(false)
            .buffer_capacity(16 * 1024)
            .from_writer(LineBuf::default());
        Self {
            csv,
            scratch: Vec::new(),
        }
    }

    /// Encodes `fields` as one line (with its `\n`), replacing the previous line.
    ///
    /// Line breaks are rare: the row is encoded as is, and the encoded line (one contiguous
    /// buffer, scanned quickly) checked for `\r`/`\n`; only if it has one is the row encoded again
    /// with the replacement. The terminator is outside the scanned part, and quoting adds no line
    /// breaks, so a break in the line always comes from a field.
    pub(crate) fn encode<S: AsRef<str>>(&mut self, fields: &[S]) -> io::Result<()> {
        self.encode_with(fields, false)?;
        let needs_replacing = {
            let line = self.line();
            has_line_break(&line[..line.len() - 1])
        };
        if needs_replacing {
            self.encode_with(fields, true)?;
        }
        Ok(())
    }

    fn encode_with<S: AsRef<str>>(&mut self, fields: &[S], replace: bool) -> io::Result<()> {
        self.csv.get_ref().0.borrow_mut().clear();
        for field in fields {
            let bytes = field.as_ref().as_bytes();
            if replace && has_line_break(bytes) {
                self.scratch.clear();
                self.scratch.extend(
                    bytes
                        .iter()
                        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
                );
                self.csv.write_field(&self.scratch).map_err(csv_to_io)?;
            } else {
                self.csv.write_field(bytes).map_err(csv_to_io)?;
            }
        }
        self.csv.write_record(None::<&[u8]>).map_err(csv_to_io)?;
        self.csv.flush()
    }

    /// The last encoded line, `\n` included.
    pub(crate) fn line(&self) -> Ref<'_, Vec<u8>> {
        self.csv.get_ref().0.borrow()
    }
}

fn csv_to_io(err: csv::Error) -> io::Error {
    // Writing into a `Vec` cannot fail, so only an `io::Error` could come back; keep the
    // `csv` type out of our API either way.
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// Whether `bytes` contains `\r` or `\n`. Checks 32 bytes at a time without branching inside a
/// block, so the compiler vectorises it: this scan runs over every byte written.
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose: `||` would defeat vectorising
pub(crate) fn has_line_break(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        let mut found = false;
        for &b in block {
            found |= (b == b'\r') | (b == b'\n');
        }
        if found {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| b == b'\r' || b == b'\n')
}

/// Appends `fields` to `out` as one LiveRamp CSV line, `\n` included: exactly the bytes
/// [`LineEncoder`] (the `csv` crate, `QuoteStyle::Necessary`) produces, without its per-field
/// overhead. A field is quoted only when it contains `,` or `"` (each `"` doubled); each `\r`
/// or `\n` becomes a space; a lone empty field is written `""`.
pub(crate) fn encode_line_into<S: AsRef<str>>(fields: &[S], out: &mut Vec<u8>) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let bytes = field.as_ref().as_bytes();
        if !needs_care(bytes) {
            out.extend_from_slice(bytes);
            continue;
        }
        let quote = bytes.iter().any(|&b| b == b',' || b == b'"');
        if quote {
            out.push(b'"');
        }
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\"\""),
                b'\r' | b'\n' => out.push(b' '),
                b => out.push(b),
            }
        }
        if quote {
            out.push(b'"');
        }
    }
    if let [only] = fields
        && only.as_ref().is_empty()
    {
        out.extend_from_slice(b"\"\"");
    }
    out.push(b'\n');
}

/// Whether `bytes` holds `,`, `"`, `\r` or `\n` (branch-free per 16-byte block, so it
/// vectorises: it runs over every byte of every field).
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn needs_care(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        let mut found = false;
        for &b in block {
            found |= (b == b',') | (b == b'"') | (b == b'\r') | (b == b'\n');
        }
        if found {
            return true;
        }
    }
    blocks
        .remainder()
        .iter()
        .any(|&b| b == b',' || b == b'"' || b == b'\r' || b == b'\n')
}

/// The number of characters (Unicode scalar values) in UTF-8 `bytes`.
pub(crate) fn char_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(fields: &[&str]) -> String {
        let mut e = LineEncoder::new();
        e.encode(fields).unwrap();
        String::from_utf8(e.line().clone()).unwrap()
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(enc(&["a", "b"]), "a,b\n");
        assert_eq!(enc(&["a,b", "c"]), "\"a,b\",c\n");
        assert_eq!(enc(&["say \"hi\"", ""]), "\"say \"\"hi\"\"\",\n");
        assert_eq!(enc(&["line\nbreak", "cr\r\nlf"]), "line break,cr  lf\n");
        assert_eq!(enc(&["Zoë", "東京", "'single'"]), "Zoë,東京,'single'\n");
        assert_eq!(enc(&["", ""]), ",\n");
        // A lone empty field is quoted, or the line would be empty.
        assert_eq!(enc(&[""]), "\"\"\n");
        assert_eq!(enc(&[" padded ", "tab\there"]), " padded ,tab\there\n");
    }

    #[test]
    fn reuses_buffers() {
        let mut e = LineEncoder::new();
        e.encode(&["first", "line"]).unwrap();
        e.encode(&["x"]).unwrap();
        assert_eq!(&*e.line(), b"x\n");
    }

    #[test]
    fn finds_line_breaks_anywhere() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            let plain = "a".repeat(len);
            assert!(!has_line_break(plain.as_bytes()));
            for at in 0..len {
                for c in ['\r', '\n'] {
                    let mut s = plain.clone().into_bytes();
                    s[at] = c as u8;
                    assert!(has_line_break(&s), "{len} {at} {c:?}");
                }
            }
        }
    }

    fn fast(fields: &[&str]) -> String {
        let mut out = Vec::new();
        encode_line_into(fields, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fast_encoder_quoting_rules() {
        for fields in [
            &["a", "b"][..],
            &["a,b", "c"],
            &["say \"hi\"", ""],
            &["line\nbreak", "cr\r\nlf"],
            &["q\"\nx", ",\r"],
            &["Zoë", "東京", "'single'"],
            &["", ""],
            &[""],
            &["\n"],
            &[" padded ", "tab\there"],
        ] {
            assert_eq!(fast(fields), enc(fields), "{fields:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_encoder_equals_the_csv_crate(
            fields in proptest::collection::vec("[a-c,\"\r\n é東\t#']{0,40}", 1..6)
        ) {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(fast(&fields), enc(&fields));
        }
    }

    #[test]
    fn counts_characters() {
        assert_eq!(char_count("Zoë東京🎉".as_bytes()), 6);
        assert_eq!(char_count(b""), 0);
    }
}
