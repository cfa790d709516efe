//! `--verbose`: what is fetched from where, and how long each phase took,
//! on stderr. It only ever receives names, sources and timings.

use std::fmt;
use std::time::Instant;

#[derive(Clone)]
pub struct Log {
    /// `Some(start)` when verbose.
    start: Option<Instant>,
}

impl Log {
    pub fn new(verbose: bool) -> Self {
        Log {
            start: verbose.then(Instant::now),
        }
    }

    pub fn note(&self, what: fmt::Arguments) {
        if let Some(start) = self.start {
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let what = crate::error::escape_controls(&what.to_string());
            eprintln!("secretexec: [{ms:7.1} ms] {what}");
        }
    }

    /// A phase boundary; the time printed is since secretexec started.
    pub fn phase(&self, what: &str) {
        self.note(format_args!("{what}"));
    }
}
