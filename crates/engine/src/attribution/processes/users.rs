//! User names for uids from `/etc/passwd`, cached and re-read when the file changes.

use crate::attribution::kernel::bounded_read::read_text;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Most bytes of the passwd file read.
const MAX_PASSWD: u64 = 16 * 1024 * 1024;
/// Most names kept.
const MAX_USERS: usize = 100_000;
/// Least time between two checks of the file's modification time on an unknown uid.
const RECHECK: Duration = Duration::from_secs(1);

/// The uid → name table of one passwd file.
#[derive(Debug)]
pub(crate) struct Users {
    path: PathBuf,
    names: HashMap<u32, String>,
    loaded_mtime: Option<SystemTime>,
    last_check: Option<Instant>,
}

impl Users {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            names: HashMap::new(),
            loaded_mtime: None,
            last_check: None,
        }
    }

    /// The name of `uid`, or the number as text when the file does not name it.
    pub(crate) fn name(&mut self, uid: u32) -> String {
        if !self.names.contains_key(&uid) {
            self.reload_if_changed();
        }
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }

    fn reload_if_changed(&mut self) {
        if self.last_check.is_some_and(|t| t.elapsed() < RECHECK) {
            return;
        }
        self.last_check = Some(Instant::now());
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if mtime.is_some() && mtime == self.loaded_mtime {
            return;
        }
        self.loaded_mtime = mtime;
        self.names = read_text(&self.path, MAX_PASSWD)
            .map(|text| parse_passwd(&text))
            .unwrap_or_default();
    }
}

/// `name:password:uid:…` lines → uid → name (the first name of a uid wins, as in libc).
pub(crate) fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        if names.len() >= MAX_USERS {
            break;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') || name.chars().any(char::is_control) {
            continue;
        }
        names.entry(uid).or_insert_with(|| name.to_owned());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_name_their_uids_and_bad_lines_are_skipped() {
        let names = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n\
             # comment:x:5\n\
             alice:x:1000:1000::/home/alice:/bin/sh\n\
             alias:x:1000:1000::/:/bin/sh\n\
             broken:x\n\
             neg:x:-1:0::/:\n\
             :x:7:7::/:\n",
        );
        assert_eq!(names.get(&0).map(String::as_str), Some("root"));
        assert_eq!(names.get(&1000).map(String::as_str), Some("alice"));
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn an_unnamed_uid_is_shown_as_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut users = Users::new(dir.path().join("passwd"));
        assert_eq!(users.name(4242), "4242");
    }
}
