//! The command line of `abacus-api`: with no command it serves the API; `user` and `token`
//! commands manage users and tokens straight in the database (they need its URL, from the
//! same layered settings as the server: defaults, `--config`, `ABACUS_*`), so the first admin
//! can be made before anyone can sign in:
//!
//! ```text
//! abacus-api user add alice --admin        # asks for the password (or reads it from stdin)
//! abacus-api user passwd alice             # ends alice's sessions too
//! abacus-api user remove alice             # with her sessions and tokens
//! abacus-api user list
//! abacus-api token create --user alice --name grafana --scope read [--expires-in 90d]
//! abacus-api token list [--user alice]
//! abacus-api token revoke 3
//! ```
//!
//! A password is never an argument (it would sit in the shell's history and in `ps`): on a
//! terminal it is prompted for twice without echo, otherwise the first line of stdin is it.
//! A created token is printed alone on stdout, so a script can capture it; what it is goes to
//! stderr.

use crate::auth::accounts::{self, NewToken};
use crate::auth::{store, Scope};
use crate::config::Config;
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// `abacus-api [--config FILE] [user|token ...]`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "abacus-api",
    about = "The Abacus API server; `user` and `token` manage users and tokens."
)]
pub struct CommandLine {
    /// Path of a TOML configuration file; environment variables override what it says.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

impl CommandLine {
    /// Whether this is a management command rather than the server.
    pub fn is_management_command(&self) -> bool {
        self.command.is_some()
    }
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Manage local users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Add a user; the password is prompted for, or read from stdin.
    Add {
        name: String,
        /// The user may hold `admin` tokens and manage everyone's tokens.
        #[arg(long)]
        admin: bool,
    },
    /// Change a user's password (prompted for, or read from stdin); ends their sessions.
    Passwd { name: String },
    /// Remove a user, with their sessions and tokens.
    Remove { name: String },
    /// List users.
    List,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Create a token and print it (shown only this once).
    Create {
        /// Whose token it is.
        #[arg(long)]
        user: String,
        /// What it is for, e.g. `grafana`.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        scope: Scope,
        /// How long it lasts, e.g. `90d`; never expires without it.
        #[arg(long, value_parser = humantime_serde::re::humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List tokens that are not revoked (one user's with --user).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by its id.
    Revoke { id: i64 },
}

/// Where passwords come from.
pub enum PasswordInput {
    /// Prompted for on the terminal, twice, without echo.
    Terminal,
    /// The first line of a reader (stdin when it is not a terminal; a test's text).
    Lines(Box<dyn BufRead + Send>),
}

impl PasswordInput {
    /// The terminal when stdin is one, else stdin's lines.
    pub fn from_stdin() -> Self {
        if std::io::stdin().is_terminal() {
            PasswordInput::Terminal
        } else {
            PasswordInput::Lines(Box::new(std::io::BufReader::new(std::io::stdin())))
        }
    }

    fn read_password(&mut self) -> anyhow::Result<String> {
        match self {
            PasswordInput::Terminal => {
                let first = rpassword::prompt_password("password: ")?;
                let second = rpassword::prompt_password("password again: ")?;
                if first != second {
                    bail!("the two passwords differ");
                }
                Ok(first)
            }
            PasswordInput::Lines(reader) => {
                let mut line = String::new();
                reader
                    .read_line(&mut line)
                    .context("cannot read the password from stdin")?;
                Ok(line.trim_end_matches(['\r', '\n']).to_owned())
            }
        }
    }
}

/// Runs a management command against the database `config` names, writing its results to
/// `output`.
pub async fn run_management_command(
    config: &Config,
    command_line: CommandLine,
    mut passwords: PasswordInput,
    output: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let Some(command) = command_line.command else {
        bail!("no command given");
    };
    let pool = crate::database_pool(config)?;
    let result = match command {
        Command::User(command) => user_command(&pool, command, &mut passwords, output).await,
        Command::Token(command) => token_command(&pool, command, output).await,
    };
    pool.close().await;
    result
}

async fn user_command(
    pool: &sqlx::PgPool,
    command: UserCommand,
    passwords: &mut PasswordInput,
    output: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, admin } => {
            accounts::check_user_name(&name)?;
            let password = passwords.read_password()?;
            let user = accounts::add_user(pool, &name, password, admin).await?;
            writeln!(
                output,
                "added user {}{}",
                user.name,
                if user.is_admin { " (admin)" } else { "" }
            )?;
        }
        UserCommand::Passwd { name } => {
            store::user_by_name(pool, &name).await?;
            let password = passwords.read_password()?;
            accounts::change_password(pool, &name, password).await?;
            writeln!(
                output,
                "changed the password of {name}; their sessions ended"
            )?;
        }
        UserCommand::Remove { name } => {
            store::remove_user(pool, &name).await?;
            writeln!(output, "removed user {name} with their sessions and tokens")?;
        }
        UserCommand::List => {
            for user in store::list_users(pool).await? {
                writeln!(
                    output,
                    "{}\t{}\t{}",
                    user.name,
                    if user.is_admin { "admin" } else { "user" },
                    user.created_at.to_rfc3339()
                )?;
            }
        }
    }
    Ok(())
}

async fn token_command(
    pool: &sqlx::PgPool,
    command: TokenCommand,
    output: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            user,
            name,
            scope,
            expires_in,
        } => {
            let owner = store::user_by_name(pool, &user).await?;
            let new_token = NewToken {
                name,
                scope,
                expires_in,
            };
            let (row, token) =
                accounts::create_token(pool, &owner, &new_token, chrono::Utc::now()).await?;
            eprintln!(
                "token {} ({:?}, scope {}) for {}{}; it is shown only this once:",
                row.id,
                row.name,
                row.scope,
                row.user_name,
                row.expires_at
                    .map(|at| format!(", expires {}", at.to_rfc3339()))
                    .unwrap_or_default()
            );
            writeln!(output, "{token}")?;
        }
        TokenCommand::List { user } => {
            let owner = match user {
                Some(name) => Some(store::user_by_name(pool, &name).await?.id),
                None => None,
            };
            for token in store::list_tokens(pool, owner).await? {
                let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
                    at.map_or_else(|| "-".to_owned(), |at| at.to_rfc3339())
                };
                writeln!(
                    output,
                    "{}\t{}\t{}\t{}\tcreated {}\tlast used {}\texpires {}",
                    token.id,
                    token.user_name,
                    token.name,
                    token.scope,
                    token.created_at.to_rfc3339(),
                    time(token.last_used_at),
                    time(token.expires_at),
                )?;
            }
        }
        TokenCommand::Revoke { id } => {
            if !store::revoke_token(pool, id, None).await? {
                bail!("no token {id}, or it was revoked already");
            }
            writeln!(output, "revoked token {id}")?;
        }
    }
    Ok(())
}
