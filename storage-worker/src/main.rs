//! `abacus-storage-worker`: wires configuration, telemetry, the admin listener and
//! [`abacus_storage_worker::run`].

use abacus_proto::settings::{load_or_exit, CommandLine};
use abacus_storage_worker::{config::Config, run};
use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command_line = CommandLine::parse();
    let config: Config = load_or_exit("abacus-storage-worker", command_line.config.as_deref());
    abacus_proto::telemetry::init(&config.log);
    let admin_address = config.storage_worker.admin_address;
    let admin_listener = tokio::net::TcpListener::bind(admin_address)
        .await
        .with_context(|| format!("cannot bind the admin address {admin_address}"))?;
    run(config, admin_listener, abacus_proto::shutdown::signal()).await
}
