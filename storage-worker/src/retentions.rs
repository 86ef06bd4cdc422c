//! `storage_worker.retentions` and the per-pattern rules: defined once, in
//! `abacus_proto::storage_schema`, because the API reads by the same rules.

pub use abacus_proto::storage_schema::{Resolution, Retentions, StorageSchema, DEFAULT_RETENTIONS};
