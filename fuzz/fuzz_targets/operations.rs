//! The generic entry point: an operation name and any parameters, as a flow
//! gives them. Parsing and building the request must give the request or an
//! invalid-input error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twitter_connector::wso2::{self, Operation};

fuzz_target!(|data: &[u8]| {
    let ops = wso2::operations();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (op, declared) = &ops[pick as usize % ops.len()];
    // Parameters: NUL-separated values, each named by its first byte (one
    // of the declared names, or an unknown one).
    let text = String::from_utf8_lossy(rest);
    let mut params = Vec::new();
    for part in text.split('\0') {
        let mut chars = part.chars();
        let Some(c) = chars.next() else { continue };
        let i = c as usize;
        let name = if i % 8 == 7 {
            "notAParameter".to_string()
        } else {
            declared
                .get(i % declared.len().max(1))
                .copied()
                .unwrap_or("x")
                .to_string()
        };
        params.push((name, chars.as_str().to_string()));
    }
    match wso2::parse(op, &params) {
        Ok(Operation::CreateTweet(t)) => {
            if t.validate().is_ok() {
                let _ = t.to_json();
            }
        }
        Ok(_) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
