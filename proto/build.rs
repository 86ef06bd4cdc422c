//! Compiles the wire schema with `protox`, a pure-Rust protobuf compiler, so building Abacus does
//! not need a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = "schema/abacus/v1/flush.proto";
    println!("cargo:rerun-if-changed={schema}");
    let file_descriptors = protox::compile([schema], ["schema"])?;
    prost_build::Config::new().compile_fds(file_descriptors)?;
    Ok(())
}
