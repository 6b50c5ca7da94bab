//! Advisory file locks that give up: a process that holds one and stops (Ctrl-Z, `kill -STOP`, a debugger)
//! must not hang every other command of the state directory forever.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a command waits for a file lock that another process holds before it gives up. The locks guard
/// a read and a write of one small file, held for milliseconds by a running process.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Runs `f` while holding an exclusive `flock` on `path` (created, owner-only, if missing). Waits at most
/// `wait` for another process to release it; then fails with [`io::ErrorKind::WouldBlock`] and a message
/// that names the file and says what to look for.
pub fn exclusive<T>(path: &Path, wait: Duration, f: impl FnOnce() -> T) -> io::Result<T> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    let mut lock = fd_lock::RwLock::new(file);
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let _guard = loop {
        match lock.try_write() {
            Ok(guard) => break guard,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if start.elapsed() >= wait {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!(
                            "held by another process for over {}s (is a bluegreen process stopped, \
                             e.g. by Ctrl-Z? resume or end it)",
                            wait.as_secs()
                        ),
                    ));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    };
    Ok(f())
}

/// Whether another process holds `path`'s lock now (for tests and diagnostics; a missing file is free).
pub fn is_held(path: &Path) -> io::Result<bool> {
    let file = match File::options().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut lock = fd_lock::RwLock::new(file);
    match lock.try_write() {
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_elsewhere_is_waited_for_a_bounded_time() {
        let dir = std::env::temp_dir().join(format!("bluegreen-flock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.lock");
        assert!(!is_held(&path).unwrap());
        // A second descriptor of the same file is a second lock owner for flock.
        let other = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap();
        let mut held = fd_lock::RwLock::new(other);
        let guard = held.try_write().unwrap();
        assert!(is_held(&path).unwrap());
        let start = Instant::now();
        let err = exclusive(&path, Duration::from_millis(200), || ()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(err.to_string().contains("held by another process"), "{err}");
        assert!(start.elapsed() >= Duration::from_millis(200));
        drop(guard);
        assert_eq!(
            exclusive(&path, Duration::from_millis(200), || 7).unwrap(),
            7
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
