//! `tessera`: the one binary. Parses the command line and dispatches to `serve` or a client command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the request path (hyper, axum, the decision) makes many small,
/// short-lived allocations, and glibc's malloc spent about a tenth of forward-auth's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "A least-privilege access-token authority for GitLab-style platforms")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (SQLite in --data-dir unless --database-url names PostgreSQL).
    Serve(Box<ServeArgs>),
    /// Manage personal access tokens on a running server.
    Token {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::TokenCommand,
    },
    /// Manage users on a running server.
    User {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::UserCommand,
    },
    /// Manage groups on a running server.
    Group {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::GroupCommand,
    },
    /// Manage projects on a running server.
    Project {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::ProjectCommand,
    },
    /// Manage members of groups and projects on a running server.
    Member {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::MemberCommand,
    },
    /// Inspect CI job-token allowlists on a running server and propose entries from use.
    JobToken {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::JobTokenCommand,
    },
    /// Explain the decision for one request: allowed or not, the deciding layer, the permissions it needs.
    Explain {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(flatten)]
        args: cli::ExplainArgs,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// A TOML file with any of the settings below (flags and TESSERA_* variables win over it).
    #[arg(long, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Where the SQLite database and the token digest secret live [default: ./tessera-data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TESSERA_LISTEN")]
    listen: Option<String>,
    /// sqlite:… or postgres://… [default: SQLite in the data directory].
    #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Comma-separated hex secrets (32 bytes or more) for token digests; the first is current.
    #[arg(long, env = "TESSERA_TOKEN_SECRETS", value_delimiter = ',', hide_env_values = true)]
    token_secrets: Option<Vec<String>>,
    /// Prefix of personal access tokens [default: glpat-].
    #[arg(long, env = "TESSERA_TOKEN_PREFIX")]
    token_prefix: Option<String>,
    /// Instance prefix put before every token type's prefix, such as `acme-`.
    #[arg(long, env = "TESSERA_INSTANCE_PREFIX")]
    instance_prefix: Option<String>,
    /// This deployment's cell id, carried in every token [default: 1].
    #[arg(long, env = "TESSERA_CELL_ID")]
    cell_id: Option<u64>,
    /// The URL clients reach Tessera at, for links [default: the request's Host].
    #[arg(long, env = "TESSERA_EXTERNAL_URL")]
    external_url: Option<String>,
    /// E-mail address of the first administrator [default: admin@example.com].
    #[arg(long, env = "TESSERA_ADMIN_EMAIL")]
    admin_email: Option<String>,
    /// Database connections in the pool [default: 16].
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS")]
    max_connections: Option<u32>,
    /// Entries of each kind (tokens, users, projects, …) kept in memory [default: 100000].
    #[arg(long, env = "TESSERA_CACHE_CAPACITY")]
    cache_capacity: Option<usize>,
    /// Algorithm of new CI job-token and ID-token signing keys: RS256 or EdDSA [default: RS256].
    #[arg(long, env = "TESSERA_JOB_TOKEN_ALGORITHM")]
    job_token_algorithm: Option<String>,
    /// The longest a CI job token or ID token lives, in seconds, whatever the job's timeout [default: 86400].
    #[arg(long, env = "TESSERA_JOB_TOKEN_MAX_LIFETIME")]
    job_token_max_lifetime: Option<i64>,
    /// The mail server of expiry notices, smtp://host:port [default: none, no e-mails].
    #[arg(long, env = "TESSERA_SMTP_URL")]
    smtp_url: Option<String>,
    /// The sender address of e-mails [default: tessera@localhost].
    #[arg(long, env = "TESSERA_SMTP_FROM")]
    smtp_from: Option<String>,
    /// A URL that receives a JSON POST for every expiry notice [default: none].
    #[arg(long, env = "TESSERA_EXPIRY_WEBHOOK_URL")]
    expiry_webhook_url: Option<String>,
    /// Seconds between two runs of the expiry-notice schedule [default: 3600].
    #[arg(long, env = "TESSERA_EXPIRY_CHECK_INTERVAL")]
    expiry_check_interval: Option<u64>,
    /// Log filter [default: info].
    #[arg(long, env = "TESSERA_LOG", default_value = "info")]
    log: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Token { connection, command } => cli::token(&connection, command),
        Command::User { connection, command } => cli::user(&connection, command),
        Command::Group { connection, command } => cli::group(&connection, command),
        Command::Project { connection, command } => cli::project(&connection, command),
        Command::Member { connection, command } => cli::member(&connection, command),
        Command::JobToken { connection, command } => cli::job_token(&connection, command),
        Command::Explain { connection, args } => cli::explain(&connection, args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    server::init_logging(&args.log);
    for (key, _) in std::env::vars() {
        if key.starts_with("TESSERA_") && !server::KNOWN_ENV.contains(&key.as_str()) {
            tracing::warn!(variable = %key, "unknown TESSERA_ variable ignored");
        }
    }
    let overrides = server::ConfigOverrides {
        data_dir: args.data_dir,
        listen: args.listen,
        database_url: args.database_url,
        token_secrets: args.token_secrets,
        token_prefix: args.token_prefix,
        instance_prefix: args.instance_prefix,
        cell_id: args.cell_id,
        external_url: args.external_url,
        admin_email: args.admin_email,
        max_connections: args.max_connections,
        cache_capacity: args.cache_capacity,
        job_token_algorithm: args.job_token_algorithm,
        job_token_max_lifetime: args.job_token_max_lifetime,
        smtp_url: args.smtp_url,
        smtp_from: args.smtp_from,
        expiry_webhook_url: args.expiry_webhook_url,
        expiry_check_interval: args.expiry_check_interval,
    };
    let config = server::Config::resolve(overrides, args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let running = server::start(&config).await?;
        if let Some(token) = &running.admin_token {
            println!("Created the first administrator, root. Its personal access token is shown only this once:");
            println!("{token}");
        }
        println!("Tessera is serving the API on http://{}/api/v4", running.addr);
        running.wait().await
    })
}
