//! Compiles the GUI's GResource bundle (and, for running from the build tree, the GSettings
//! schema) so a plain `cargo build` gives a working binary; meson only runs cargo.

use std::path::Path;
use std::process::Command;

fn main() {
    glib_build_tools::compile_resources(
        &["data/resources"],
        "data/resources/resources.gresource.xml",
        "sockeye.gresource",
    );

    // A compiled copy of the schema for `cargo run`/`cargo test`: the app falls back to it
    // when the schema is not installed. Failing here only costs persistence of preferences.
    println!("cargo::rerun-if-changed=data/io.github.sockeye.Sockeye.gschema.xml");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_default();
    let schema_dir = Path::new(&out_dir).join("schemas");
    if std::fs::create_dir_all(&schema_dir).is_ok()
        && std::fs::copy(
            "data/io.github.sockeye.Sockeye.gschema.xml",
            schema_dir.join("io.github.sockeye.Sockeye.gschema.xml"),
        )
        .is_ok()
    {
        let compiled = Command::new("glib-compile-schemas")
            .arg(&schema_dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !compiled {
            println!("cargo::warning=glib-compile-schemas failed: preferences will not persist from the build tree");
        }
    }
}
