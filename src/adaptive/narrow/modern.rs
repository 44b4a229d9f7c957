//! An `AdwBreakpoint` on the window, `max-width: 600sp`.

use adw::prelude::*;

use super::NARROW_WIDTH;

/// Calls `changed(narrow)` whenever `window` becomes narrow or wide (libadwaita applies the
/// breakpoint at the first allocation too).
pub fn watch(window: &adw::ApplicationWindow, changed: impl Fn(bool) + 'static) {
    let breakpoint = adw::Breakpoint::new(adw::BreakpointCondition::new_length(
        adw::BreakpointConditionLengthType::MaxWidth,
        f64::from(NARROW_WIDTH),
        adw::LengthUnit::Sp,
    ));
    let changed = std::rc::Rc::new(changed);
    let on_apply = changed.clone();
    breakpoint.connect_apply(move |_| on_apply(true));
    breakpoint.connect_unapply(move |_| changed(false));
    window.add_breakpoint(breakpoint);
}
