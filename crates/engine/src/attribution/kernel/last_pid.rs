//! The kernel's last allocated pid, the last field of `/proc/loadavg`: how the process and
//! namespace caches tell, every few milliseconds, whether any process started since their
//! last look. The file is kept open and read again from offset 0 (a seq file regenerates
//! its text then), so the idle capture thread pays one `pread` a look, not an open, a
//! read and a close (they were a third of its idle time; profile in build-aux/bench).

use crate::owner::Pid;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// `/proc/loadavg` is some 30 bytes; anything past this is not a loadavg.
const MAX_BYTES: usize = 256;

/// Reads the last allocated pid under one `/proc` root.
#[derive(Debug)]
pub(crate) struct LastPid {
    path: PathBuf,
    file: Option<File>,
}

impl LastPid {
    pub(crate) fn new(proc_root: &Path) -> Self {
        Self {
            path: proc_root.join("loadavg"),
            file: None,
        }
    }

    /// The last pid, or `None` when the file cannot be read or makes no sense (it is
    /// untrusted text like every `/proc` file).
    pub(crate) fn read(&mut self) -> Option<Pid> {
        let mut buf = [0u8; MAX_BYTES];
        let len = match self.file.as_ref().map(|f| f.read_at(&mut buf, 0)) {
            Some(Ok(len)) => len,
            // Not open yet, or broken: opened afresh once.
            _ => {
                let file = File::open(&self.path).ok()?;
                let len = file.read_at(&mut buf, 0).ok()?;
                self.file = Some(file);
                len
            }
        };
        parse(buf.get(..len)?)
    }
}

/// The fifth field of a loadavg text (`0.00 0.01 0.05 1/123 4567`).
fn parse(text: &[u8]) -> Option<Pid> {
    let text = std::str::from_utf8(text).ok()?;
    text.split_ascii_whitespace().nth(4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_field_is_the_pid_and_anything_else_is_none() {
        assert_eq!(parse(b"0.52 0.58 0.59 2/611 40123\n"), Some(40123));
        assert_eq!(parse(b"0.52 0.58 0.59 2/611\n"), None);
        assert_eq!(parse(b"0.52 0.58 0.59 2/611 -4\n"), None);
        assert_eq!(parse(b"0.52 0.58 0.59 2/611 99999999999\n"), None);
        assert_eq!(parse(b"\xff\xfe 1 2 3 4"), None);
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn the_open_file_follows_each_new_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut last = LastPid::new(dir.path());
        assert_eq!(last.read(), None, "no loadavg yet");
        std::fs::write(dir.path().join("loadavg"), "0 0 0 1/1 100\n").expect("write");
        assert_eq!(last.read(), Some(100));
        std::fs::write(dir.path().join("loadavg"), "0 0 0 1/1 99999\n").expect("write");
        assert_eq!(last.read(), Some(99999));
        std::fs::write(dir.path().join("loadavg"), "0 0 0 1/1 7\n").expect("write");
        assert_eq!(
            last.read(),
            Some(7),
            "a shorter text leaves nothing of the longer one"
        );
    }

    #[test]
    fn the_real_loadavg_moves_when_a_process_starts() {
        let mut last = LastPid::new(Path::new("/proc"));
        let before = last.read().expect("/proc/loadavg");
        let child = std::process::Command::new("true").status().expect("true");
        assert!(child.success());
        let after = last.read().expect("/proc/loadavg");
        assert_ne!(before, after, "a pid was allocated in between");
    }
}
