//! Embeds the built web app (`web/dist`, made by `npm run build`) into the API binary: each
//! file with its content type, an ETag, and a gzip copy made here once, so the API serves
//! compressed assets without compressing per request. Without `web/dist` the API still builds
//! and serves a page saying how to build the app (see `src/web.rs`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let web = manifest.join("../web");
    let dist = web.join("dist");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let assets_out = out.join("web");
    std::fs::create_dir_all(&assets_out).unwrap();
    println!("cargo:rerun-if-env-changed=ABACUS_WEB_DIST");
    let dist = std::env::var_os("ABACUS_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or(dist);

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
    } else {
        // Rebuild once the app is built: its creation changes web/.
        println!("cargo:rerun-if-changed={}", web.display());
    }
    files.sort();

    let mut code = String::new();
    writeln!(
        code,
        "/// Whether `web/dist` was there when the API was built."
    )
    .unwrap();
    writeln!(code, "pub static APP_BUILT: bool = {};", !files.is_empty()).unwrap();
    writeln!(code, "pub static ASSETS: &[Asset] = &[").unwrap();
    for (index, relative) in files.iter().enumerate() {
        let path = dist.join(relative);
        let bytes = std::fs::read(&path).unwrap();
        let name = relative.to_string_lossy().replace('\\', "/");
        let content_type = content_type(&name);
        let gzip = if compressible(content_type) {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&bytes).unwrap();
            let compressed = encoder.finish().unwrap();
            (compressed.len() < bytes.len()).then(|| {
                let gz = assets_out.join(format!("{index}.gz"));
                std::fs::write(&gz, compressed).unwrap();
                gz
            })
        } else {
            None
        };
        writeln!(
            code,
            "    Asset {{ path: {name:?}, content_type: {content_type:?}, etag: \"\\\"{:016x}\\\"\", \
             bytes: include_bytes!({:?}), gzip: {} }},",
            fnv1a(&bytes),
            path.display().to_string(),
            match gzip {
                Some(gz) => format!("Some(include_bytes!({:?}))", gz.display().to_string()),
                None => "None".into(),
            }
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
    std::fs::write(out.join("web_assets.rs"), code).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            files.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("svg")
}

/// A content hash for the ETag (not a security property: it only has to change with the file).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
