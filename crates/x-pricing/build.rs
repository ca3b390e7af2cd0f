//! The default price table as Rust constants, from the one file that holds
//! it (`prices/x-api-payg.json`): the connector component then carries the
//! rates as data, without a JSON parser for them. Labels are checked
//! against X's units by the crate's tests.

use std::fmt::Write;

fn main() {
    let path = "prices/x-api-payg.json";
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).expect("the shipped price table");
    let v: serde_json::Value = serde_json::from_str(&text).expect("the shipped table is JSON");
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("`{k}` in {path}"))
            .to_string()
    };
    let mut out = String::new();
    writeln!(
        out,
        "pub const DEFAULT_EFFECTIVE: &str = {:?};",
        s("effective")
    )
    .unwrap();
    writeln!(out, "pub const DEFAULT_SOURCE: &str = {:?};", s("source")).unwrap();
    let units = v["units"]
        .as_object()
        .expect("`units` in the shipped table");
    writeln!(
        out,
        "const DEFAULT_PRICES: [(&str, &str); {}] = [",
        units.len()
    )
    .unwrap();
    for (label, usd) in units {
        let usd = usd
            .as_str()
            .unwrap_or_else(|| panic!("`{label}`: write the amount as text"));
        writeln!(out, "    ({label:?}, {usd:?}),").unwrap();
    }
    writeln!(out, "];").unwrap();
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("default_table.rs");
    std::fs::write(dest, out).unwrap();
}
