//! The post-length counter on any text: a number, never a panic, and the
//! same number for the same text however it is normalized on the way in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twitter_connector::text;

fuzz_target!(|s: &str| {
    let n = text::weighted_length(s);
    let _ = text::contains_url(s);
    let _ = text::has_invalid_characters(s);
    // Counting is a function of the text alone.
    assert_eq!(n, text::weighted_length(s));
    // Appending plain ASCII letters never makes a text shorter.
    let longer = format!("{s} abc");
    assert!(text::weighted_length(&longer) >= n, "{s:?}");
});
