//! The few OS calls the benchmark needs (Linux): CPU time and peak RSS of this process
//! (`getrusage(RUSAGE_SELF)`), current RSS (`/proc/self/statm`), pinning to one core
//! (`sched_setaffinity`) and raising the open-files limit for the idle-connection test.

use std::time::Duration;

/// What `getrusage(RUSAGE_SELF)` reports for the whole process (every thread).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Usage {
    /// User plus system CPU time.
    pub(crate) cpu: Duration,
    /// `ru_maxrss`: the peak resident set size so far, in KiB.
    pub(crate) max_rss_kib: u64,
}

pub(crate) fn usage() -> Usage {
    // SAFETY: `rusage` is plain old data, zero is a valid value, and getrusage only writes
    // into the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a live `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Usage {
            cpu: Duration::ZERO,
            max_rss_kib: 0,
        };
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Usage {
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss as u64,
    }
}

/// The current resident set size in bytes, from `/proc/self/statm` (0 if unreadable).
pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Pins the calling thread, and every thread it starts afterwards, to `cpu`.
pub(crate) fn pin_to(cpu: usize) -> Result<(), String> {
    // SAFETY: `cpu_set_t` is a bit array; zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of the set it is given; `cpu` is checked against
    // the set's size first.
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("cpu {cpu} out of range"));
    }
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; the pointer and size describe `set`.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(format!(
            "sched_setaffinity({cpu}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Raises the soft open-files limit to the hard one (the idle test holds many sockets).
pub(crate) fn raise_nofile() {
    // SAFETY: plain old data; getrlimit/setrlimit read and write only the struct given.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The number of CPUs this process may run on.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
