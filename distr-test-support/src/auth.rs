//! Credentials as registries and skopeo take them.

use base64::Engine as _;

/// `Basic base64(user:pass)`.
pub fn basic_header(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// `Basic base64("anyone:<token>")`: any user name, the token as password
/// (what `docker login` / `skopeo --creds` send for a distr token).
pub fn basic_auth(token: &str) -> String {
    basic_header("anyone", token)
}

/// `anyone:<token>`, for skopeo's `--creds`, `--src-creds` and `--dest-creds`.
pub fn creds(token: &str) -> String {
    format!("anyone:{token}")
}
