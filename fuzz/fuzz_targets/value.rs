//! Secret values: any bytes, in every shape, give valid variable names and
//! NUL-free values, or an error; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secretexec::secret::{Raw, to_vars};
use secretexec::source::{Origin, Shape, Source, is_var_name};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let shape = match selector % 3 {
        0 => Shape::Json {
            key: None,
            var: None,
        },
        1 => Shape::Json {
            key: Some("password".into()),
            var: None,
        },
        _ => Shape::Whole { var: None },
    };
    let origin = if selector & 4 == 0 {
        Origin::Inline(String::new())
    } else {
        Origin::File("fuzz.env".into())
    };
    let source = Source {
        label: "fuzz".into(),
        origin,
        shape,
        prefix: (selector & 8 != 0).then(|| "P_".to_string()),
        upper: selector & 32 != 0,
    };
    let raw = match std::str::from_utf8(rest) {
        // The parameters under an SSM path: relative name and value per line.
        Ok(text) if selector & 64 != 0 => Raw::Entries(
            text.lines()
                .map(|l| l.split_once('=').unwrap_or((l, "")))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        Ok(text) if selector & 16 == 0 => Raw::String(text.to_string()),
        _ => Raw::Binary(rest.to_vec()),
    };
    if let Ok(vars) = to_vars(&source, "fuzz/secret-name", &raw) {
        for (name, value) in vars {
            assert!(is_var_name(&name), "bad name {name:?}");
            assert!(!value.contains('\0'), "NUL in a value");
        }
    }
});
