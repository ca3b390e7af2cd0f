//! The length of a host label in its ASCII form (`xn--` and RFC 3492
//! punycode), which X, like DNS, limits to 63: a URL whose label is longer
//! is not a URL and counts as its characters.
//!
//! Hand-rolled: the `idna` crate's Unicode tables are what the component
//! opted out of (see Cargo.toml); only the encoded length is needed, which
//! is the encoder's loop without its output. Checked against the `punycode`
//! crate in the tests.

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

/// The length of `label`'s ASCII form: itself when it is ASCII, else
/// `xn--` and its punycode; `None` on overflow (no real label gets there).
pub fn ascii_len(label: &str) -> Option<usize> {
    if label.is_ascii() {
        return Some(label.len());
    }
    let input: Vec<u32> = label.chars().map(|c| c as u32).collect();
    let basic = input.iter().filter(|&&c| c < 0x80).count() as u32;
    let mut out = basic as usize + usize::from(basic > 0);
    let (mut n, mut delta, mut bias, mut handled) = (INITIAL_N, 0u32, INITIAL_BIAS, basic);
    while (handled as usize) < input.len() {
        let m = *input.iter().filter(|&&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &input {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out += 1;
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out += 1;
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some("xn--".len() + out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_agree_with_the_punycode_crate() {
        for label in [
            "example",
            "bücher",
            "münchen-ost",
            "한국",
            "香港",
            "あいうえおかきくけこあいうえおかきくけこ",
            "😀x😀",
            "ÿ",
            "a\u{10FFFF}b",
        ] {
            let want = if label.is_ascii() {
                label.len()
            } else {
                4 + punycode::encode(label).unwrap().len()
            };
            assert_eq!(ascii_len(label), Some(want), "{label}");
        }
    }
}
