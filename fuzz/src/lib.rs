//! The fuzz targets: each takes the raw bytes AFL++ (or a corpus file) gives it, runs one parser
//! of `gatehouse-edge` on them, and asserts what must hold for every input, not only that
//! nothing panics. A failed assertion is a crash to AFL++; a crash it finds is kept under
//! `regressions/<target>/` and replayed by `cargo test` from then on.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use gatehouse_edge::{forwarded, original_path};

/// `original_path`: what the check accepts is a plain absolute path, and one that needs no
/// further resolution.
pub fn original_path(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(resolved) = original_path::resolve(raw) {
        assert!(resolved.starts_with('/'), "{raw:?} resolved to a relative path");
        let segments: Vec<&str> = resolved.split('/').skip(1).collect();
        for (index, segment) in segments.iter().enumerate() {
            assert!(!segment.is_empty() || index + 1 == segments.len(), "{raw:?}: an empty segment survived");
            assert!(*segment != "." && *segment != "..", "{raw:?}: a dot segment survived");
            assert!(!segment.ends_with(['.', ' ']), "{raw:?}: a segment Windows would trim survived");
        }
        assert!(!resolved.contains(['?', '#', ';', '\\']), "{raw:?}: a delimiter survived");
        // Resolving again what needs no decoding changes nothing: it was resolved once, fully.
        if !resolved.contains('%') && !resolved.contains(|c: char| c == ' ' || !c.is_ascii_graphic() && c != '/') {
            assert_eq!(original_path::resolve(&resolved).as_deref(), Ok(&*resolved), "{raw:?}");
        }
        // Whatever the path, a prefix match never splits a segment, and a product is decided
        // only when case and format-suffix readings agree with it.
        for prefix in ["/billing", "/supersim/"] {
            if original_path::under_prefix(&resolved, prefix) {
                let rest = &resolved[prefix.len()..];
                assert!(prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'), "{raw:?}");
            }
        }
        let catalogue = [("/wireless/", 1), ("/wireless/admin", 2), ("/billing", 3)];
        if let Ok(Some(product)) = original_path::product_for(&resolved, catalogue) {
            let lowered = resolved.to_ascii_lowercase();
            assert_eq!(original_path::longest_prefix_match(&lowered, catalogue), Some(product), "{raw:?}");
        }
    }
    if original_path::is_valid_prefix(raw) {
        assert_eq!(original_path::resolve(raw).as_deref(), Ok(raw), "a valid prefix must resolve to itself");
    }
}

/// `forwarded`: the input is `X-Forwarded-For` header values, one per line, from a trusted peer
/// (10.0.0.1; 10.0.0.0/8 trusted). Every parsed address parses back to itself, and the caller
/// decided is what a right-to-left walk that stops at the first untrusted or unreadable entry
/// gives: never an entry the caller wrote beyond an unreadable one.
pub fn forwarded(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let peer = IpAddr::from([10, 0, 0, 1]);
    let trusts = |addr: IpAddr| matches!(addr, IpAddr::V4(v4) if v4.octets()[0] == 10);
    let values: Vec<&str> = text.split('\n').collect();
    let mut entries = Vec::new();
    for value in &values {
        for entry in value.split(',') {
            let parsed = forwarded::parse_address(entry);
            if let Some(addr) = parsed {
                assert_eq!(forwarded::parse_address(&addr.to_string()), Some(addr), "{entry:?}");
                assert_eq!(forwarded::canonical(addr), addr, "{entry:?} parsed to a mapped address");
            }
            entries.push(parsed);
        }
    }
    let decided = forwarded::caller_behind_trusted_peer(
        peer,
        values.iter().map(|value| Some(*value)),
        std::iter::empty(),
        trusts,
    );
    let mut expected = peer;
    for entry in entries.iter().rev() {
        match entry {
            Some(addr) if trusts(*addr) => expected = *addr,
            Some(addr) => {
                expected = *addr;
                break;
            }
            None => break,
        }
    }
    assert_eq!(decided, expected, "{text:?}");
}

/// Every file under `dir`, sorted; none if it does not exist.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).filter(|path| path.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The plain (not instrumented) binary: runs `target` on each file named on the command line,
/// or on standard input, so a crash AFL++ saved can be replayed under a debugger.
pub fn replay_main(target: fn(&[u8])) {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        let mut input = Vec::new();
        if std::io::stdin().read_to_end(&mut input).is_ok() {
            target(&input);
        }
        return;
    }
    for path in paths {
        let files = if path.is_dir() { corpus_files(&path) } else { vec![path] };
        for file in files {
            eprintln!("replaying {}", file.display());
            match std::fs::read(&file) {
                Ok(input) => target(&input),
                Err(error) => eprintln!("cannot read {}: {error}", file.display()),
            }
        }
    }
}
