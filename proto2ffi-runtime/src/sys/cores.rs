//! How many cores the machine has online.

/// Cores online, read once. Not `std::thread::available_parallelism`,
/// whose cgroup quota parsing (file reading, string parsing) added 15 KB
/// to every library: its users (the sync pool's size, whether a waiting
/// handler spins) need no more precision than this.
pub(crate) fn online_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(read_online_cores)
}

#[cfg(unix)]
fn read_online_cores() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4)
}

#[cfg(not(unix))]
fn read_online_cores() -> usize {
    4
}
