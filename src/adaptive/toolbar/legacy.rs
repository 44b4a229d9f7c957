//! A vertical box: header bar, content, bottom bar.

use gtk::prelude::*;

/// `top` above `content` above `bottom`.
pub fn frame(
    top: &impl IsA<gtk::Widget>,
    content: &impl IsA<gtk::Widget>,
    bottom: &impl IsA<gtk::Widget>,
) -> gtk::Widget {
    let frame = gtk::Box::new(gtk::Orientation::Vertical, 0);
    frame.append(top);
    frame.append(content);
    frame.append(bottom);
    frame.upcast()
}
