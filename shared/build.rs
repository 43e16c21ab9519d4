//! Converts openapi.yaml (written for people) to the JSON the binaries embed and serve.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=openapi.yaml");
    let yaml = std::fs::read_to_string("openapi.yaml").expect("shared/openapi.yaml is readable");
    let spec: serde_json::Value =
        serde_norway::from_str(&yaml).expect("shared/openapi.yaml is valid YAML");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("openapi.json"),
        serde_json::to_vec(&spec).expect("JSON values serialize"),
    )
    .expect("OUT_DIR is writable");
}
