//! What a process is: name, command line, uid and user name, application id, read from
//! `/proc/PID/{stat,comm,cmdline,status}` as untrusted text (names may hold spaces,
//! parentheses and newlines; files may vanish between two reads). The command line is
//! read off the capture thread, as its read can hang (`late_details/`); the rest here.

use crate::attribution::kernel::bounded_read::{read_capped, read_text};
use crate::attribution::processes::app_id::cgroup_app_id_of;
use crate::attribution::processes::users::Users;
use crate::owner::{Pid, ProcessInfo};
use std::path::Path;

/// Most bytes of a command line read.
const MAX_CMDLINE: u64 = 64 * 1024;
/// Most bytes of a command line kept as text, after decoding (which can triple its size:
/// every invalid byte becomes U+FFFD): every update carries it, to the GUI and `--json`.
const MAX_CMDLINE_TEXT: usize = 4096;

/// The fields of `/proc/PID/stat` attribution uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Name (comm) at the time of reading, control characters replaced.
    pub name: String,
    pub ppid: Pid,
    /// Start time in clock ticks since boot; with the pid, identifies one process.
    pub start_time: u64,
}

/// Parses `/proc/PID/stat`. The name sits between the first `(` and the **last** `)`, as
/// it may itself contain `) `.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?;
    // After the name: state (field 3), ppid (4) … starttime (22).
    let mut fields = text.get(close + 1..)?.split_ascii_whitespace();
    let ppid = fields.nth(1)?.parse().ok()?;
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(Stat {
        name: printable(name),
        ppid,
        start_time,
    })
}

/// The start time of `pid`, or `None` when it is gone.
pub(crate) fn start_time(proc_root: &Path, pid: Pid) -> Option<u64> {
    let text = read_text(&proc_root.join(pid.to_string()).join("stat"), 4096).ok()?;
    parse_stat(&text).map(|s| s.start_time)
}

/// Reads the details of `pid` that never hang: all but the command line, which stays
/// empty, and a Flatpak app id (see `late_details/`). `fallback_name` (from an earlier
/// scan of its stat) names a process whose `comm` can no longer be read; the result is
/// then marked exited.
pub(crate) fn read_process_info(
    proc_root: &Path,
    pid: Pid,
    fallback_name: &str,
    users: &mut Users,
) -> ProcessInfo {
    let dir = proc_root.join(pid.to_string());
    let comm = read_text(&dir.join("comm"), 256).ok();
    let exited = comm.is_none();
    let name = comm.map_or_else(|| fallback_name.to_owned(), |c| parse_comm(&c));
    let uid = read_text(&dir.join("status"), 64 * 1024)
        .ok()
        .and_then(|s| parse_status_uid(&s))
        .unwrap_or(u32::MAX);
    let user = if uid == u32::MAX {
        String::new()
    } else {
        users.name(uid)
    };
    ProcessInfo {
        pid,
        name,
        cmdline: String::new(),
        uid,
        user,
        app_id: cgroup_app_id_of(&dir),
        exited,
        details_unavailable: false,
    }
}

/// The command line of the process whose `/proc` directory is `proc_dir`; empty when it
/// cannot be read (a kernel thread, an exited process). May hang: see `late_details/`.
pub(crate) fn read_cmdline(proc_dir: &Path) -> String {
    read_capped(&proc_dir.join("cmdline"), MAX_CMDLINE)
        .map(|b| parse_cmdline(&b))
        .unwrap_or_default()
}

/// `/proc/PID/comm` ends with one newline the kernel adds; anything else is the name.
pub(crate) fn parse_comm(text: &str) -> String {
    printable(text.strip_suffix('\n').unwrap_or(text))
}

