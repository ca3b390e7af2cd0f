//! Unicode Normalization Form C (UAX #15) from `unicode-normalization`'s
//! per-character primitives.
//!
//! Why not the crate's `nfc()` iterator: it decides between canonical and
//! compatibility decomposition at run time, so it links the compatibility and
//! CJK-variant tables too (measured: 112 KiB of the component's read-only
//! data, of which NFC needs under half). Canonical decomposition, canonical
//! ordering and canonical composition are the whole algorithm; the tables
//! stay the crate's, and the tests below check this against the crate's
//! `nfc()` for every code point and for mark sequences.

use std::borrow::Cow;

use unicode_normalization::char::{canonical_combining_class, compose, decompose_canonical};

/// Below U+0300 every character is its own NFC and none combines with the
/// one before it, so most posts skip the tables entirely.
const FIRST_COMBINING: u32 = 0x300;

/// `text` in NFC.
pub fn nfc(text: &str) -> Cow<'_, str> {
    if text.chars().all(|c| (c as u32) < FIRST_COMBINING) {
        return Cow::Borrowed(text);
    }
    let mut chars = Vec::with_capacity(text.len());
    for c in text.chars() {
        decompose_canonical(c, |d| chars.push(d));
    }
    reorder_marks(&mut chars);
    Cow::Owned(recompose(&chars).into_iter().collect())
}

/// Canonical ordering: each run of non-starters sorted by combining class
/// (stable, so marks of one class keep their order).
fn reorder_marks(chars: &mut [char]) {
    let mut i = 0;
    while i < chars.len() {
        if canonical_combining_class(chars[i]) == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && canonical_combining_class(chars[i]) != 0 {
            i += 1;
        }
        chars[start..i].sort_by_key(|&c| canonical_combining_class(c));
    }
}

/// Canonical composition: each character joins the last starter unless a
/// character between them blocks it (one of the same or a higher class, or a
/// starter). After ordering, the last character kept has the highest class
/// of those between, so it alone decides.
fn recompose(chars: &[char]) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut starter: Option<usize> = None;
    for &c in chars {
        let class = canonical_combining_class(c);
        if let Some(s) = starter {
            let adjacent = out.len() == s + 1;
            let blocked = !adjacent
                && out
                    .last()
                    .is_some_and(|&b| canonical_combining_class(b) >= class);
            if !blocked {
                if let Some(composed) = compose(out[s], c) {
                    out[s] = composed;
                    continue;
                }
            }
        }
        if class == 0 {
            starter = Some(out.len());
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::nfc;
    use unicode_normalization::UnicodeNormalization;

    fn crate_nfc(s: &str) -> String {
        s.nfc().collect()
    }

    #[test]
    fn agrees_with_the_crate_on_every_code_point() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = c.to_string();
            assert_eq!(nfc(&s), crate_nfc(&s), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn agrees_with_the_crate_on_mark_sequences() {
        // Bases (Latin, Greek, Hangul L/V/T and syllables, Devanagari, a
        // singleton) times marks of several classes, in every order of two.
        let bases = [
            'a', 'e', 'A', 'o', 'u', 'ω', 'Å', '\u{1100}', '\u{AC00}', '\u{0915}', 'ᄀ',
        ];
        let marks = [
            '\u{0300}', '\u{0301}', '\u{0308}', '\u{0323}', '\u{0327}', '\u{0345}', '\u{0313}',
            '\u{093C}', '\u{1161}', '\u{11A8}', '\u{0334}', '\u{05B0}', '\u{0F71}', '\u{0F72}',
        ];
        for b in bases {
            for m1 in marks {
                for m2 in marks {
                    for m3 in [None, Some('\u{0301}'), Some('\u{0328}')] {
                        let mut s = format!("{b}{m1}{m2}");
                        s.extend(m3);
                        s.push('x');
                        assert_eq!(
                            nfc(&s),
                            crate_nfc(&s),
                            "{:?}",
                            s.escape_unicode().to_string()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(nfc("plain café"), std::borrow::Cow::Borrowed(_)));
    }
}
