//! Tells when the window is narrow (phone width), so the pages can show less: on libadwaita
//! 1.2 by reading the window's width when it is resized, maximized or shown; with
//! `adw_1_7` through an `AdwBreakpoint`, which libadwaita applies before the window is
//! laid out at the new size (no frame at the old layout).

#[cfg_attr(feature = "adw_1_7", path = "narrow/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "narrow/legacy.rs")]
mod imp;

pub use imp::watch;

/// Widths up to this are narrow, in pixels at the default text size (the breakpoint's
/// `max-width: 600sp`): below it the table's six columns no longer fit.
pub const NARROW_WIDTH: u16 = 600;
