//! One typed configuration, layered: defaults, then a TOML file (`--config`), then `TESSERA_*` environment
//! variables, then command-line flags. The binary fills `ConfigOverrides` from flags and environment (clap does
//! both); this module adds the file and the defaults.
//!
//! **Invariant:** only `server` and `cli` read configuration; everything below receives plain values.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Every environment variable Tessera reads; others starting with `TESSERA_` get a warning.
pub const KNOWN_ENV: &[&str] = &[
    "TESSERA_CONFIG",
    "TESSERA_DATA_DIR",
    "TESSERA_LISTEN",
    "TESSERA_DATABASE_URL",
    "TESSERA_TOKEN_SECRETS",
    "TESSERA_TOKEN_PREFIX",
    "TESSERA_INSTANCE_PREFIX",
    "TESSERA_CELL_ID",
    "TESSERA_EXTERNAL_URL",
    "TESSERA_ADMIN_EMAIL",
    "TESSERA_MAX_CONNECTIONS",
    "TESSERA_CACHE_CAPACITY",
    "TESSERA_JOB_TOKEN_ALGORITHM",
    "TESSERA_JOB_TOKEN_MAX_LIFETIME",
    "TESSERA_SMTP_URL",
    "TESSERA_SMTP_FROM",
    "TESSERA_EXPIRY_WEBHOOK_URL",
    "TESSERA_EXPIRY_CHECK_INTERVAL",
    "TESSERA_LOG",
    "TESSERA_URL",
    "TESSERA_TOKEN",
    "TESSERA_EXPLAIN_TOKEN",
    "TESSERA_NEW_PASSWORD",
];

/// Settings as the file or the command line give them; `None` means "not set at this layer".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigOverrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    /// Hex-encoded secrets of at least 32 bytes; the first digests new tokens, all are accepted.
    pub token_secrets: Option<Vec<String>>,
    pub token_prefix: Option<String>,
    pub instance_prefix: Option<String>,
    pub cell_id: Option<u64>,
    pub external_url: Option<String>,
    pub admin_email: Option<String>,
    pub max_connections: Option<u32>,
    pub cache_capacity: Option<usize>,
    /// `RS256` (default) or `EdDSA`: the algorithm of new CI signing keys.
    pub job_token_algorithm: Option<String>,
    /// Seconds a CI job token or ID token may live at most.
    pub job_token_max_lifetime: Option<i64>,
    /// `smtp://host:port` of the mail server expiry notices go through (none: no e-mails).
    pub smtp_url: Option<String>,
    /// The sender address of e-mails.
    pub smtp_from: Option<String>,
    /// A URL that receives a JSON POST for every expiry notice.
    pub expiry_webhook_url: Option<String>,
    /// Seconds between two runs of the expiry-notice schedule.
    pub expiry_check_interval: Option<u64>,
}

/// The resolved configuration.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    database_url: Option<String>,
    pub token_secrets: Vec<String>,
    pub token_prefix: String,
    pub instance_prefix: Option<String>,
    pub cell_id: u64,
    pub external_url: Option<String>,
    pub admin_email: String,
    pub max_connections: u32,
    pub cache_capacity: usize,
    pub job_token_algorithm: tokens::jwt::Algorithm,
    pub job_token_max_lifetime: i64,
    /// Where expiry notices' e-mails go: host and port of a mail server, when one is configured.
    pub smtp: Option<(String, u16)>,
    pub smtp_from: String,
    pub expiry_webhook_url: Option<String>,
    pub expiry_check_interval: std::time::Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("database", &self.database_url.as_deref().map(redact_url))
            .field("token_secrets", &format!("{} configured", self.token_secrets.len()))
            .field("token_prefix", &self.token_prefix)
            .field("cell_id", &self.cell_id)
            .finish()
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

