//! Every input kept in the repository (the seed corpus, and each crash a fuzzing run found)
//! runs through its target on every `cargo test`.

#![allow(clippy::panic)]

use std::path::Path;

fn replay(target_name: &str, target: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for kind in ["corpus", "regressions"] {
        for file in gatehouse_fuzz::corpus_files(&root.join(kind).join(target_name)) {
            let input = std::fs::read(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
            target(&input);
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn the_original_path_corpus_and_past_crashes_pass() {
    assert!(replay("original_path", gatehouse_fuzz::original_path) >= 10);
}

#[test]
fn the_forwarded_corpus_and_past_crashes_pass() {
    assert!(replay("forwarded", gatehouse_fuzz::forwarded) >= 5);
}

#[test]
fn the_client_auth_corpus_and_past_crashes_pass() {
    assert!(replay("client_auth", gatehouse_fuzz::client_auth) >= 10);
}

#[test]
fn the_paging_corpus_and_past_crashes_pass() {
    assert!(replay("paging", gatehouse_fuzz::paging) >= 10);
}

#[test]
fn the_access_token_corpus_and_past_crashes_pass() {
    assert!(replay("access_token", gatehouse_fuzz::access_token) >= 10);
}

#[test]
fn the_client_fields_corpus_and_past_crashes_pass() {
    assert!(replay("client_fields", gatehouse_fuzz::client_fields) >= 8);
}
