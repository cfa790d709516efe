//! The dotenv reader never panics, and whatever it reads, `--export
//! dotenv` either refuses or writes back so that it reads the same again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secretexec::{dotenv, export};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pairs) = dotenv::parse(text) else {
        return;
    };
    // Only names that export would ever write: variable names.
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| secretexec::source::is_var_name(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let Ok(written) = export::render(export::Format::Dotenv, &pairs) else {
        return;
    };
    let back = dotenv::parse(&written).expect("our own dotenv output must parse");
    let back: Vec<(&str, &str)> = back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(back, pairs);
});
