//! `tessera serve` started as a process on port 0, for the tests that need the real binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A started server: the process, the API's base URL (without `/api/v4`), and the first administrator's token
/// when this start created it.
pub struct Started {
    pub child: Child,
    pub url: String,
    pub token: Option<String>,
}

/// Starts `tessera serve` on `data_dir`, on PostgreSQL when `database_url` names one, and waits until it serves.
pub fn start(data_dir: &std::path::Path, database_url: Option<&str>) -> Started {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let mut child = command
        .env("TESSERA_LOG", "warn")
        .env_remove("TESSERA_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (mut token, mut url) = (None, String::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("glpat-") {
            token = Some(line.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("Tessera is serving the API on ") {
            url = rest.trim().trim_end_matches("/api/v4").to_owned();
            break;
        }
    }
    assert!(!url.is_empty(), "the server printed its address");
    Started { child, url, token }
}
