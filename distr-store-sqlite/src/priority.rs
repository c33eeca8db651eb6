//! [`BackgroundPriority`]: how much lower than requests a background thread
//! (the download analytics writer) runs, and [`lower_thread_priority`].

use std::fmt;
use std::str::FromStr;

/// The CPU priority of a background thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackgroundPriority {
    /// Linux's `SCHED_IDLE` policy: the thread runs when no other thread
    /// wants the core and is preempted as soon as one does, so it never
    /// delays a request; on a core busy all the time it gets almost
    /// nothing (its work waits, a bounded queue fills). Elsewhere: nice 19.
    #[default]
    Idle,
    /// A nice value, 0 (normal) to 19 (lowest): a share of a busy core that
    /// shrinks as the value grows, but the thread may run a scheduler slice
    /// (about a millisecond) before a woken request thread gets the core.
    Nice(i32),
}

impl fmt::Display for BackgroundPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Idle => f.write_str("idle"),
            Self::Nice(n) => write!(f, "{n}"),
        }
    }
}

/// A priority that is neither `idle` nor a nice value from 0 to 19.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a background priority is `idle` or a nice value from 0 to 19, not {0:?}")]
pub struct BadPriority(String);

impl FromStr for BackgroundPriority {
    type Err = BadPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "idle" => Ok(Self::Idle),
            n => match n.parse::<i32>() {
                Ok(v) if (0..=19).contains(&v) => Ok(Self::Nice(v)),
                _ => Err(BadPriority(s.to_owned())),
            },
        }
    }
}

/// Lowers the calling thread's CPU priority to `priority` (never raises it:
/// that needs privileges). On Linux both the policy and the nice value are
/// the thread's own, and threads it starts inherit them. A failure is logged
/// and the thread keeps its priority.
pub fn lower_thread_priority(priority: BackgroundPriority) {
    let nice = match priority {
        BackgroundPriority::Idle => {
            set_idle_policy();
            19
        }
        BackgroundPriority::Nice(n) => n.clamp(0, 19),
    };
    set_nice(nice);
}

#[cfg(target_os = "linux")]
fn set_idle_policy() {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };
    use thread_priority::ThreadPriority;
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    // Sets the policy, then the nice value to the policy's only one (0);
    // `set_nice` raises it again.
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        tracing::warn!(error = ?e, "cannot run a background thread under SCHED_IDLE");
    }
}

#[cfg(not(target_os = "linux"))]
fn set_idle_policy() {}

#[cfg(unix)]
fn set_nice(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    let current = getpriority_process(None).unwrap_or(0);
    if nice <= current {
        return;
    }
    if let Err(e) = setpriority_process(None, nice) {
        tracing::warn!(error = %e, nice, "cannot lower the priority of a background thread");
    }
}

#[cfg(not(unix))]
fn set_nice(_nice: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_parse_and_print() {
        assert_eq!("idle".parse(), Ok(BackgroundPriority::Idle));
        assert_eq!(" 7 ".parse(), Ok(BackgroundPriority::Nice(7)));
        assert_eq!("0".parse(), Ok(BackgroundPriority::Nice(0)));
        for bad in ["20", "-1", "low", ""] {
            assert!(bad.parse::<BackgroundPriority>().is_err(), "{bad}");
        }
        assert_eq!(BackgroundPriority::Nice(19).to_string(), "19");
        assert_eq!(BackgroundPriority::default().to_string(), "idle");
    }

    /// The scheduling policy and nice value of the calling thread, from
    /// `/proc/thread-self/stat` (fields 41 and 19).
    #[cfg(target_os = "linux")]
    fn own_policy_and_nice() -> (String, String) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        // Fields after the name start at field 3.
        (fields[41 - 3].to_owned(), fields[19 - 3].to_owned())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn threads_are_lowered_and_their_children_inherit() {
        let idle = std::thread::spawn(|| {
            lower_thread_priority(BackgroundPriority::Idle);
            let child = std::thread::spawn(own_policy_and_nice).join().unwrap();
            (own_policy_and_nice(), child)
        })
        .join()
        .unwrap();
        // SCHED_IDLE is policy 5.
        assert_eq!(idle.0, ("5".to_owned(), "19".to_owned()));
        assert_eq!(idle.1, idle.0);
        let nice = std::thread::spawn(|| {
            lower_thread_priority(BackgroundPriority::Nice(4));
            own_policy_and_nice()
        })
        .join()
        .unwrap();
        assert_eq!(nice, ("0".to_owned(), "4".to_owned()));
    }
}
