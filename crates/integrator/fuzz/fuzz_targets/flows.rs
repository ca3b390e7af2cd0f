//! Any flow file: parsed and checked against the real descriptor, it is a
//! project or an error naming file, line and element, never a panic or a
//! stack overflow (the nesting limits hold for any input).
#![no_main]

use std::sync::OnceLock;

use integrator::descriptor::{self, Descriptor};
use libfuzzer_sys::fuzz_target;

fn descriptor() -> &'static Descriptor {
    static D: OnceLock<Descriptor> = OnceLock::new();
    D.get_or_init(|| {
        descriptor::parse(include_str!("../../../../connector.xml"), "connector.xml")
            .expect("connector.xml parses")
            .0
    })
}

fuzz_target!(|xml: &str| {
    if let Err(e) = integrator::flow::check_source("fuzz.xml", xml, descriptor()) {
        let _ = e.to_string();
    }
});
