//! The real AWS Secrets Manager Agent (crate `aws_secretsmanager_agent`,
//! installed by `scripts/test-deps.sh`) on a free port, for the tests and
//! the fleet model in `make bench`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, http_get, tempdir};

/// The token the agent is started with.
pub const TOKEN: &str = "PLANTED-cache-token-0123456789";

pub fn agent_binary() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    let installed = PathBuf::from(home).join(".cargo/bin/aws_secretsmanager_agent");
    assert!(
        installed.exists(),
        "the AWS Secrets Manager Agent is not installed: run scripts/test-deps.sh"
    );
    installed
}

/// The real agent on a free port, calling moto through `upstream`.
pub struct Agent {
    child: Child,
    pub url: String,
}

impl Agent {
    pub fn start(name: &str, upstream: &str, ttl: u32) -> Agent {
        let port = free_port();
        let dir = tempdir(name);
        let config = dir.join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "http_port = \"{port}\"\nttl_seconds = \"{ttl}\"\nlog_to_file = false\n\
                 log_level = \"ERROR\"\nvalidate_credentials = false\nregion = \"us-east-1\"\n"
            ),
        )
        .unwrap();
        let child = Command::new(agent_binary())
            .args(["--config", config.to_str().unwrap()])
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_TOKEN", TOKEN)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", upstream)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("agent.err")).unwrap())
            .spawn()
            .unwrap();
        let agent = Agent {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while http_get(port, "/ping").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the agent did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
