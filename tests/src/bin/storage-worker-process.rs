//! The storage worker as a process of its own, for `tests/storage_crash.rs`, which kills it
//! with `SIGKILL` mid-transaction. Its `main` is the worker binary's `main`
//! (`storage-worker/src/main.rs`) line for line: the same command line, configuration,
//! telemetry, sockets and signal handler around [`abacus_storage_worker::run`]. It lives here
//! because a test can only name the binaries of its own package, and the storage worker must
//! not depend on this crate; keep the two in step.

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
