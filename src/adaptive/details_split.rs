//! The Network tab's table with the details pane beside it. libadwaita 1.2: a revealer
//! sliding the pane in at the table's right (`details_revealer` of `ui/network-page.ui`),
//! alone in the page at phone width.
//! `adw_1_7`: an `AdwOverlaySplitView` with the pane as its end sidebar, which at the
//! narrow breakpoint collapses to lie over the table (closed by a click beside it, a swipe or
//! Escape) instead of squeezing it.

#[cfg_attr(feature = "adw_1_7", path = "details_split/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "details_split/legacy.rs")]
mod imp;

pub use imp::DetailsSplit;

/// The template's widgets the split is made of.
pub struct SplitWidgets<'a> {
    /// The box the table goes in (`table_slot`), the revealer at its end.
    pub slot: gtk::Box,
    pub revealer: gtk::Revealer,
    /// The table, or the stack of the processes and hosts tables.
    pub table: &'a gtk::Widget,
    pub details: &'a gtk::Widget,
}
