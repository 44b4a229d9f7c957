//! Upper bounds of what the parts of an `Updated` signal take in the D-Bus encoding, in
//! bytes, so that an update is kept within its budget without encoding it twice. Each bound
//! counts the worst alignment padding; the tests check them against zbus's own encoding.

use sockeye_protocol::{Interface, Process, Unattributed, Update};

/// The message header (path, interface, member, signature; under 200 bytes), the body's
/// time and interval, and the length and padding of its four arrays.
pub const FRAME: usize = 512;

/// A string: up to 3 bytes of padding to its length (4), the text and its NUL.
fn string(text: &str) -> usize {
    3 + 4 + text.len() + 1
}

/// A struct starts on 8 bytes: up to 7 bytes of padding before it.
const STRUCT_PADDING: usize = 7;

/// One process row: `(ussussbbttttdd)`.
pub fn process(p: &Process) -> usize {
    STRUCT_PADDING
        + 4
        + string(&p.name)
        + string(&p.cmdline)
        + 3
        + 4
        + string(&p.user)
        + string(&p.app_id)
        + 2 * (3 + 4)
        + 7
        + 4 * 8
        + 2 * 8
}

/// One `{us}` entry of `command_lines`.
pub fn command_line(text: &str) -> usize {
    STRUCT_PADDING + 4 + string(text)
}

/// One `(stt)` bucket.
pub fn unattributed(u: &Unattributed) -> usize {
    STRUCT_PADDING + string(&u.protocol) + 7 + 2 * 8
}

/// One `(sttt)` interface.
pub fn interface(i: &Interface) -> usize {
    STRUCT_PADDING + string(&i.name) + 7 + 3 * 8
}

/// The whole signal.
pub fn update(u: &Update) -> usize {
    FRAME
        + u.processes.iter().map(process).sum::<usize>()
        + u.unattributed.iter().map(unattributed).sum::<usize>()
        + u.interfaces.iter().map(interface).sum::<usize>()
        + u.command_lines
            .values()
            .map(|text| command_line(text))
            .sum::<usize>()
}

/// The signal as zbus sends it, in bytes: what the bounds above are checked against.
#[cfg(test)]
pub fn encoded(update: &Update) -> usize {
    use sockeye_protocol::{CAPTURE_INTERFACE, CAPTURE_PATH};
    zbus::message::Message::signal(CAPTURE_PATH, CAPTURE_INTERFACE, "Updated")
        .unwrap()
        .build(&(update,))
        .unwrap()
        .data()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd lengths everywhere, so every alignment gap shows up.
    fn sample(processes: usize) -> Update {
        Update {
            time: 1,
            interval_ms: 1000,
            processes: (0..processes)
                .map(|i| Process {
                    pid: i as u32,
                    name: "n".repeat(i % 16),
                    user: "u".repeat(i % 7),
                    app_id: "a".repeat(i % 255),
                    exited: i % 2 == 0,
                    details_unavailable: i % 3 == 0,
                    ..Default::default()
                })
                .collect(),
            unattributed: vec![Unattributed {
                protocol: "icmp".into(),
                ..Default::default()
            }],
            interfaces: (0..5)
                .map(|i| Interface {
                    name: format!("veth{}", "x".repeat(i)),
                    ..Default::default()
                })
                .collect(),
            command_lines: (0..processes as u32)
                .map(|pid| (pid, "c".repeat(pid as usize * 13 % 4096)))
                .collect(),
        }
    }

    #[test]
    fn the_bound_is_never_below_the_real_encoding_and_close_to_it() {
        for processes in [0, 1, 2, 3, 17, 1000] {
            let update = sample(processes);
            let (bound, real) = (super::update(&update), encoded(&update));
            assert!(bound >= real, "{processes} processes: {bound} < {real}");
            // Padding is counted at its worst: at most 40 bytes a row over.
            assert!(
                bound <= real + FRAME + 40 * (processes * 2 + 6),
                "{processes} processes: {bound} is far above {real}"
            );
        }
    }
}
