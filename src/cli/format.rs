//! Output formatting in Nomad's style: aligned tables, `Key = Value` lists, short IDs,
//! timestamps and ages.

use std::time::{SystemTime, UNIX_EPOCH};

/// Columns separated by two spaces, each as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<&str>| {
        let line: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i + 1 == cells.len() { c.to_string() } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        line.join("  ").trim_end().to_string()
    };
    let mut out = vec![render(header.to_vec())];
    out.extend(rows.iter().map(|r| render(r.iter().map(String::as_str).collect())));
    out.join("\n")
}

/// `Key = Value` lines with the `=` signs aligned.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<width$} = {v}")).collect::<Vec<_>>().join("\n")
}

/// The text, or `<none>` when it is empty, as Nomad shows unset fields.
pub fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// The first 8 characters of an ID, as Nomad shows them.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// A size in bytes as people read it: "512 B", "1.5 KiB", "12 MiB".
pub fn human_bytes(n: u64) -> String {
    let mut value = n as f64;
    let mut unit = 0;
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ if value < 10.0 => format!("{value:.1} {}", UNITS[unit]),
        _ => format!("{value:.0} {}", UNITS[unit]),
    }
}

/// A Unix time in nanoseconds as an RFC 3339 UTC timestamp.
pub fn timestamp(nanos: i64) -> String {
    if nanos <= 0 {
        return "<none>".into();
    }
    crate::timefmt::rfc3339(nanos, false)
}

/// How long ago a Unix time in nanoseconds was: "5s ago", "3m2s ago", "2h5m ago".
pub fn ago(nanos: i64) -> String {
    if nanos <= 0 {
        return "<none>".into();
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    let secs = ((now - nanos) / 1_000_000_000).max(0);
    let text = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    };
    format!("{text} ago")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(11), "11 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12 << 20), "12 MiB");
    }

    #[test]
    fn tables_align_and_timestamps_are_utc() {
        let out = table(&["ID", "Status"], &[vec!["abc".into(), "running".into()], vec!["a".into(), "dead".into()]]);
        assert_eq!(out, "ID   Status\nabc  running\na    dead");
        assert_eq!(key_values(&[("ID", "x".into()), ("Status", "y".into())]), "ID     = x\nStatus = y");
        assert_eq!(timestamp(0), "<none>");
        assert_eq!(short_id("0123456789"), "01234567");
    }
}
