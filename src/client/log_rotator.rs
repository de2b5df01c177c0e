//! Rotated log files: output is appended to `<prefix>.N` in a directory, moving on to
//! `<prefix>.N+1` when the current file reaches the size limit and deleting the oldest
//! files beyond the count limit, as a task's `logs { max_files max_file_size }` asks.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Appends to a numbered sequence of files of bounded size and number.
pub struct Rotator {
    dir: PathBuf,
    prefix: String,
    max_files: usize,
    max_size: u64,
    index: u64,
    size: u64,
    file: File,
}

impl Rotator {
    /// Continues the highest-numbered existing `<prefix>.N` in `dir`, or starts `<prefix>.0`.
    pub fn open(dir: &Path, prefix: &str, max_files: usize, max_size: u64) -> io::Result<Rotator> {
        let index = indexes(dir, prefix)?.last().copied().unwrap_or(0);
        let file = append(&dir.join(format!("{prefix}.{index}")))?;
        let size = file.metadata()?.len();
        Ok(Rotator {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            max_files: max_files.max(1),
            max_size: max_size.max(1),
            index,
            size,
            file,
        })
    }

    /// Appends `data`, splitting it across files so none exceeds the size limit.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.size >= self.max_size {
                self.rotate()?;
            }
            let n = ((self.max_size - self.size) as usize).min(data.len());
            self.file.write_all(&data[..n])?;
            self.size += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.index += 1;
        self.file = append(&self.dir.join(format!("{}.{}", self.prefix, self.index)))?;
        self.size = 0;
        let existing = indexes(&self.dir, &self.prefix)?;
        for old in &existing[..existing.len().saturating_sub(self.max_files)] {
            match std::fs::remove_file(self.dir.join(format!("{}.{old}", self.prefix))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The numbers N of the files `<prefix>.N` in `dir`, in increasing order.
pub fn indexes(dir: &Path, prefix: &str) -> io::Result<Vec<u64>> {
    let start = format!("{prefix}.");
    let mut found: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let n = name.strip_prefix(&start)?;
            n.bytes().all(|b| b.is_ascii_digit()).then(|| n.parse().ok()).flatten()
        })
        .collect();
    found.sort_unstable();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rove-rotator-{}", crate::structs::generate_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn contents(dir: &Path, prefix: &str) -> Vec<(u64, String)> {
        indexes(dir, prefix)
            .unwrap()
            .into_iter()
            .map(|n| (n, std::fs::read_to_string(dir.join(format!("{prefix}.{n}"))).unwrap()))
            .collect()
    }

    #[test]
    fn files_are_filled_to_the_limit_then_numbered_on() {
        let dir = scratch();
        let mut r = Rotator::open(&dir, "web.stdout", 10, 4).unwrap();
        r.write(b"abcdefghij").unwrap();
        r.write(b"k").unwrap();
        let expected = [(0, "abcd"), (1, "efgh"), (2, "ijk")].map(|(n, s)| (n, s.to_string()));
        assert_eq!(contents(&dir, "web.stdout"), expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_oldest_files_beyond_the_count_are_deleted() {
        let dir = scratch();
        let mut r = Rotator::open(&dir, "web.stderr", 2, 3).unwrap();
        for chunk in ["aaa", "bbb", "ccc", "dd"] {
            r.write(chunk.as_bytes()).unwrap();
        }
        let expected = [(2, "ccc"), (3, "dd")].map(|(n, s)| (n, s.to_string()));
        assert_eq!(contents(&dir, "web.stderr"), expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reopening_continues_the_last_file_and_ignores_other_names() {
        let dir = scratch();
        Rotator::open(&dir, "a.stdout", 3, 4).unwrap().write(b"12345").unwrap();
        std::fs::write(dir.join("a.stdout.x"), "not a log").unwrap();
        std::fs::write(dir.join("a.stderr.7"), "other stream").unwrap();
        Rotator::open(&dir, "a.stdout", 3, 4).unwrap().write(b"678").unwrap();
        let expected = [(0, "1234"), (1, "5678")].map(|(n, s)| (n, s.to_string()));
        assert_eq!(contents(&dir, "a.stdout"), expected);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
