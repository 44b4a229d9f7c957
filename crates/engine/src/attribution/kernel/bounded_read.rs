//! Reading `/proc` files as untrusted input: never more than a stated number of bytes, and
//! line by line with overlong lines skipped, so a hostile or runaway file cannot exhaust
//! memory; and files inside a process's own root only when they are plain files.

use rustix::fs::{FsWord, Mode, OFlags};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `FUSE_SUPER_MAGIC` from `linux/magic.h`.
const FUSE_SUPER_MAGIC: FsWord = 0x6573_5546;

/// Reads at most `max` bytes of the file at `path`.
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?.take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// Reads at most `max` bytes of the file at `path` as text (invalid UTF-8 replaced).
pub(crate) fn read_text(path: &Path, max: u64) -> io::Result<String> {
    read_capped(path, max).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Reads at most `max` bytes of `path` as text, only when it is a regular file owned by
/// `owner`, not a symlink, and not on FUSE.
///
/// For paths a watched process controls (`/proc/PID/root/…`), which the helper reads as
/// root with `CAP_DAC_READ_SEARCH`: a symlink there would be followed in *our* root, to any
/// file of the host; a FIFO would block the capture thread on `open`; a device that a user
/// namespace bind-mounted there would act on being opened; a root-only file bind-mounted
/// there is not owned by the process's user; and a FUSE file's `read` blocks as long as its
/// owner wants. So the path is first opened with `O_PATH`, which opens nothing, checked,
/// and only then re-opened through `/proc/self/fd`, which reaches that very inode.
pub(crate) fn read_plain_file_of(owner: u32, path: &Path, max: u64) -> io::Result<String> {
    let handle = File::from(rustix::fs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?);
    let meta = handle.metadata()?;
    if !meta.file_type().is_file() || meta.uid() != owner {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file of the process's user",
        ));
    }
    // fstatfs on an O_PATH descriptor is allowed since Linux 3.12.
    if rustix::fs::fstatfs(&handle)?.f_type == FUSE_SUPER_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a file on FUSE may block reads",
        ));
    }
    let file = File::from(rustix::fs::open(
        format!("/proc/self/fd/{}", handle.as_raw_fd()),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?);
    let mut out = Vec::new();
    file.take(max).read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Calls `on_line` for each line (without its newline) of the first `max_total` bytes of
/// the file at `path`; lines longer than `max_line` bytes, and a last line cut off by the
/// cap, are skipped.
pub(crate) fn for_each_line(
    path: &Path,
    max_total: u64,
    max_line: usize,
    mut on_line: impl FnMut(&str),
) -> io::Result<()> {
    let file = File::open(path)?;
    let mut reader = BufReader::new(file.take(max_total));
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let mut skipping = false;
        // Read one line in pieces so an endless line is never held whole.
        let complete = loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break false;
            }
            let (piece, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], true),
                None => (chunk, false),
            };
            if !skipping && line.len() + piece.len() <= max_line {
                line.extend_from_slice(piece);
            } else {
                skipping = true;
            }
            let used = piece.len() + usize::from(found);
            reader.consume(used);
            if found {
                break true;
            }
        };
        if !complete {
            // End of file (or of the cap): a last line without newline counts only when
            // the whole file was read.
            if !skipping && !line.is_empty() && reader.get_ref().limit() > 0 {
                on_line(&String::from_utf8_lossy(&line));
            }
            return Ok(());
        }
        if !skipping {
            on_line(&String::from_utf8_lossy(&line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    fn lines(content: &[u8], max_total: u64, max_line: usize) -> Vec<String> {
        let f = file(content);
        let mut out = Vec::new();
        for_each_line(f.path(), max_total, max_line, |l| out.push(l.to_owned())).unwrap();
        out
    }

    #[test]
    fn lines_come_without_their_newline() {
        assert_eq!(lines(b"a\nbb\nccc", 100, 10), ["a", "bb", "ccc"]);
    }

    #[test]
    fn overlong_lines_are_skipped_whole() {
        let mut content = b"short\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 100_000));
        content.extend(b"\nafter\n");
        assert_eq!(lines(&content, 1 << 20, 64), ["short", "after"]);
    }

    #[test]
    fn a_line_cut_by_the_size_cap_is_dropped() {
        assert_eq!(lines(b"one\ntwo\nthree\n", 10, 64), ["one", "two"]);
    }

    #[test]
    fn a_plain_file_of_the_owner_is_read_and_anything_else_refused() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "[Application]\nname=org.example.App\n").unwrap();
        let me = std::fs::metadata(&plain).unwrap().uid();
        assert!(read_plain_file_of(me, &plain, 100)
            .unwrap()
            .contains("org.example.App"));
        assert_eq!(read_plain_file_of(me, &plain, 5).unwrap().len(), 5);
        // Owned by somebody else (a root-only file bind-mounted by a user namespace).
        assert!(read_plain_file_of(me.wrapping_add(1), &plain, 100).is_err());
        // A symlink would be followed in the reader's root: to any file on the host.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&plain, &link).unwrap();
        assert!(read_plain_file_of(me, &link, 100).is_err());
        // A directory, and a path that is not there.
        assert!(read_plain_file_of(me, dir.path(), 100).is_err());
        assert!(read_plain_file_of(me, &dir.path().join("none"), 100).is_err());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
        let me = std::fs::metadata(&fifo).unwrap().uid();
        // Opening a FIFO for reading blocks until a writer comes: ask on a thread.
        let (sender, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(read_plain_file_of(me, &fifo, 100).is_err());
        });
        let refused = answer.recv_timeout(std::time::Duration::from_secs(5));
        assert_eq!(refused, Ok(true), "refused at once, not blocked");
    }

    #[test]
    fn reads_stop_at_the_cap() {
        let f = file(&[b'z'; 1000]);
        assert_eq!(read_capped(f.path(), 10).unwrap().len(), 10);
    }
}
