//! The test harness shared by distr's crates (`publish = false`).
//!
//! One home for what the end-to-end and client tests of `distr-server`,
//! `distr-upstream-oci` and `distr-hyper` used to copy into each file:
//!
//! * [`process`]: one [`ServerProcess`] builder for any server binary (data
//!   dir, environment, arguments, readiness by its `listening on <addr>`
//!   line, captured logs, SIGTERM with the exit status checked, `kill -9`,
//!   restart on the same data dir). The binary's path is always passed in by
//!   the caller: `env!("CARGO_BIN_EXE_distr-server")` is only defined in
//!   `distr-server`'s own tests, which build presets on top of this.
//! * [`proxy`]: one [`HttpServer`] helper (a hyper HTTP/1.1 accept loop on
//!   its own thread and runtime, stopped on drop) for the count, fault and
//!   Bearer-token proxies and the fake registries of the client tests.
//! * [`net::free_port`], [`net::http10`]: loopback ports and a bare HTTP/1.0
//!   request.
//! * [`registry`]: the raw-HTTP [`Registry`] client (reqwest) for the OCI
//!   Distribution endpoints and the assertions around it.
//! * [`layout`]: OCI image layouts (multi-arch and single-image) generated
//!   for skopeo, and the checks of a pulled layout.
//! * [`digest`], [`media`], [`auth`]: digests, media types, credentials.
//! * [`skopeo`]: the push and pull invocations the tests repeat.
//! * [`tools`]: locating external tools (skopeo, Python with oras,
//!   htpasswd, Distribution, moto) and failing loudly, never skipping.
//! * [`upstream`]: a real CNCF Distribution registry and a moto S3/ECR server
//!   on loopback ports.
//! * [`tenancy`]: the vendor organisation, its admin and customers, made
//!   through any admin front (the CLI or the management API).
//! * [`access`]: the same, in-process: an organisation, its vendor admin
//!   and users with tokens written straight into an `AccessStore`.
//! * [`logs`]: reading structured fields out of log text.
#![forbid(unsafe_code)]

pub mod access;
pub mod auth;
pub mod digest;
pub mod layout;
pub mod logs;
pub mod media;
pub mod net;
pub mod process;
pub mod proxy;
pub mod registry;
pub mod skopeo;
pub mod tenancy;
pub mod tools;
pub mod upstream;

pub use auth::{basic_auth, basic_header, creds};
pub use digest::{pseudo_random_bytes, sha256_digest, sha256_file, sha256_hex, sha512_digest};
pub use layout::{
    generate_multiarch_layout, generate_multiarch_layout_seeded, generate_single_layout,
    image_config, make_layer, read_layout_blob, read_layout_ref, verify_pulled_layout,
    GeneratedLayout, PlatformImage,
};
pub use media::*;
pub use net::{free_port, http10};
pub use process::{terminate_child, ServerBuilder, ServerProcess};
pub use proxy::{reply, HttpServer};
pub use registry::{
    expect_oci_error, header, parse_next_link, raw_http_put_with_token, with_query, PushedImage,
    Registry,
};
pub use skopeo::{skopeo_pull, skopeo_pull_cmd, skopeo_push, stderr};
pub use tools::{
    require_python_with, require_python_with_oras, require_skopeo, run_ok, skopeo_cmd, try_run,
    workspace_root,
};
