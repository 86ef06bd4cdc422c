//! `abacus-api`: wires configuration, telemetry and [`abacus_api::run`].

use abacus_api::{config::Config, run};
use abacus_proto::settings::{load_or_exit, CommandLine};
use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command_line = CommandLine::parse();
    let config: Config = load_or_exit("abacus-api", command_line.config.as_deref());
    abacus_proto::telemetry::init(&config.log);
    let address = config.api.listen_address;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot bind {address}"))?;
    run(config, listener, abacus_proto::shutdown::signal()).await
}
