//! The window's width, read after every change of its size, maximized or fullscreen state
//! and when it is first mapped (the allocation is known one main-loop turn later).

use gtk::glib;
use gtk::prelude::*;
use std::cell::Cell;
use std::rc::Rc;

use super::NARROW_WIDTH;

/// Calls `changed(narrow)` now-ish and whenever `window` becomes narrow or wide.
pub fn watch(window: &adw::ApplicationWindow, changed: impl Fn(bool) + 'static) {
    let shown: Rc<Cell<Option<bool>>> = Rc::default();
    let changed = Rc::new(changed);
    let check = {
        let window = window.downgrade();
        move || {
            let (shown, changed, window) = (shown.clone(), changed.clone(), window.clone());
            glib::idle_add_local_once(move || {
                let Some(window) = window.upgrade() else {
                    return;
                };
                let width = match window.width() {
                    0 => window.default_width(),
                    width => width,
                };
                let narrow = width <= i32::from(NARROW_WIDTH);
                if shown.replace(Some(narrow)) != Some(narrow) {
                    changed(narrow);
                }
            });
        }
    };
    let check = Rc::new(check);
    for property in ["default-width", "maximized", "fullscreened"] {
        let check = check.clone();
        window.connect_notify_local(Some(property), move |_, _| check());
    }
    let on_map = check.clone();
    window.connect_map(move |_| on_map());
    check();
}
