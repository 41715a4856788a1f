//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same property
//! checks the fuzz targets run, so `cargo test` covers every input the fuzzers found
//! interesting, crash regressions included, without a nightly toolchain.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    for path in files {
        let data = fs::read(&path).expect("corpus file");
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(
            result.is_ok(),
            "{target}: property failed on {}",
            path.display()
        );
    }
}

#[test]
fn corpus_reply_parser() {
    replay("reply_parser", smtp_courier::fuzzing::reply_parser);
}

#[test]
fn corpus_ehlo_capabilities() {
    replay(
        "ehlo_capabilities",
        smtp_courier::fuzzing::ehlo_capabilities,
    );
}

#[test]
fn corpus_dot_stuff_roundtrip() {
    replay(
        "dot_stuff_roundtrip",
        smtp_courier::fuzzing::dot_stuff_roundtrip,
    );
}

#[test]
fn corpus_session_feed() {
    replay("session_feed", smtp_courier::fuzzing::session_feed);
}

#[test]
fn corpus_scram_server_messages() {
    replay(
        "scram_server_messages",
        smtp_courier::fuzzing::scram_server_messages,
    );
}

#[test]
fn corpus_bdat_roundtrip() {
    replay("bdat_roundtrip", smtp_courier::fuzzing::bdat_roundtrip);
}

#[test]
fn corpus_session_window() {
    replay("session_window", smtp_courier::fuzzing::session_window);
}
