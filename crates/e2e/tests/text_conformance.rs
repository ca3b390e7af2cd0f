//! Text counting against twitter-text's published conformance data
//! (spec/twitter-text/validate.yml, `WeightedTweetsWithDiscountedEmojiCounterTest`:
//! configuration v3, what X counts today). The connector's counter and the
//! simulator's independent one are both run on every case; the test prints
//! how many each agrees with, and asserts the figures it is known to reach,
//! so a regression fails and an improvement shows.

use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    tests: Tests,
}

#[derive(Deserialize)]
struct Tests {
    #[serde(rename = "WeightedTweetsWithDiscountedEmojiCounterTest")]
    weighted: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    description: String,
    text: String,
    expected: Expected,
}

#[derive(Deserialize)]
struct Expected {
    #[serde(rename = "weightedLength")]
    weighted_length: u64,
    valid: bool,
}

fn cases() -> Vec<Case> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../spec/twitter-text/validate.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let file: File = serde_norway::from_str(&text).unwrap();
    file.tests.weighted
}

#[test]
fn weighted_length_agrees_with_twitter_text_v3() {
    let cases = cases();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let mut connector_ok = 0;
    let mut sim_ok = 0;
    let mut valid_ok = 0;
    let mut misses = Vec::new();
    for c in &cases {
        let ours = twitter_connector::text::weighted_length(&c.text) as u64;
        let sim = x_sim::weighted_length(&c.text);
        let valid =
            (1..=280).contains(&ours) && !twitter_connector::text::has_invalid_characters(&c.text);
        connector_ok += u32::from(ours == c.expected.weighted_length);
        sim_ok += u32::from(sim == c.expected.weighted_length);
        valid_ok += u32::from(valid == c.expected.valid);
        if ours != c.expected.weighted_length || sim != c.expected.weighted_length {
            misses.push(format!(
                "{}: X {}, connector {ours}, simulator {sim}",
                c.description, c.expected.weighted_length
            ));
        }
    }
    println!(
        "twitter-text v3 weighted length, {} cases: connector {connector_ok}, simulator {sim_ok}, validity {valid_ok}\n{}",
        cases.len(),
        misses.join("\n")
    );
    let n = cases.len() as u32;
    assert_eq!(
        (connector_ok, sim_ok, valid_ok),
        (n, n, n),
        "misses:\n{}",
        misses.join("\n")
    );
}

#[derive(Deserialize)]
struct TldFile {
    tests: std::collections::BTreeMap<String, Vec<TldCase>>,
}

#[derive(Deserialize)]
struct TldCase {
    text: String,
    expected: Vec<String>,
}

/// Every top-level domain twitter-text knows (spec/twitter-text/tlds.yml,
/// country and generic): a URL under it counts 23, whatever its script.
#[test]
fn a_url_under_every_known_tld_counts_23() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/twitter-text/tlds.yml");
    let file: TldFile = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut total = 0;
    let mut misses = Vec::new();
    for case in file.tests.values().flatten() {
        if case.expected != [case.text.clone()] {
            continue;
        }
        total += 1;
        let ours = twitter_connector::text::weighted_length(&case.text);
        let sim = x_sim::weighted_length(&case.text);
        if ours != 23 || sim != 23 {
            misses.push(format!("{}: connector {ours}, simulator {sim}", case.text));
        }
    }
    println!("{total} TLDs, {} misses", misses.len());
    assert!(total > 1000, "{total}");
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}
