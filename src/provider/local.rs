//! Local sources: `file:` (a JSON object or dotenv file) and Metaflow's
//! `inline` type, read without any network. The fetch layer reads these
//! first, so a local mistake is reported before any network call.

use std::io::Read;
use std::path::Path;

use super::Fetched;
use crate::error::Error;
use crate::secret::Raw;
use crate::source::{Origin, Source};

/// Local files larger than this are refused: an environment cannot hold
/// much more anyway (Linux caps argv + envp at a quarter of the stack).
const MAX_FILE: u64 = 1 << 20;

/// A local source (`file:`, inline) read without any network, or `None`
/// for an AWS source. Callers read these first, so a local mistake is
/// reported before any network call.
pub fn read(source: &Source) -> Option<Result<Fetched, Error>> {
    match &source.origin {
        Origin::Inline(text) => Some(Ok(Fetched {
            name: source.label.clone(),
            version: None,
            raw: Raw::String(text.clone()),
        })),
        Origin::File(path) => Some(read_file(source, path)),
        Origin::Aws(_) | Origin::Ssm(_) => None,
    }
}

fn read_file(source: &Source, path: &Path) -> Result<Fetched, Error> {
    let fail = |reason: String| Error::Fetch {
        source: source.label.clone(),
        reason,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(fail(format!("{} is larger than 1 MiB", path.display())));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| fail(format!("{} is not UTF-8 text", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Fetched {
        name,
        version: None,
        raw: Raw::String(text),
    })
}
