//! Which process writes a run, recorded in the manifest, so that a reader can tell a run
//! that is still training from one that was killed before it could close (its manifest says
//! `running` either way).
//!
//! A process id alone is not enough: ids are reused, and a folder may be read on another
//! machine or after a reboot. The manifest therefore records the id with the host's name,
//! the kernel's boot id and the process's start time (in clock ticks since boot, from
//! `/proc/<pid>/stat`): the writer is alive exactly when, on the same boot of the same host,
//! a process with that id started at that tick exists. A heartbeat (a timestamp rewritten
//! now and then) was the other way; it cannot tell a dead run from a slow epoch without a
//! timeout that is wrong for one of them. These files are Linux's; elsewhere nothing is
//! recorded and a reader says it cannot tell.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The process that writes a run folder (the manifest's `process` object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The host's name, for people (`/proc/sys/kernel/hostname`).
    #[serde(default)]
    pub host: Option<String>,
    /// The kernel's id of this boot (`/proc/sys/kernel/random/boot_id`): it changes when the
    /// machine restarts, so that a process id from before cannot be taken for a new one.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// When the process started, in clock ticks after boot (field 22 of `/proc/<pid>/stat`).
    #[serde(default)]
    pub start_ticks: Option<u64>,
}

/// Whether the process that wrote a run folder is still there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// It runs: same host, same boot, same process.
    Alive,
    /// It is gone (or the machine restarted since); the reason says which.
    Gone(String),
    /// This reader cannot tell (another host, or nothing recorded); the reason says why.
    Unknown(String),
}

impl ProcessInfo {
    /// This process, where the system says who it is (`None` without `/proc`).
    pub fn current() -> Option<ProcessInfo> {
        let pid = std::process::id();
        let start_ticks = start_ticks(pid)?;
        Some(ProcessInfo { pid, host: read_trimmed(HOSTNAME), boot_id: read_trimmed(BOOT_ID), start_ticks: Some(start_ticks) })
    }

    /// Whether this process is still running, as far as this machine can tell.
    pub fn liveness(&self) -> Liveness {
        let (Some(boot_id), Some(ticks)) = (&self.boot_id, self.start_ticks) else {
            return Liveness::Unknown("the manifest does not say which boot and process wrote it".to_string());
        };
        let here = ProcessInfo::current();
        let here_boot = here.as_ref().and_then(|p| p.boot_id.as_deref());
        let here_host = here.as_ref().and_then(|p| p.host.as_deref());
        let host = self.host.as_deref().unwrap_or("another host");
        match (here_boot, here_host) {
            (Some(b), _) if b == boot_id => match start_ticks(self.pid) {
                Some(t) if t == ticks => Liveness::Alive,
                _ => Liveness::Gone(format!("process {} on {host} is gone", self.pid)),
            },
            (Some(_), Some(h)) if Some(h) == self.host.as_deref() => {
                Liveness::Gone(format!("{host} has restarted since process {} wrote it", self.pid))
            }
            _ => Liveness::Unknown(format!("it was written by process {} on {host}, which this machine cannot see", self.pid)),
        }
    }
}

const HOSTNAME: &str = "/proc/sys/kernel/hostname";
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// A system file's text, trimmed. A file that cannot be read says nothing, whatever the
/// reason (absent on this system, or not readable here): the caller then records, or
/// concludes, nothing.
fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Err(_) => None,
    }
}

/// The start time of process `pid` in clock ticks after boot: field 22 of its `stat` file,
/// counted after the command name's closing parenthesis (the name may hold spaces).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = read_trimmed(format!("/proc/{pid}/stat"))?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields 3, 4, … follow the name, so field 22 is the 20th of them.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_gone() {
        let Some(me) = ProcessInfo::current() else {
            // No /proc: nothing is recorded, and the report says it cannot tell.
            return;
        };
        assert_eq!(me.liveness(), Liveness::Alive);
        let mut child = std::process::Command::new("true").spawn().expect("run `true`");
        let pid = child.id();
        let ticks = start_ticks(pid);
        child.wait().expect("wait for `true`");
        // Once reaped, its id names no process (or, reused, one that started later).
        let gone = ProcessInfo { pid, start_ticks: ticks.or(me.start_ticks), ..me.clone() };
        assert!(matches!(gone.liveness(), Liveness::Gone(_)), "{:?}", gone.liveness());
        let rebooted = ProcessInfo { boot_id: Some("another boot".to_string()), ..me.clone() };
        assert!(matches!(rebooted.liveness(), Liveness::Gone(ref why) if why.contains("restarted")), "{:?}", rebooted.liveness());
        let elsewhere = ProcessInfo { boot_id: Some("another boot".to_string()), host: Some("elsewhere".to_string()), ..me };
        assert!(matches!(elsewhere.liveness(), Liveness::Unknown(ref why) if why.contains("elsewhere")));
        let old = ProcessInfo { pid: 1, host: None, boot_id: None, start_ticks: None };
        assert!(matches!(old.liveness(), Liveness::Unknown(_)));
    }
}
