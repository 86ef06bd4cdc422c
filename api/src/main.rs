//! `abacus-api`: wires the command line, configuration, telemetry and [`abacus_api::run`], or
//! a user or token command ([`abacus_api::cli`]).

use abacus_api::cli::{run_management_command, CommandLine, PasswordInput};
use abacus_api::{config::Config, run};
use abacus_proto::settings::load_or_exit;
use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command_line = CommandLine::parse();
    let config: Config = load_or_exit("abacus-api", command_line.config.as_deref());
    if command_line.is_management_command() {
        let mut stdout = std::io::stdout();
        let outcome = run_management_command(
            &config,
            command_line,
            PasswordInput::from_stdin(),
            &mut stdout,
        )
        .await;
        if let Err(error) = outcome {
            eprintln!("abacus-api: {error:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    abacus_proto::telemetry::init(&config.log);
    let address = config.api.listen_address;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot bind {address}"))?;
    run(config, listener, abacus_proto::shutdown::signal()).await
}
