//! Reading `/proc` files as untrusted input: never more than a stated number of bytes, and
//! line by line with overlong lines skipped, so a hostile or runaway file cannot exhaust
//! memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

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
    fn reads_stop_at_the_cap() {
        let f = file(&[b'z'; 1000]);
        assert_eq!(read_capped(f.path(), 10).unwrap().len(), 10);
    }
}