impl Config {
    /// Resolves the layers: `cli` (flags and environment) over `file` over defaults.
    pub fn resolve(cli: ConfigOverrides, config_file: Option<&Path>) -> anyhow::Result<Config> {
        let file = match config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<ConfigOverrides>(&text)
                    .with_context(|| format!("invalid configuration in {}", path.display()))?
            }
            None => ConfigOverrides::default(),
        };
        let prefix = cli.token_prefix.or(file.token_prefix).unwrap_or_else(|| "glpat-".to_owned());
        check_prefix(&prefix, "token_prefix")?;
        let instance_prefix = cli.instance_prefix.or(file.instance_prefix).filter(|p| !p.is_empty());
        if let Some(p) = &instance_prefix {
            check_prefix(p, "instance_prefix")?;
        }
        let algorithm = cli.job_token_algorithm.or(file.job_token_algorithm).unwrap_or_else(|| "RS256".to_owned());
        let job_token_algorithm = tokens::jwt::Algorithm::parse(&algorithm)
            .ok_or_else(|| anyhow::anyhow!("job_token_algorithm must be RS256 or EdDSA, not {algorithm:?}"))?;
        let job_token_max_lifetime = cli.job_token_max_lifetime.or(file.job_token_max_lifetime).unwrap_or(86_400);
        anyhow::ensure!(
            (60..=7 * 86_400).contains(&job_token_max_lifetime),
            "job_token_max_lifetime must be 60 to 604800 seconds"
        );
        let smtp = match cli.smtp_url.or(file.smtp_url).filter(|u| !u.is_empty()) {
            Some(url) => Some(parse_smtp_url(&url)?),
            None => None,
        };
        let expiry_webhook_url = cli.expiry_webhook_url.or(file.expiry_webhook_url).filter(|u| !u.is_empty());
        if let Some(url) = &expiry_webhook_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "expiry_webhook_url must be an http:// or https:// URL"
            );
        }
        let interval = cli.expiry_check_interval.or(file.expiry_check_interval).unwrap_or(3600);
        anyhow::ensure!((1..=86_400).contains(&interval), "expiry_check_interval must be 1 to 86400 seconds");
        Ok(Config {
            smtp,
            smtp_from: cli.smtp_from.or(file.smtp_from).unwrap_or_else(|| "tessera@localhost".to_owned()),
            expiry_webhook_url,
            expiry_check_interval: std::time::Duration::from_secs(interval),
            job_token_algorithm,
            job_token_max_lifetime,
            data_dir: cli.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("tessera-data")),
            listen: cli.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            database_url: cli.database_url.or(file.database_url).filter(|u| !u.is_empty()),
            token_secrets: cli.token_secrets.or(file.token_secrets).unwrap_or_default(),
            token_prefix: prefix,
            instance_prefix,
            cell_id: cli.cell_id.or(file.cell_id).unwrap_or(1),
            external_url: cli.external_url.or(file.external_url),
            admin_email: cli.admin_email.or(file.admin_email).unwrap_or_else(|| "admin@example.com".to_owned()),
            max_connections: cli.max_connections.or(file.max_connections).unwrap_or(16).clamp(1, 1000),
            cache_capacity: cli.cache_capacity.or(file.cache_capacity).unwrap_or(100_000).clamp(16, 10_000_000),
        })
    }

    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("tessera.db").display()),
        }
    }
}

/// `smtp://host:port` (port 25 when absent).
fn parse_smtp_url(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url.strip_prefix("smtp://").ok_or_else(|| anyhow::anyhow!("smtp_url must be smtp://host:port"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().context("smtp_url has an invalid port")?),
        None => (rest, 25),
    };
    anyhow::ensure!(!host.is_empty() && !host.contains(['/', '@', ' ']), "smtp_url must be smtp://host:port");
    Ok((host.to_owned(), port))
}

fn check_prefix(prefix: &str, what: &str) -> anyhow::Result<()> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 20
        && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    anyhow::ensure!(ok, "{what} must be 1 to 20 letters, digits, '-' or '_'");
    Ok(())
}

/// gitlab-shell's shared secret: the file's text (GitLab's `.gitlab_shell_secret`, created in the data directory
/// at first start when absent), which signs the shell's requests to `internal/allowed`.
pub fn gitlab_shell_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    let path = config.data_dir.join(".gitlab_shell_secret");
    if !path.exists() {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
        write_secret(&path, &encode_hex(&key))?;
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let secret = text.trim().as_bytes().to_vec();
    anyhow::ensure!(secret.len() >= 16, "{} must hold a secret of at least 16 characters", path.display());
    Ok(secret)
}

/// The digest keys: the configured secrets, or one kept in the data directory (created at first start).
pub fn digest_keys(config: &Config) -> anyhow::Result<Vec<Vec<u8>>> {
    if !config.token_secrets.is_empty() {
        return config
            .token_secrets
            .iter()
            .map(|s| decode_hex(s.trim()).context("token_secrets must be hex"))
            .collect();
    }
    let path = config.data_dir.join("token-digest.key");
    if !path.exists() {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
        write_secret(&path, &encode_hex(&key))?;
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        keys.push(decode_hex(line).with_context(|| format!("{} must hold hex secrets, one a line", path.display()))?);
    }
    Ok(keys)
}

fn write_secret(path: &Path, hex: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{hex}")?;
    Ok(())
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(s.len().is_multiple_of(2) && s.is_ascii(), "odd-length or non-ASCII hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16).map_err(|_| anyhow::anyhow!("invalid hex")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("tessera-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tessera.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\ncell_id = 7\n").unwrap();
        let cli = ConfigOverrides { cell_id: Some(3), ..ConfigOverrides::default() };
        let config = Config::resolve(cli, Some(&file)).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000");
        assert_eq!(config.cell_id, 3);
        assert_eq!(config.token_prefix, "glpat-");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tessera.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        assert!(Config::resolve(ConfigOverrides::default(), Some(&file)).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_database_password_is_not_printed() {
        let cli =
            ConfigOverrides { database_url: Some("postgres://u:hunter2pw@h/db".into()), ..ConfigOverrides::default() };
        let config = Config::resolve(cli, None).unwrap();
        assert!(!format!("{config:?}").contains("hunter2pw"));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(decode_hex(&encode_hex(&[0, 1, 254, 255])).unwrap(), vec![0, 1, 254, 255]);
        assert!(decode_hex("zz").is_err());
    }
}
