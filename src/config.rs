//! Build-time configuration from meson (through `option_env!`), with defaults so a plain
//! `cargo build` works too.

/// Application id; `io.github.sockeye.Sockeye.Devel` in the development profile.
pub const APP_ID: &str = match option_env!("SOCKEYE_APP_ID") {
    Some(v) => v,
    None => "io.github.sockeye.Sockeye",
};
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GETTEXT_PACKAGE: &str = match option_env!("SOCKEYE_GETTEXT_PACKAGE") {
    Some(v) => v,
    None => "sockeye",
};
pub const LOCALEDIR: &str = match option_env!("SOCKEYE_LOCALEDIR") {
    Some(v) => v,
    None => "/usr/share/locale",
};
/// Where `meson install` puts `sockeye-helper`.
pub const LIBEXECDIR: &str = match option_env!("SOCKEYE_LIBEXECDIR") {
    Some(v) => v,
    None => "/usr/libexec",
};
/// The development profile: looks for the helper in the build tree too.
pub const PROFILE: &str = match option_env!("SOCKEYE_PROFILE") {
    Some(v) => v,
    None => "default",
};
