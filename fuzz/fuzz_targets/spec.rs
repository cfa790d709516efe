//! Source specs and SECRETEXEC_SOURCES lists: any text parses or is
//! refused with a message; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secretexec::source::{Defaults, parse, split_list};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let defaults = Defaults {
        role: Some("arn:aws:iam::123456789012:role/r".into()),
        region: Some("us-east-1".into()),
    };
    let _ = parse(text, 1, &defaults);
    if let Ok(specs) = split_list(text) {
        for (i, spec) in specs.iter().enumerate() {
            let _ = parse(spec, i + 1, &defaults);
        }
    }
});
