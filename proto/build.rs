//! Compiles the contracts with protox (pure Rust, so no `protoc` is needed) and exports
//! the descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "caixa/billing/v1/types.proto",
    "caixa/billing/v1/billing.proto",
    "caixa/entitlement/v1/entitlement.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS)?;
    let descriptors = compiler.file_descriptor_set();
    fs::write(out_dir.join("caixa_descriptor.bin"), descriptors.encode_to_vec())?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
