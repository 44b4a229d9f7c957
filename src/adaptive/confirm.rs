//! A question before something that cannot be undone ("Clear History?"): `AdwMessageDialog`
//! (a window of its own, libadwaita 1.2) or `AdwAlertDialog` (1.5+, which also becomes a
//! bottom sheet on a phone).

#[cfg_attr(feature = "adw_1_7", path = "confirm/modern.rs")]
#[cfg_attr(not(feature = "adw_1_7"), path = "confirm/legacy.rs")]
mod imp;

pub use imp::confirm_destructive;

/// What the question says and what its two buttons read (already translated).
pub struct Question {
    pub heading: String,
    pub body: String,
    pub cancel: String,
    /// The destructive button's label; `confirmed` runs when it is chosen.
    pub action: String,
}
