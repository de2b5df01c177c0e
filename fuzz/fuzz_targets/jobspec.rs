//! Fuzzes the job file parsers and the formatter: any input must give a result or an
//! error, never a panic or a hang. Run from `fuzz/`, seeded with the job file corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run jobspec corpus/jobspec ../tests/jobspecs -- -max_total_time=300`
//! (RUSTC_BOOTSTRAP lets the stable toolchain take the sanitizer flags).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rove::jobspec::parse_hcl(text, "fuzz.hcl");
        let _ = rove::jobspec::parse_json(text, "fuzz.json");
        let _ = rove::jobspec::format(text, "fuzz.hcl");
    }
});
