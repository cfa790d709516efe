//! Source specs (SSM forms included), SECRETEXEC_SOURCES lists and
//! --from-env references: any text parses or is refused with a message;
//! nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secretexec::source::{Defaults, parse, reference, split_list};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let defaults = Defaults {
        role: Some("arn:aws:iam::123456789012:role/r".into()),
        region: Some("us-east-1".into()),
    };
    let _ = parse(text, 1, &defaults);
    // --from-env: any inherited value is a reference, or left alone.
    let _ = reference("VAR", text, &defaults);
    if let Ok(specs) = split_list(text) {
        for (i, spec) in specs.iter().enumerate() {
            let _ = parse(spec, i + 1, &defaults);
        }
    }
});
