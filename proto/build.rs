//! Compiles the wire schema with `protox`, a pure-Rust protobuf compiler, so building Abacus does
//! not need a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schemas = [
        "schema/abacus/v1/flush.proto",
        "schema/abacus/v1/gauges.proto",
    ];
    for schema in schemas {
        println!("cargo:rerun-if-changed={schema}");
    }
    let file_descriptors = protox::compile(schemas, ["schema"])?;
    prost_build::Config::new().compile_fds(file_descriptors)?;
    Ok(())
}
