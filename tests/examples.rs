//! The integration examples stay valid: YAML and JSON parse, Python
//! compiles, each puts secretexec in front of a command, and the spec
//! strings inside them are ones secretexec accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        if dir.path().is_dir() {
            files.extend(
                std::fs::read_dir(dir.path())
                    .unwrap()
                    .flatten()
                    .map(|f| f.path()),
            );
        }
    }
    files.sort();
    files
}

fn python(code: &str, path: &Path) {
    let out = Command::new("python3")
        .args(["-c", code])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_example_parses_and_uses_secretexec() {
    let files = examples();
    assert!(files.len() >= 6, "{files:?}");
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.contains("secretexec"),
            "{} does not use secretexec",
            path.display()
        );
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => python(
                "import sys, yaml; docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]; assert docs",
                path,
            ),
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            Some("py") => python(
                "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])",
                path,
            ),
            _ if path.file_name().is_some_and(|n| n == "Dockerfile") => {
                assert!(
                    text.contains("ENTRYPOINT [\"secretexec\""),
                    "{}",
                    path.display()
                );
            }
            _ => panic!("no check for {}", path.display()),
        }
    }
}

#[test]
fn the_sources_in_the_examples_are_accepted() {
    // Every `SECRETEXEC_SOURCES` value and every `--source` argument of
    // the JSON job definition parses as secretexec would parse it.
    let batch = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/batch/job-definition.json");
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(batch).unwrap()).unwrap();
    let command: Vec<String> = job["containerProperties"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut specs: Vec<String> = command
        .windows(2)
        .filter(|w| w[0] == "--source" || w[0] == "-s")
        .map(|w| w[1].clone())
        .collect();
    // The quoted list after `key: '` in a YAML example, and the whole text.
    let quoted_list = |file: &str, key: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(path).unwrap();
        let list = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(": '"))
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or_else(|| panic!("no {key}: '...' in {file}"))
            .to_string();
        (list, text)
    };
    let (list, _) = quoted_list("examples/kubernetes/pod-irsa.yaml", "value");
    specs.extend(secretexec::source::split_list(&list).unwrap());
    // The Lambda layer's SAM template.
    let (list, sam) = quoted_list("examples/lambda/template.yaml", "SECRETEXEC_SOURCES");
    assert!(sam.contains("AWS_LAMBDA_EXEC_WRAPPER: /opt/secretexec-wrapper"));
    specs.extend(secretexec::source::split_list(&list).unwrap());
    assert!(specs.len() >= 4, "{specs:?}");
    for (i, spec) in specs.iter().enumerate() {
        secretexec::source::parse(spec, i + 1, &Default::default())
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}
