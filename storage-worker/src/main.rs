//! `abacus-storage-worker`: configuration, telemetry, the admin listener and
//! [`abacus_storage_worker::run`], wired by [`abacus_storage_worker::run_as_process`].

use abacus_proto::settings::CommandLine;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    abacus_storage_worker::run_as_process(&CommandLine::parse()).await
}
