//! "Did you mean" suggestions for misspelled names.

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1) + 1 && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A suffix for an error message: ` (did you mean "x"?)` or nothing.
pub fn hint(name: &str, candidates: &[&str]) -> String {
    closest(name, candidates).map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(row[j]).min(cur) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(closest("memroy", &["cpu", "memory", "memory_max"]), Some("memory"));
        assert_eq!(closest("drvier", &["driver", "user"]), Some("driver"));
        assert_eq!(closest("zzz", &["cpu", "memory"]), None);
        assert_eq!(hint("countt", &["count"]), " (did you mean \"count\"?)");
    }
}
