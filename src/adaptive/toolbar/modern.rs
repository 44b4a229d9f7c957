//! An `AdwToolbarView`: the header bar as its top bar, the switcher bar as its bottom bar.

/// `top` above `content` above `bottom`.
pub fn frame(
    top: &impl gtk::prelude::IsA<gtk::Widget>,
    content: &impl gtk::prelude::IsA<gtk::Widget>,
    bottom: &impl gtk::prelude::IsA<gtk::Widget>,
) -> gtk::Widget {
    use gtk::prelude::Cast;
    let frame = adw::ToolbarView::new();
    frame.add_top_bar(top);
    frame.set_content(Some(content));
    frame.add_bottom_bar(bottom);
    frame.upcast()
}
