//! The test's own seccomp filter (`man 2 seccomp`): proof that code makes no system call of a
//! kind, here `futex`, where it should stay in user space.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::grader::Failure;

/// Counts the futex system calls this process tried after [`trap_futex`].
pub static FUTEX_CALLS: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_futex_call(_: libc::c_int) {
    FUTEX_CALLS.fetch_add(1, Ordering::Relaxed);
}

/// In a single-threaded worker: from now on the kernel does not run a `futex` system call of
/// this process but sends it SIGSYS (SECCOMP_RET_TRAP; the call returns `ENOSYS`), which
/// [`FUTEX_CALLS`] counts. Every other system call runs as usual. There is no way back: call it
/// in a forked process that exits afterwards.
pub fn trap_futex() -> Result<(), Failure> {
    let fail = |what: &str| Failure::crash(format!("the test could not {what}: {}", std::io::Error::last_os_error()));
    // SAFETY: a zeroed sigaction with a handler that only touches an atomic; no SA_SIGINFO.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_futex_call as extern "C" fn(libc::c_int) as libc::sighandler_t;
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(fail("catch SIGSYS"));
        }
    }
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let mut filter = [
        // The system call's number: offset 0 of struct seccomp_data.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_futex as u32,
        },
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_TRAP),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
    // SAFETY: prctl and seccomp with valid arguments; the program outlives the call (the kernel
    // copies it). No new privileges lets an unprivileged process install a filter.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(fail("set no_new_privs"));
        }
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &raw const program) != 0 {
            return Err(fail("install a seccomp filter"));
        }
    }
    Ok(())
}
