//! The storage worker as a process of its own, for `tests/storage_crash.rs`, which kills it
//! with `SIGKILL` mid-transaction. It runs [`abacus_storage_worker::run_as_process`], exactly
//! what the `abacus-storage-worker` binary runs; it lives here because a test can only name
//! the binaries of its own package, and the storage worker must not depend on this crate.

use abacus_proto::settings::CommandLine;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    abacus_storage_worker::run_as_process(&CommandLine::parse()).await
}
