//! Child processes in tests (the real binary, node, pg_dump): nothing waits on one for ever. A
//! child that prints nothing, or does not finish, is killed and fails its test within a minute.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn kill(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// A child's stdout, line by line, read on a thread.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    pid: u32,
    timeout: Duration,
}

impl Lines {
    /// Takes the child's (piped) stdout.
    pub fn of(child: &mut Child) -> Self {
        Self::within(child, CHILD_TIMEOUT)
    }

    /// Takes the child's (piped) stdout; each line must come within `timeout`.
    pub fn within(child: &mut Child, timeout: Duration) -> Self {
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            rx,
            pid: child.id(),
            timeout,
        }
    }

    /// The next line; `None` at the end of the output. Kills the child and fails when nothing
    /// comes within [`CHILD_TIMEOUT`].
    pub fn next_line(&self) -> Option<String> {
        match self.rx.recv_timeout(self.timeout) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill(self.pid);
                panic!("the child printed nothing within {:?}", self.timeout);
            }
        }
    }
}

/// Starts `cmd` with stdout piped and returns the child with its first line.
pub fn spawn_first_line(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let line = Lines::of(&mut child)
        .next_line()
        .unwrap_or_else(|| panic!("the child exited without printing"));
    (child, line)
}

/// Runs `cmd` to completion (stdout and stderr captured); kills it and fails after
/// [`CHILD_TIMEOUT`].
pub fn output_within(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CHILD_TIMEOUT) {
        Ok(out) => out.expect("the child's output"),
        Err(_) => {
            kill(pid);
            panic!("the child did not finish within {CHILD_TIMEOUT:?}");
        }
    }
}

/// [`output_within`] for tokio's `Command`.
pub async fn output_within_async(cmd: &mut tokio::process::Command) -> Output {
    cmd.kill_on_drop(true);
    tokio::time::timeout(CHILD_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the child did not finish within {CHILD_TIMEOUT:?}"))
        .expect("the child runs")
}

/// The positive control of the timeout: a child that never prints fails its reader in time and
/// is killed.
#[test]
fn a_silent_child_fails_its_reader_and_is_killed() {
    let mut child = Command::new("sleep")
        .arg("30")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::within(&mut child, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lines.next_line()));
    assert!(failed.is_err(), "no line: the reader fails");
    assert!(started.elapsed() < Duration::from_secs(5));
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {status}");
}
