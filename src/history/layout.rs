//! The History tab's widgets, built once: the status pages, the period bar, the heading,
//! the chart card, the list and the status line (`render` sets them from the model).

use adw::prelude::*;
use gettextrs::gettext;
use gtk::gio;
use relm4::ComponentSender;

use super::chart::HistoryChart;
use super::period::PeriodKind;
use super::view::{HistoryInput, HistoryPage, HistoryWidgets};

/// Builds the pages of `root` and returns the widgets `render` sets.
pub(super) fn build(root: &gtk::Stack, sender: &ComponentSender<HistoryPage>) -> HistoryWidgets {
    root.add_named(
        &gtk::Spinner::builder()
            .spinning(true)
            .halign(gtk::Align::Center)
            .valign(gtk::Align::Center)
            .width_request(32)
            .height_request(32)
            .build(),
        Some("connecting"),
    );

    let turn_on = gtk::Button::builder()
        .label(gettext("Turn On History…"))
        .action_name("win.history-turn-on")
        .halign(gtk::Align::Center)
        .css_classes(["pill", "suggested-action"])
        .build();
    let off_page = adw::StatusPage::builder()
        .icon_name("document-open-recent-symbolic")
        .title(gettext("History Is Off"))
        .child(&turn_on)
        .build();
    root.add_named(&off_page, Some("off"));

    let unavailable_page = adw::StatusPage::builder()
        .icon_name("dialog-warning-symbolic")
        .title(gettext("History Is Unavailable"))
        .build();
    root.add_named(&unavailable_page, Some("unavailable"));

    let page = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(12)
        .margin_top(18)
        .margin_bottom(24)
        .margin_start(12)
        .margin_end(12)
        .build();

    // The period picker, previous/next, and the menu.
    let labels: Vec<String> = PeriodKind::ALL.iter().map(|k| k.label()).collect();
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let kinds = gtk::DropDown::from_strings(&label_refs);
    kinds.set_tooltip_text(Some(&gettext("Period")));
    {
        let sender = sender.clone();
        kinds.connect_selected_notify(move |kinds| {
            if let Some(kind) = PeriodKind::ALL.get(kinds.selected() as usize) {
                sender.input(HistoryInput::PickPeriod(*kind));
            }
        });
    }
    let previous = gtk::Button::builder()
        .icon_name("go-previous-symbolic")
        .tooltip_text(gettext("Previous Period"))
        .build();
    let next = gtk::Button::builder()
        .icon_name("go-next-symbolic")
        .tooltip_text(gettext("Next Period"))
        .build();
    for (button, by) in [(&previous, -1), (&next, 1)] {
        let sender = sender.clone();
        button.connect_clicked(move |_| sender.input(HistoryInput::Shift(by)));
    }
    let arrows = gtk::Box::builder().css_classes(["linked"]).build();
    arrows.append(&previous);
    arrows.append(&next);

    let menu = gio::Menu::new();
    menu.append(Some(&gettext("_Export…")), Some("win.history-export"));
    let service = gio::Menu::new();
    service.append(Some(&gettext("_Clear History…")), Some("win.history-clear"));
    service.append(
        Some(&gettext("_Turn Off History")),
        Some("win.history-turn-off"),
    );
    menu.append_section(None, &service);
    let menu_button = gtk::MenuButton::builder()
        .icon_name("view-more-symbolic")
        .menu_model(&menu)
        .tooltip_text(gettext("History Menu"))
        .build();

    let bar = gtk::Box::builder().spacing(6).build();
    bar.append(&kinds);
    bar.append(&gtk::Box::builder().hexpand(true).build());
    bar.append(&arrows);
    bar.append(&menu_button);
    page.append(&bar);

    let title = gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .css_classes(["title-2"])
        .build();
    let totals = gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .css_classes(["dim-label"])
        .build();
    let heading = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(2)
        .build();
    heading.append(&title);
    heading.append(&totals);
    page.append(&heading);

    let back = gtk::Button::builder()
        .child(
            &adw::ButtonContent::builder()
                .icon_name("go-previous-symbolic")
                .label(gettext("All Apps"))
                .build(),
        )
        .halign(gtk::Align::Start)
        .css_classes(["flat"])
        .build();
    {
        let sender = sender.clone();
        back.connect_clicked(move |_| sender.input(HistoryInput::SelectApp(None)));
    }
    let app_title = gtk::Label::builder()
        .xalign(0.0)
        .hexpand(true)
        .ellipsize(gtk::pango::EllipsizeMode::End)
        .css_classes(["heading"])
        .build();
    let app_bar = gtk::Box::builder().spacing(12).build();
    app_bar.append(&back);
    app_bar.append(&app_title);
    back.bind_property("visible", &app_title, "visible")
        .sync_create()
        .build();
    page.append(&app_bar);

    let chart = HistoryChart::default();
    chart.set_margin_top(12);
    chart.set_margin_bottom(12);
    chart.set_margin_start(12);
    chart.set_margin_end(12);
    let card = gtk::Box::builder().css_classes(["card"]).build();
    chart.set_hexpand(true);
    card.append(&chart);
    page.append(&card);

    let gap_note = gtk::Box::builder().spacing(8).build();
    gap_note.append(
        &gtk::Box::builder()
            .valign(gtk::Align::Center)
            .css_classes(["history-hatch"])
            .build(),
    );
    gap_note.append(
        &gtk::Label::builder()
            .label(gettext("Hatched: the recorder was not running"))
            .xalign(0.0)
            .wrap(true)
            .css_classes(["caption", "dim-label"])
            .build(),
    );
    page.append(&gap_note);

    let list_title = gtk::Label::builder()
        .xalign(0.0)
        .margin_top(12)
        .css_classes(["heading"])
        .build();
    page.append(&list_title);
    let list = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .css_classes(["boxed-list"])
        .build();
    page.append(&list);
    let empty = gtk::Label::builder()
        .label(gettext("Nothing was recorded in this period."))
        .css_classes(["dim-label"])
        .margin_top(12)
        .build();
    page.append(&empty);
    let status = gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .margin_top(12)
        .css_classes(["caption", "dim-label"])
        .build();
    page.append(&status);

    let clamp = adw::Clamp::builder().maximum_size(900).child(&page).build();
    let scrolled = gtk::ScrolledWindow::builder()
        .hscrollbar_policy(gtk::PolicyType::Never)
        .child(&clamp)
        .vexpand(true)
        .build();
    root.add_named(&scrolled, Some("on"));
    root.set_visible_child_name("connecting");

    HistoryWidgets {
        stack: root.clone(),
        off_page,
        turn_on,
        unavailable_page,
        kinds,
        previous,
        next,
        title,
        totals,
        back,
        app_title,
        chart,
        gap_note,
        list_title,
        list,
        empty,
        status,
        rendered: 0,
    }
}