/// Arguments are NUL-terminated; they are joined by spaces. A text longer than
/// [`MAX_CMDLINE_TEXT`] is cut at a character boundary and ends in `…`.
pub(crate) fn parse_cmdline(bytes: &[u8]) -> String {
    let args: Vec<String> = bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| printable(&String::from_utf8_lossy(a)))
        .collect();
    let mut text = args.join(" ");
    if text.len() > MAX_CMDLINE_TEXT {
        let mut end = MAX_CMDLINE_TEXT - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The real uid from the `Uid:` line of `/proc/PID/status`.
pub(crate) fn parse_status_uid(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Replaces control characters (newlines, escapes) so a name cannot break a table or a
/// terminal, and drops Unicode bidirectional controls, which would reorder what is shown
/// (a name could pass for another, or push its neighbours' columns around); everything
/// else is kept.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|&c| !is_bidi_control(c))
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The bidirectional formatting characters of Unicode: marks, embeddings, overrides and
/// isolates (UAX #9).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidirectional_controls_are_dropped_from_names_and_command_lines() {
        // "evil\u{202E}gpj.exe" would show as "evilexe.jpg".
        assert_eq!(parse_comm("evil\u{202E}gpj.exe\n"), "evilgpj.exe");
        let cmdline = b"/usr/bin/tool\0--name=\xe2\x80\xaeabc\xe2\x81\xa6x\0";
        assert_eq!(parse_cmdline(cmdline), "/usr/bin/tool --name=abcx");
        assert_eq!(
            parse_comm("caf\u{e9} \u{5e9}\u{5dc}\u{5d5}\u{5dd}\n"),
            "caf\u{e9} \u{5e9}\u{5dc}\u{5d5}\u{5dd}"
        );
    }

    #[test]
    fn long_command_lines_are_cut_at_a_character_boundary_after_decoding() {
        // 64 KiB of invalid bytes decode to 192 KiB of U+FFFD: kept to 4 KiB.
        let huge = vec![0xffu8; 64 * 1024];
        let text = parse_cmdline(&huge);
        assert!(text.len() <= MAX_CMDLINE_TEXT, "{} bytes", text.len());
        assert!(text.ends_with('…'));
        assert!(text.starts_with('\u{FFFD}'));
        let fits = vec![b'a'; MAX_CMDLINE_TEXT];
        assert_eq!(
            parse_cmdline(&fits).len(),
            MAX_CMDLINE_TEXT,
            "a text that fits is kept whole"
        );
    }
    use std::fs;

    fn stat_line(name: &str, start: u64) -> String {
        format!("42 ({name}) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000 50 18446744073709551615")
    }

    #[test]
    fn stat_names_may_hold_spaces_and_parentheses() {
        for name in ["plain", "with space", "a) b (c", ") S 1 2 3", "(", ""] {
            let stat = parse_stat(&stat_line(name, 777)).unwrap();
            assert_eq!(
                (stat.start_time, stat.ppid, stat.name.as_str()),
                (777, 1, name)
            );
        }
    }

    #[test]
    fn truncated_stat_lines_give_nothing() {
        let full = stat_line("x", 123456);
        let cut_at = full.find("123456").unwrap();
        for cut in 0..cut_at {
            assert_eq!(parse_stat(&full[..cut]), None, "cut at {cut}");
        }
        assert_eq!(parse_stat("42 (x) S 1 2 3 garbage"), None);
    }

    #[test]
    fn comm_keeps_its_name_and_loses_only_the_kernel_newline() {
        assert_eq!(parse_comm("sockeye-helper-long\n"), "sockeye-helper-long");
        assert_eq!(parse_comm("two\nlines\n"), "two?lines");
        assert_eq!(parse_comm("(evil) name\n"), "(evil) name");
        assert_eq!(parse_comm(""), "");
    }

    #[test]
    fn cmdline_arguments_are_joined_by_spaces() {
        assert_eq!(
            parse_cmdline(b"python3\0-c\0print('hi there')\0"),
            "python3 -c print('hi there')"
        );
        assert_eq!(parse_cmdline(b""), "");
        assert_eq!(parse_cmdline(b"a\nb\0\xff\0"), "a?b \u{fffd}");
    }

    #[test]
    fn the_real_uid_comes_from_status() {
        let status = "Name:\tx\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n";
        assert_eq!(parse_status_uid(status), Some(1000));
        assert_eq!(parse_status_uid("Uid:\n"), None);
        assert_eq!(parse_status_uid("Uid:\t-1\t0\n"), None);
    }

    #[test]
    fn a_process_is_read_from_its_proc_entry() {
        let proc = tempfile::tempdir().unwrap();
        let etc = tempfile::tempdir().unwrap();
        fs::write(
            etc.path().join("passwd"),
            "alice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        let dir = proc.path().join("77");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("comm"), "a very long name\n").unwrap();
        fs::write(dir.join("cmdline"), b"/usr/bin/thing\0--flag\0").unwrap();
        fs::write(dir.join("status"), "Uid:\t1000\t1000\t1000\t1000\n").unwrap();
        let mut users = Users::new(etc.path().join("passwd"));
        let info = read_process_info(proc.path(), 77, "", &mut users);
        assert_eq!(info.name, "a very long name");
        assert_eq!(info.cmdline, "", "read apart, as it may hang");
        assert_eq!(read_cmdline(&dir), "/usr/bin/thing --flag");
        assert_eq!((info.uid, info.user.as_str()), (1000, "alice"));
        assert!(!info.exited);
    }

    #[test]
    fn huge_and_hostile_proc_files_are_bounded() {
        let proc = tempfile::tempdir().unwrap();
        let dir = proc.path().join("9");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("comm"), "x".repeat(1 << 20)).unwrap();
        let mut cmdline = b"arg\0".repeat(1 << 18); // 1 MiB of arguments
        cmdline.extend_from_slice(b"\x1b[31mred\0");
        fs::write(dir.join("cmdline"), &cmdline).unwrap();
        fs::write(
            dir.join("status"),
            "Uid:\t".to_owned() + &"9".repeat(1 << 20),
        )
        .unwrap();
        fs::write(
            dir.join("cgroup"),
            "0::/".to_owned() + &"a/".repeat(1 << 19),
        )
        .unwrap();
        let mut users = Users::new(proc.path().join("passwd"));
        let info = read_process_info(proc.path(), 9, "", &mut users);
        assert_eq!(info.name.len(), 256, "comm read is capped");
        assert!(read_cmdline(&dir).len() <= MAX_CMDLINE_TEXT);
        assert_eq!(info.uid, u32::MAX, "an absurd uid is no uid");
        assert_eq!(info.app_id, None);
    }

    #[test]
    fn a_vanished_process_keeps_its_scanned_name_and_is_marked_exited() {
        let proc = tempfile::tempdir().unwrap();
        let mut users = Users::new(proc.path().join("no-passwd"));
        let info = read_process_info(proc.path(), 5, "shortlived", &mut users);
        assert_eq!(info.name, "shortlived");
        assert!(info.exited);
        assert_eq!(info.cmdline, "");
    }
}
