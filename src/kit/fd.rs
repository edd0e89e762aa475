//! Plain descriptors for the test's own side: a pipe, a poll, a byte as a handshake, a socket's
//! type. Each read and wait goes on through `EINTR`: the tests run under caught signals.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::grader::Failure;

/// A pipe, both ends close-on-exec (`man 2 pipe2`): (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Failure::test_error("make a pipe"))
}

/// Waits up to `ms` milliseconds for `fd` to be readable or hung up (`man 2 poll`); whether it is.
pub fn poll_readable(fd: impl AsFd, ms: i32) -> bool {
    let mut fds = [libc::pollfd { fd: fd.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    // SAFETY: one valid pollfd, for as long as the call.
    unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) > 0 }
}

/// Reads one byte (blocking): Some(byte), or None at end-of-file or on an error.
pub fn read_byte(fd: impl AsFd) -> Option<u8> {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: byte is valid for one byte; the descriptor is borrowed for the call.
        match unsafe { libc::read(fd.as_fd().as_raw_fd(), byte.as_mut_ptr().cast(), 1) } {
            1 => return Some(byte[0]),
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            _ => return None,
        }
    }
}

/// Writes one byte (a handshake: "ready", "go on"); whether it was written.
pub fn write_byte(fd: impl AsFd) -> bool {
    loop {
        // SAFETY: one valid byte; the descriptor is borrowed for the call.
        match unsafe { libc::write(fd.as_fd().as_raw_fd(), b"!".as_ptr().cast(), 1) } {
            1 => return true,
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            _ => return false,
        }
    }
}

/// The type of a socket (`SO_TYPE`, `man 7 socket`): `SOCK_STREAM`, `SOCK_DGRAM`,
/// `SOCK_SEQPACKET`, or -1 when the descriptor is not a socket.
pub fn socket_type(fd: impl AsFd) -> i32 {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid out-pointers of the sizes given; the descriptor is
    // borrowed for the call.
    let r = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 { value } else { -1 }
}

/// A socket type in words, for a message.
pub fn socket_type_name(t: i32) -> &'static str {
    match t {
        libc::SOCK_STREAM => "SOCK_STREAM",
        libc::SOCK_DGRAM => "SOCK_DGRAM",
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET",
        -1 => "not a socket",
        _ => "another type of",
    }
}
