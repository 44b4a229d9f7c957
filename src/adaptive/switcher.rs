//! The view switcher: in the header bar when the window is wide, in a bar at the bottom when
//! it is narrow. libadwaita 1.2's `AdwViewSwitcherTitle` decides that itself (its
//! `title-visible`); it is deprecated since 1.4, so the `adw_1_7` build puts an
//! `AdwViewSwitcher` in the header and reveals the bar at the window's breakpoint.

#[cfg_attr(feature = "adw_1_7", path = "switcher/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "switcher/legacy.rs")]
mod imp;

pub use imp::Switcher;
