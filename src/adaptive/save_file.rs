//! "Where should this be saved?": `GtkFileChooserNative` (GTK 4.8; through the file
//! chooser portal when there is one) or `GtkFileDialog` (4.10+, the portal as well). Either
//! way the app only learns the path the user picked.

#[cfg_attr(feature = "adw_1_7", path = "save_file/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "save_file/legacy.rs")]
mod imp;

pub use imp::{ask_save_path, Pending};

/// What the chooser says (already translated) and the file name it suggests.
pub struct SaveRequest {
    pub title: String,
    pub accept: String,
    pub suggested_name: String,
}
