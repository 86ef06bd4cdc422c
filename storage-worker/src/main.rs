//! `abacus-storage-worker`: wires configuration, telemetry and [`abacus_storage_worker::run`].

use abacus_proto::settings::{load_or_exit, CommandLine};
use abacus_storage_worker::{config::Config, run, Sockets};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command_line = CommandLine::parse();
    let config: Config = load_or_exit("abacus-storage-worker", command_line.config.as_deref());
    abacus_proto::telemetry::init(&config.log);
    let sockets = Sockets::bind(&config).await?;
    run(config, sockets, abacus_proto::shutdown::signal()).await
}
