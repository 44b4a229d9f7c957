//! The window's frame: the header bar on top, the page stack, the view switcher bar at the
//! bottom. A vertical `GtkBox` of the three, or an `AdwToolbarView` (which draws the bars'
//! shadows and extends the content under them as GNOME apps do today).

#[cfg_attr(feature = "adw_1_7", path = "toolbar/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "toolbar/legacy.rs")]
mod imp;

pub use imp::frame;
