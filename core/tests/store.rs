//! The file store: one file per key, atomic and durable writes, private
//! permissions, strict keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use kaksik_core::store::{FileStore, SecureStore, StoreError, validate_key};

fn open_store() -> (tempfile::TempDir, FileStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("store")).unwrap();
    (dir, store)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_value_put_is_the_value_got() {
    let (_dir, store) = open_store();
    store.put("account.auth.share", b"sealed blob").unwrap();
    assert_eq!(
        store.get("account.auth.share").unwrap().as_deref(),
        Some(&b"sealed blob"[..])
    );
}

#[test]
fn a_missing_key_has_no_value() {
    let (_dir, store) = open_store();
    assert_eq!(store.get("nothing-here").unwrap(), None);
}

#[test]
fn an_empty_value_is_a_value() {
    let (_dir, store) = open_store();
    store.put("empty", b"").unwrap();
    assert_eq!(store.get("empty").unwrap(), Some(Vec::new()));
}

#[test]
fn a_put_replaces_the_previous_value_entirely() {
    let (_dir, store) = open_store();
    store.put("k", &[1u8; 1000]).unwrap();
    store.put("k", b"short").unwrap();
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"short"[..]));
}

#[test]
fn values_survive_reopening_the_store() {
    let (dir, store) = open_store();
    store.put("k", b"v").unwrap();
    drop(store);
    let reopened = FileStore::open(dir.path().join("store")).unwrap();
    assert_eq!(reopened.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_deleted_key_has_no_value() {
    let (_dir, store) = open_store();
    store.put("k", b"v").unwrap();
    store.delete("k").unwrap();
    assert_eq!(store.get("k").unwrap(), None);
    assert!(file_names(store.dir()).is_empty());
}

#[test]
fn deleting_a_missing_key_succeeds() {
    let (_dir, store) = open_store();
    store.delete("never-stored").unwrap();
    store.delete("never-stored").unwrap();
}

#[test]
fn keys_outside_the_alphabet_are_refused_and_create_no_file() {
    let (_dir, store) = open_store();
    let too_long = "a".repeat(65);
    let bad = [
        "",
        ".hidden",
        "-dash-first",
        "_under-first",
        "Upper",
        "a/b",
        "../escape",
        "..",
        "a b",
        "a\0b",
        "ä",
        "a~b",
        too_long.as_str(),
    ];
    for key in bad {
        assert!(
            matches!(store.put(key, b"v"), Err(StoreError::InvalidKey)),
            "{key:?}"
        );
        assert!(matches!(store.get(key), Err(StoreError::InvalidKey)));
        assert!(matches!(store.delete(key), Err(StoreError::InvalidKey)));
    }
    assert!(file_names(store.dir()).is_empty());
    assert!(!store.dir().parent().unwrap().join("escape").exists());
}

#[test]
fn keys_inside_the_alphabet_are_accepted() {
    let (_dir, store) = open_store();
    let longest = "z".repeat(64);
    for key in ["a", "0", "a.b_c-d", "9.tmp-abc", longest.as_str()] {
        validate_key(key).unwrap();
        store.put(key, key.as_bytes()).unwrap();
        assert_eq!(store.get(key).unwrap().as_deref(), Some(key.as_bytes()));
    }
}

#[test]
fn a_leftover_temporary_file_does_not_affect_reads() {
    let (_dir, store) = open_store();
    store.put("k", b"committed").unwrap();
    // What a crash between write and rename leaves behind.
    fs::write(store.dir().join("k.tmp~0123456789abcdef"), b"torn").unwrap();
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"committed"[..]));
    fs::write(store.dir().join("new.tmp~0123456789abcdef"), b"torn").unwrap();
    assert_eq!(store.get("new").unwrap(), None);
}

#[test]
fn opening_the_store_removes_stale_temporary_files_only() {
    let (dir, store) = open_store();
    store.put("k", b"v").unwrap();
    let stale = store.dir().join("k.tmp~stale");
    let fresh = store.dir().join("k.tmp~fresh");
    fs::write(&stale, b"torn").unwrap();
    fs::write(&fresh, b"maybe another process's put").unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    drop(store);

    let store = FileStore::open(dir.path().join("store")).unwrap();
    assert!(!stale.exists());
    assert!(fresh.exists());
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_put_leaves_no_temporary_file() {
    let (_dir, store) = open_store();
    store.put("k", b"v").unwrap();
    store.put("k", b"w").unwrap();
    assert_eq!(file_names(store.dir()), ["k"]);
}

#[cfg(unix)]
#[test]
fn the_directory_is_0700_and_values_are_0600() {
    use std::os::unix::fs::PermissionsExt;

    let (_dir, store) = open_store();
    store.put("k", b"v").unwrap();
    let dir_mode = fs::metadata(store.dir()).unwrap().permissions().mode();
    let file_mode = fs::metadata(store.dir().join("k"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    assert_eq!(file_mode & 0o777, 0o600);
}

#[test]
fn concurrent_puts_leave_one_complete_value() {
    let (_dir, store) = open_store();
    let store = Arc::new(store);
    const WRITERS: u8 = 8;
    const LEN: usize = 256 * 1024;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for _ in 0..5 {
                    store.put("contended", &vec![writer; LEN]).unwrap();
                    // Every read in between sees one writer's whole value.
                    let seen = store.get("contended").unwrap().unwrap();
                    assert_eq!(seen.len(), LEN);
                    assert!(seen.iter().all(|byte| *byte == seen[0]));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let value = store.get("contended").unwrap().unwrap();
    assert_eq!(value.len(), LEN);
    assert!(value[0] < WRITERS);
    assert!(value.iter().all(|byte| *byte == value[0]));
    assert_eq!(file_names(store.dir()), ["contended"]);
}

#[test]
fn the_store_is_usable_as_a_trait_object_across_threads() {
    let (_dir, store) = open_store();
    let shared: Arc<dyn SecureStore> = Arc::new(store);
    let other = Arc::clone(&shared);
    thread::spawn(move || other.put("k", b"from a thread").unwrap())
        .join()
        .unwrap();
    assert_eq!(
        shared.get("k").unwrap().as_deref(),
        Some(&b"from a thread"[..])
    );
}
