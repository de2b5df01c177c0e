//! The job file corpus: each `tests/jobspecs/*.nomad.hcl` must parse to exactly the
//! effective job in the `<name>.json` beside it (Nomad's API form, defaults filled in).
//! After a deliberate change, `UPDATE_GOLDEN=1 cargo test --test jobspec_corpus` rewrites
//! the expected files; review their diff before committing.

use std::path::Path;

#[test]
fn every_corpus_file_parses_to_its_expected_job() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jobspecs");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries.iter().filter(|p| p.to_string_lossy().ends_with(".nomad.hcl")) {
        let job = rove::jobspec::parse_file(path, &rove::jobspec::VarSources::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let src = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            rove::jobspec::format(&src, "corpus").unwrap(),
            src,
            "{} is not in canonical format",
            path.display()
        );
        let actual = serde_json::to_string_pretty(&serde_json::json!({ "Job": job })).unwrap() + "\n";
        let expected_path = path.with_extension("").with_extension("json");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", expected_path.display()));
        assert_eq!(actual, expected, "{} no longer parses to {}", path.display(), expected_path.display());
        // The expected JSON is itself a valid API submission that parses to the same job.
        let again = rove::jobspec::parse_json(&expected, &expected_path.display().to_string()).unwrap();
        assert_eq!(again, job, "{} does not round-trip through JSON", expected_path.display());
        checked += 1;
    }
    assert!(checked >= 4, "the corpus holds {checked} job files");
}
