//! A fast path for the one structural pass over a token's header or payload:
//! a scanner for the common shape of a JWT object (escape-free keys and
//! strings, numbers, literals, arrays and objects nested at most two deep).
//!
//! It never decides alone. It answers `Some(spans)` only when the text is
//! valid JSON that serde would read to exactly those spans, and `None` for
//! anything else (escapes, control characters, duplicate known keys, deep
//! nesting, any syntax error), in which case the caller runs serde_json,
//! which stays the authority. A differential test holds it to that.

use core::ops::Range;

/// How deep arrays and objects may nest inside a member's value.
const MAX_DEPTH: u8 = 2;

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// An escape-free string: no backslash and no control character.
    fn string(&mut self) -> Option<Range<usize>> {
        self.eat(b'"')?;
        let start = self.i;
        let end = start + self.b[start..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        Some(start..end)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    /// RFC 8259 number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b.get(self.i..self.i + word.len()).filter(|w| *w == word)?;
        self.i += word.len();
        Some(())
    }

    fn value(&mut self, depth: u8) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'[' if depth > 0 => self.items(b']', depth, |s, depth| s.value(depth - 1)),
            b'{' if depth > 0 => self.items(b'}', depth, |s, depth| {
                s.string()?;
                s.ws();
                s.eat(b':')?;
                s.ws();
                s.value(depth - 1)
            }),
            _ => None,
        }
    }

    /// `[ item, … ]` or `{ item, … }` after the opening bracket.
    fn items(&mut self, close: u8, depth: u8, item: impl Fn(&mut Self, u8) -> Option<()>) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            item(self, depth)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// Scans a JSON object, returning the raw-value span of each known member
/// (`key_index` maps a member name to its slot, `None` for unknown ones),
/// or `None` to defer to serde.
pub(crate) fn object<const N: usize>(
    text: &str,
    key_index: impl Fn(&[u8]) -> Option<usize>,
) -> Option<[Option<Range<usize>>; N]> {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    let mut spans: [Option<Range<usize>>; N] = core::array::from_fn(|_| None);
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if s.eat(b'}').is_none() {
        loop {
            let key = s.string()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            let start = s.i;
            s.value(MAX_DEPTH)?;
            if let Some(k) = key_index(&s.b[key]) {
                if spans[k].is_some() {
                    return None; // a duplicate known member: serde refuses it
                }
                spans[k] = Some(start..s.i);
            }
            s.ws();
            match s.peek()? {
                b',' => {
                    s.i += 1;
                    s.ws();
                }
                b'}' => {
                    s.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == s.b.len()).then_some(spans)
}
