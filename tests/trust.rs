//! Graded tests of the trust topic: `cargo test --test trust`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline, umask 0, SIGPIPE at
//! its default action and a leak audit after the kata returns. Here the other side is hostile on
//! purpose: the tests send memfds their sender can still change, and change them; they close
//! descriptors behind a lock's back and kill lock holders.

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

mod sealed_memfd {
    //! Tests of trust::sealed_memfd. When the kata shares, the test is the receiver and attacks
    //! the file it gets. When the kata receives, the test is a hostile sender: it keeps its own
    //! descriptor of each memfd it sends, and uses it once the kata has said yes.

    use std::fs::{self, File};
    use std::io::{ErrorKind, IoSlice, IoSliceMut, Write};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::fs::FileExt;
    use std::os::unix::net::{UnixListener, UnixStream};

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Payload, Peer, Sandbox, diff_bytes, size};
    use ipc_katas::kit::Removed;
    use katas::trust::{MAX_MEMFD_NAME, Sealed, receive_sealed, share_sealed};
    use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, sendmsg};
    use rstest::rstest;

    use super::peer::{self, Trust};

    const ALL_FOUR: i32 = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;

    /// The names of the seals in `bits`.
    fn seal_names(bits: i32) -> String {
        let names: Vec<&str> = [
            (libc::F_SEAL_SHRINK, "F_SEAL_SHRINK"),
            (libc::F_SEAL_GROW, "F_SEAL_GROW"),
            (libc::F_SEAL_WRITE, "F_SEAL_WRITE"),
            (libc::F_SEAL_SEAL, "F_SEAL_SEAL"),
            (libc::F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE"),
        ]
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect();
        if names.is_empty() { "no seal".to_string() } else { names.join(" | ") }
    }

    fn seals_of(fd: impl AsFd) -> i32 {
        // SAFETY: F_GET_SEALS takes no argument; the descriptor is borrowed.
        unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_GET_SEALS) }
    }

    /// This process's descriptors of memfds, as `fd -> /memfd:NAME (deleted)`.
    fn memfd_descriptors() -> Vec<String> {
        let Ok(dir) = fs::read_dir("/proc/self/fd") else { return Vec::new() };
        dir.filter_map(|e| {
            let e = e.ok()?;
            let link = fs::read_link(e.path()).ok()?.to_string_lossy().into_owned();
            link.starts_with("/memfd:").then(|| format!("{} -> {link}", e.file_name().to_string_lossy()))
        })
        .collect()
    }

    /// This process's mappings of memfds: their lines of /proc/self/maps.
    fn memfd_mappings() -> Vec<String> {
        fs::read_to_string("/proc/self/maps")
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("/memfd:"))
            .map(str::to_string)
            .collect()
    }

    /// The test's own memfd holding `data`, with `seals` added (made with MFD_ALLOW_SEALING).
    fn memfd(name: &str, data: &[u8], seals: i32) -> Result<File, Failure> {
        let fd = nix::sys::memfd::memfd_create(
            name,
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC | nix::sys::memfd::MFdFlags::MFD_ALLOW_SEALING,
        )
        .map_err(Failure::test_error("make its own memfd"))?;
        let mut file = File::from(fd);
        file.write_all(data).map_err(Failure::test_error("write its memfd"))?;
        // SAFETY: F_ADD_SEALS takes an int; the descriptor is the file's.
        if seals != 0 && unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } == -1 {
            return Err(Failure::test_error("seal its memfd")(std::io::Error::last_os_error()));
        }
        Ok(file)
    }

    /// Sends `fds` (none, one or more) with one byte of data over `over`, as a hostile sender would.
    fn send_fds(over: &UnixStream, fds: &[RawFd]) -> Result<(), Failure> {
        let rights = [ControlMessage::ScmRights(fds)];
        let controls: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        sendmsg::<UnixAddr>(over.as_raw_fd(), &[IoSlice::new(b"M")], controls, MsgFlags::empty(), None)
            .map(drop)
            .map_err(Failure::test_error("send its descriptors"))
    }

    /// Receives what `share_sealed` sent: one descriptor, or a failure that says what came instead.
    fn receive(s: &Sandbox, over: &UnixStream) -> Result<OwnedFd, Failure> {
        s.phase("receiving what share_sealed sent (recvmsg)");
        over.set_nonblocking(true).map_err(Failure::test_error("make its socket non-blocking"))?;
        let mut byte = [0u8; 16];
        let mut data = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 8]);
        let message =
            match recvmsg::<UnixAddr>(over.as_raw_fd(), &mut data, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(message) => message,
                Err(nix::errno::Errno::EAGAIN) => {
                    return Err(Failure::wrong(
                        "share_sealed returned Ok, but nothing was waiting on the other end of the socket: it must \
                         send the memfd (sendmsg with one SCM_RIGHTS descriptor and at least one byte of data)",
                    ));
                }
                Err(e) => return Err(Failure::test_error("receive the memfd")(e)),
            };
        let mut fds: Vec<OwnedFd> = Vec::new();
        for control in message.cmsgs().map_err(Failure::test_error("read the control messages"))? {
            if let ControlMessageOwned::ScmRights(rights) = control {
                // SAFETY: the kernel installed these descriptors in this process for this message.
                fds.extend(rights.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        let bytes = message.bytes;
        match fds.len() {
            1 => Ok(fds.remove(0)),
            n => Err(Failure::wrong(format!(
                "share_sealed sent a message of {bytes} bytes with {n} descriptors; expected exactly one, the memfd"
            ))),
        }
    }

    /// Checks that `fd` is a memfd called `name` sealed four ways and holding exactly `data`.
    fn check_shared(s: &Sandbox, fd: &OwnedFd, name: &str, data: &[u8]) -> Result<(), Failure> {
        let link = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map(|p| p.display().to_string());
        let want = format!("/memfd:{name} (deleted)");
        s.expect(link.as_deref().is_ok_and(|l| l == want), || {
            format!("the descriptor share_sealed sent is {link:?}, not a memfd called {name:?} ({want})")
        })?;
        let seals = seals_of(fd);
        s.expect(seals == ALL_FOUR, || {
            let missing = seal_names(ALL_FOUR & !seals.max(0));
            format!(
                "the memfd share_sealed sent has the seals {} (F_GET_SEALS); it must have all four of F_SEAL_SHRINK | \
                 F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL. Missing: {missing}. {}",
                seal_names(seals.max(0)),
                if seals & libc::F_SEAL_SEAL != 0 && seals & libc::F_SEAL_WRITE == 0 {
                    "(A memfd made without MFD_ALLOW_SEALING is born with F_SEAL_SEAL alone: then no seal can be added.)"
                } else {
                    "Without F_SEAL_SHRINK the sender can cut the file and every receiver reading its mapping dies of \
                     SIGBUS; without F_SEAL_WRITE it can change the bytes while they are read; without F_SEAL_SEAL it \
                     can still add seals (F_SEAL_FUTURE_WRITE)."
                }
            )
        })?;
        let file = File::from(fd.try_clone().map_err(Failure::test_error("duplicate the memfd"))?);
        let len = file.metadata().map_err(Failure::test_error("fstat the memfd"))?.len();
        s.expect(len == data.len() as u64, || {
            format!("the memfd share_sealed sent holds {len} bytes; it was given {} to share", data.len())
        })?;
        let mut got = vec![0u8; data.len()];
        file.read_exact_at(&mut got, 0).map_err(Failure::test_error("read the memfd"))?;
        s.expect(got == data, || {
            format!(
                "the memfd share_sealed sent does not hold the bytes it was given: {}",
                diff_bytes(data, &got).unwrap_or_default()
            )
        })
    }

    #[test]
    fn the_receiver_gets_one_memfd_sealed_four_ways_holding_exactly_the_bytes() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            let data = Payload::new(1 << 20, 71).bytes();
            s.call("share_sealed(socket, \"katas-sealed\", 1 MiB)", || share_sealed(&mine, "katas-sealed", &data))?;
            let fd = receive(s, &theirs)?;
            check_shared(s, &fd, "katas-sealed", &data)
        });
    }

    /// One attack on a shared memfd: what it is, and the call that must fail.
    fn attack(file: &File, len: usize, how: &str) -> std::io::Result<()> {
        let fd = file.as_raw_fd();
        // SAFETY (each arm): system calls on a descriptor the test owns, with plain values; the one
        // mapping made is unmapped at once and no reference into it is formed.
        let result = unsafe {
            match how {
                "write" => libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) as libc::c_int,
                "shrink" => libc::ftruncate(fd, 0),
                "grow" => libc::ftruncate(fd, (len + 4096) as libc::off_t),
                "punch" => {
                    libc::fallocate(fd, libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, 0, len.max(1) as _)
                }
                "map" => {
                    let addr = libc::mmap(
                        std::ptr::null_mut(),
                        len.max(1),
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        fd,
                        0,
                    );
                    if addr == libc::MAP_FAILED {
                        -1
                    } else {
                        libc::munmap(addr, len.max(1));
                        0
                    }
                }
                _ => libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_FUTURE_WRITE),
            }
        };
        if result == -1 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
    }

    #[test]
    fn no_one_can_write_cut_grow_punch_map_writable_or_reseal_the_shared_memfd() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            let data = Payload::new(64 << 10, 72).bytes();
            s.call("share_sealed(socket, \"katas-attacked\", 64 KiB)", || share_sealed(&mine, "katas-attacked", &data))?;
            let file = File::from(receive(s, &theirs)?);
            let attacks = [
                ("write", "pwrite one byte at offset 0", "F_SEAL_WRITE"),
                ("map", "mmap it PROT_WRITE | MAP_SHARED", "F_SEAL_WRITE"),
                ("punch", "punch a hole in it (fallocate FALLOC_FL_PUNCH_HOLE)", "F_SEAL_WRITE"),
                ("shrink", "ftruncate it to 0 bytes", "F_SEAL_SHRINK"),
                ("grow", "ftruncate it 4 KiB longer", "F_SEAL_GROW"),
                ("seal", "add F_SEAL_FUTURE_WRITE", "F_SEAL_SEAL"),
            ];
            for (how, what, seal) in attacks {
                s.phase(format!("trying to {what} through the receiver's descriptor"));
                let result = attack(&file, data.len(), how);
                s.expect(result.as_ref().is_err_and(|e| e.raw_os_error() == Some(libc::EPERM)), || {
                    let story = if how == "shrink" {
                        ": a receiver that had mapped it would die of SIGBUS at its next read of the lost pages"
                    } else {
                        ""
                    };
                    format!(
                        "the test, holding the memfd share_sealed sent, could {what} ({result:?}, expected EPERM){story}. \
                         Seal it with {seal} before you send it"
                    )
                })?;
            }
            Ok(())
        });
    }

    #[test]
    fn the_sender_keeps_no_descriptor_or_mapping_of_the_memfd() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            let data = Payload::new(100_000, 73).bytes();
            s.call("share_sealed(socket, \"katas-forgotten\", 100000 bytes)", || {
                share_sealed(&mine, "katas-forgotten", &data)
            })?;
            let held = memfd_descriptors();
            let mapped = memfd_mappings();
            let fd = receive(s, &theirs)?;
            s.expect(held.is_empty(), || {
                format!(
                    "after share_sealed returned, its process still held the memfd open: {held:?}. The receiver's \
                     descriptor keeps the file alive: close (drop) yours once it is sent"
                )
            })?;
            s.expect(mapped.is_empty(), || {
                format!(
                    "after share_sealed returned, its process still had the memfd mapped: {mapped:?}. Write the bytes \
                     with write(2), or unmap before you seal: F_SEAL_WRITE is EBUSY while a writable shared mapping exists"
                )
            })?;
            check_shared(s, &fd, "katas-forgotten", &data)
        });
    }

    #[test]
    fn a_name_with_a_nul_or_longer_than_max_name_is_invalid_input_and_sends_nothing() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            theirs.set_nonblocking(true).map_err(Failure::test_error("make its socket non-blocking"))?;
            let long = "n".repeat(MAX_MEMFD_NAME + 1);
            for (name, shown) in
                [("bad\0name", "\"bad\\0name\"".to_string()), (long.as_str(), format!("{} bytes", MAX_MEMFD_NAME + 1))]
            {
                let call = format!("share_sealed(socket, {shown}, 10 bytes)");
                s.phase(format!("calling {call}"));
                s.expect_err(&call, share_sealed(&mine, name, b"0123456789"), ErrorKind::InvalidInput)?;
                let mut byte = [0u8; 1];
                let sent = std::io::Read::read(&mut &theirs, &mut byte);
                s.expect(sent.as_ref().is_err_and(|e| e.kind() == ErrorKind::WouldBlock), || {
                    format!("{call} failed as it should, yet it had sent something first ({sent:?})")
                })?;
            }
            let longest = "m".repeat(MAX_MEMFD_NAME);
            s.call(format!("share_sealed(socket, {MAX_MEMFD_NAME} bytes, 10 bytes)"), || {
                share_sealed(&mine, &longest, b"0123456789")
            })?;
            let fd = receive(s, &theirs)?;
            check_shared(s, &fd, &longest, b"0123456789")
        });
    }

    #[test]
    fn sharing_with_a_receiver_that_has_gone_is_broken_pipe_not_a_sigpipe() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            drop(theirs);
            s.phase("calling share_sealed on a socket whose other end is closed (SIGPIPE is at its default: death)");
            let result = share_sealed(&mine, "katas-gone", b"nobody reads this");
            s.expect_err("share_sealed to a closed socket", result, ErrorKind::BrokenPipe)
                .map_err(|f| f.hint("send with MSG_NOSIGNAL, and return the error"))?;
            let held = memfd_descriptors();
            s.expect(held.is_empty(), || format!("after the failed send the memfd is still open here: {held:?}"))
        });
    }

    /// Binds a socket, starts the peer program sharing `len` bytes with the kata's share_sealed,
    /// and returns the accepted connection.
    fn from_another_program(s: &Sandbox, len: usize, seed: u64) -> Result<(UnixStream, Peer, Removed), Failure> {
        let path = s.path("share.sock");
        let listener = UnixListener::bind(&path).map_err(Failure::test_error("bind its socket"))?;
        let removed = Removed(path.clone());
        let sender = peer::start(s, Trust::ShareSealed { path, name: "katas-from-afar".into(), len, seed })?;
        s.phase("accepting the peer program's connection");
        let (stream, _) = listener.accept().map_err(Failure::test_error("accept the peer's connection"))?;
        Ok((stream, sender, removed))
    }

    #[test]
    fn bytes_another_program_shared_are_read_in_place_read_only_after_it_has_exited() {
        grade!().run(|s| {
            let len = 4 << 20;
            let (stream, mut sender, _removed) = from_another_program(s, len, 74)?;
            let sealed: Sealed = s.call(format!("receive_sealed(socket, max_len {})", size(len)), || {
                receive_sealed(&stream, len)
            })?;
            sender.join()?;
            s.phase("reading Sealed::bytes after the sender has exited");
            let bytes = sealed.bytes();
            let data = Payload::new(len, 74).bytes();
            s.expect(bytes == data, || {
                format!(
                    "another program shared {} with share_sealed and exited; Sealed::bytes gave {}: {}",
                    size(len),
                    size(bytes.len()),
                    diff_bytes(&data, bytes).unwrap_or_default()
                )
            })?;
            let mappings = memfd_mappings();
            let start = bytes.as_ptr() as usize;
            let mapping = mappings.iter().find(|line| {
                line.split_whitespace().next().and_then(|r| r.split_once('-')).is_some_and(|(from, to)| {
                    let (from, to) = (usize::from_str_radix(from, 16).unwrap_or(0), usize::from_str_radix(to, 16).unwrap_or(0));
                    from <= start && start + len <= to
                })
            });
            let Some(mapping) = mapping else {
                return Err(Failure::wrong(format!(
                    "Sealed::bytes are not inside a mapping of the memfd (its mappings: {mappings:?}): read them in \
                     place, mmap the sealed file, rather than copying them"
                )));
            };
            let perms = mapping.split_whitespace().nth(1).unwrap_or("");
            s.expect(!perms.contains('w'), || {
                format!("the memfd is mapped writable ({perms}): map it PROT_READ, the bytes are not yours to change")
            })?;
            let held = memfd_descriptors();
            s.expect(held.is_empty(), || {
                format!(
                    "receive_sealed kept the memfd's descriptor open ({held:?}): once it is mapped the mapping keeps the \
                     file alive; close it"
                )
            })?;
            drop(sealed);
            let left = memfd_mappings();
            s.expect(left.is_empty(), || format!("after the Sealed was dropped the memfd is still mapped: {left:?}"))
        });
    }

    #[test]
    fn an_empty_memfd_is_received_as_no_bytes() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            let file = memfd("katas-empty", b"", ALL_FOUR)?;
            send_fds(&mine, &[file.as_raw_fd()])?;
            let sealed =
                s.call("receive_sealed(socket, 4096) of a sealed memfd of 0 bytes", || receive_sealed(&theirs, 4096))?;
            s.expect(sealed.bytes().is_empty(), || {
                format!("Sealed::bytes of an empty memfd gave {} bytes", sealed.bytes().len())
            })
        });
    }

    /// What the hostile sender does to a memfd the kata accepted without the seal that forbids it.
    #[derive(Clone, Copy, Debug)]
    enum Then {
        /// Cut the file to 0 bytes: the receiver's next read of its mapping is SIGBUS.
        Truncate,
        /// Write over the bytes: the receiver reads something else than it checked.
        Overwrite,
        /// Grow the file: what it holds is no longer what the receiver measured.
        Grow,
    }

    #[rstest]
    #[case::no_seal_at_all(0, Then::Truncate)]
    #[case::no_f_seal_shrink(ALL_FOUR & !libc::F_SEAL_SHRINK, Then::Truncate)]
    #[case::no_f_seal_write(ALL_FOUR & !libc::F_SEAL_WRITE, Then::Overwrite)]
    #[case::no_f_seal_grow(ALL_FOUR & !libc::F_SEAL_GROW, Then::Grow)]
    fn a_memfd_its_sender_can_still_change_is_refused_and_never_mapped(#[case] seals: i32, #[case] then: Then) {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            let data = Payload::new(256 << 10, 75).bytes();
            let file = memfd("katas-hostile", &data, seals)?;
            send_fds(&mine, &[file.as_raw_fd()])?;
            let missing = seal_names(ALL_FOUR & !libc::F_SEAL_SEAL & !seals);
            let call = format!("receive_sealed(socket, 1 MiB) of a memfd sealed with {} (missing {missing})", seal_names(seals));
            s.phase(format!("calling {call}"));
            match receive_sealed(&theirs, 1 << 20) {
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {}
                Err(e) => {
                    return Err(Failure::wrong(format!(
                        "{call} failed with {:?} ({e}); a memfd missing a seal is PermissionDenied",
                        e.kind()
                    )));
                }
                Ok(sealed) => return exploit(s, &file, sealed, then, &missing),
            }
            let mapped = memfd_mappings();
            s.expect(mapped.is_empty(), || {
                format!("{call} refused the memfd, as it should, but left it mapped: {mapped:?}. Check the seals before you map")
            })?;
            let held: Vec<String> = memfd_descriptors().into_iter().filter(|l| !l.starts_with(&format!("{} ", file.as_raw_fd()))).collect();
            s.expect(held.is_empty(), || format!("{call} refused the memfd but kept a descriptor of it open: {held:?}"))
        });
    }

    /// The kata accepted a memfd its sender can still change: the test, as that sender, changes it.
    fn exploit(s: &Sandbox, file: &File, sealed: Sealed, then: Then, missing: &str) -> Result<(), Failure> {
        let before = sealed.bytes().to_vec();
        let accepted = format!("receive_sealed accepted a memfd without {missing}");
        match then {
            Then::Truncate => {
                s.phase(format!(
                    "{accepted}; the sender has now cut it to 0 bytes, and the test reads Sealed::bytes: a read of the \
                     mapping past the end of the file is SIGBUS"
                ));
                file.set_len(0).map_err(Failure::test_error("truncate its memfd"))?;
                let sum: u64 = sealed.bytes().iter().map(|&b| b as u64).sum();
                Err(Failure::wrong(format!(
                    "{accepted}; its sender cut it to 0 bytes, and the bytes still read (sum {sum}), so receive_sealed \
                     copied them instead of refusing: check F_GET_SEALS and refuse with PermissionDenied"
                )))
            }
            Then::Overwrite => {
                file.write_all_at(&vec![0xEE; before.len()], 0).map_err(Failure::test_error("overwrite its memfd"))?;
                let changed = sealed.bytes() != before.as_slice();
                Err(Failure::wrong(format!(
                    "{accepted}; {}. A receiver that checks the bytes and then uses them can be fooled between the two \
                     (a time-of-check to time-of-use race): refuse it with PermissionDenied",
                    if changed {
                        "its sender then wrote over them, and Sealed::bytes changed under the receiver"
                    } else {
                        "its sender can still write over them"
                    }
                )))
            }
            Then::Grow => {
                file.set_len(before.len() as u64 * 2).map_err(Failure::test_error("grow its memfd"))?;
                Err(Failure::wrong(format!(
                    "{accepted}; its sender then doubled the file, so the size receive_sealed checked against max_len \
                     no longer holds: refuse it with PermissionDenied"
                )))
            }
        }
    }

    /// What a hostile sender sends instead of one memfd.
    #[derive(Clone, Copy, Debug)]
    enum Instead {
        /// The read end of a pipe.
        Pipe,
        /// A plain file: it cannot be sealed (F_GET_SEALS is EINVAL), or on tmpfs has F_SEAL_SEAL alone.
        PlainFile,
        /// Two sealed memfds in one message.
        TwoMemfds,
        /// One byte and no descriptor.
        NoDescriptor,
    }

    #[rstest]
    #[case::a_pipe(Instead::Pipe, ErrorKind::PermissionDenied)]
    #[case::a_plain_file(Instead::PlainFile, ErrorKind::PermissionDenied)]
    #[case::two_memfds(Instead::TwoMemfds, ErrorKind::InvalidData)]
    #[case::no_descriptor(Instead::NoDescriptor, ErrorKind::InvalidData)]
    fn what_is_not_one_sealed_memfd_is_refused_and_every_descriptor_that_came_is_closed(
        #[case] instead: Instead,
        #[case] kind: ErrorKind,
    ) {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            let path = s.path("plain-file");
            let _removed = Removed(path.clone());
            let mut keep: Vec<OwnedFd> = Vec::new();
            match instead {
                Instead::Pipe => {
                    let (read, write) = ipc_katas::kit::fd::pipe()?;
                    keep.extend([read, write]);
                }
                Instead::PlainFile => {
                    fs::write(&path, b"plain").map_err(Failure::test_error("write a plain file"))?;
                    keep.push(File::open(&path).map_err(Failure::test_error("open the plain file"))?.into());
                }
                Instead::TwoMemfds => {
                    keep.push(memfd("katas-one", b"one", ALL_FOUR)?.into());
                    keep.push(memfd("katas-two", b"two", ALL_FOUR)?.into());
                }
                Instead::NoDescriptor => {}
            }
            let fds: Vec<RawFd> = keep.iter().take(2).map(|fd| fd.as_raw_fd()).collect();
            let fds = if matches!(instead, Instead::Pipe) { vec![fds[0]] } else { fds };
            send_fds(&mine, &fds)?;
            let before = open_descriptors();
            let call = format!("receive_sealed(socket, 4096) of {instead:?}");
            s.phase(format!("calling {call}"));
            s.expect_err(&call, receive_sealed(&theirs, 4096).map(|m| m.bytes().len()), kind)?;
            drop(keep);
            let after = open_descriptors();
            let extra: Vec<&String> = after.iter().filter(|fd| !before.contains(fd)).collect();
            s.expect(extra.is_empty(), || {
                format!(
                    "{call} failed as it should, but left open descriptors it received: {extra:?}. Every descriptor \
                     that arrives with a message is open in your process: drop each one you do not keep"
                )
            })?;
            let mapped = memfd_mappings();
            s.expect(mapped.is_empty(), || format!("{call} failed but left a memfd mapped: {mapped:?}"))
        });
    }

    /// `fd -> target` for every descriptor this process holds, except the one reading the directory.
    fn open_descriptors() -> Vec<String> {
        let Ok(dir) = fs::read_dir("/proc/self/fd") else { return Vec::new() };
        dir.filter_map(|e| {
            let e = e.ok()?;
            let link = fs::read_link(e.path()).ok()?;
            // The descriptor reading the directory itself.
            (!link.starts_with("/proc")).then(|| format!("{} -> {}", e.file_name().to_string_lossy(), link.display()))
        })
        .collect()
    }

    #[test]
    fn a_memfd_larger_than_max_len_is_refused_and_one_of_exactly_max_len_is_accepted() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            let data = Payload::new(4097, 76).bytes();
            let big = memfd("katas-big", &data, ALL_FOUR)?;
            send_fds(&mine, &[big.as_raw_fd()])?;
            let call = "receive_sealed(socket, max_len 4096) of a sealed memfd of 4097 bytes";
            s.phase(format!("calling {call}"));
            s.expect_err(call, receive_sealed(&theirs, 4096).map(|m| m.bytes().len()), ErrorKind::InvalidData)?;
            let mapped = memfd_mappings();
            s.expect(mapped.is_empty(), || format!("{call} failed but left the memfd mapped: {mapped:?}"))?;
            let exact = memfd("katas-exact", &data[..4096], ALL_FOUR)?;
            send_fds(&mine, &[exact.as_raw_fd()])?;
            let sealed = s.call("receive_sealed(socket, max_len 4096) of a sealed memfd of 4096 bytes", || {
                receive_sealed(&theirs, 4096)
            })?;
            s.expect(sealed.bytes() == &data[..4096], || {
                format!(
                    "Sealed::bytes of a 4096-byte memfd: {}",
                    diff_bytes(&data[..4096], sealed.bytes()).unwrap_or_default()
                )
            })
        });
    }

    #[test]
    fn a_sender_that_hangs_up_without_sending_is_unexpected_eof() {
        grade!().run(|s| {
            let (mine, theirs) = UnixStream::pair().map_err(Failure::test_error("make a socket pair"))?;
            drop(mine);
            let call = "receive_sealed(socket, 4096) from a sender that closed its end without sending";
            s.phase(format!("calling {call}"));
            s.expect_err(call, receive_sealed(&theirs, 4096).map(|m| m.bytes().len()), ErrorKind::UnexpectedEof)
                .map(drop)
        });
    }
}

mod file_locks {
    //! Tests of trust::file_locks. Another program (the peer) looks at the locks with its own
    //! `fcntl(F_GETLK)` and `flock` calls, forked processes contend for them, and the test closes
    //! descriptors, forks and kills holders the way a library or a crash would.

    use std::fs::{self, File, OpenOptions};
    use std::io::ErrorKind;
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Handshake, Sandbox};
    use ipc_katas::kit::{Removed, fd};
    use katas::trust::{FileLock, LockKind};
    use rstest::rstest;

    use super::peer::trust::{FcntlSeen, Probe};
    use super::peer::{self, Trust};

    /// A lock file of the test's own, 0600, removed at the end.
    fn lock_file(s: &Sandbox) -> Result<(PathBuf, Removed), Failure> {
        let path = s.path("job.lock");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(Failure::test_error("create its lock file"))?;
        Ok((path.clone(), Removed(path)))
    }

    fn try_lock(s: &Sandbox, path: &Path, kind: LockKind) -> Result<Option<FileLock>, Failure> {
        s.call(format!("FileLock::try_lock(job.lock, LockKind::{kind:?})"), || FileLock::try_lock(path, kind))
    }

    fn take(s: &Sandbox, path: &Path, kind: LockKind) -> Result<FileLock, Failure> {
        try_lock(s, path, kind)?.ok_or_else(|| {
            Failure::wrong(format!(
                "FileLock::try_lock(job.lock, LockKind::{kind:?}) returned None, but no one held the file: it must take \
                 the lock"
            ))
        })
    }

    /// What another program sees of the locks on `path`.
    fn probe(s: &Sandbox, path: &Path) -> Result<Probe, Failure> {
        let mut prober = peer::start(s, Trust::ProbeLock { path: path.to_path_buf() })?;
        let out = prober.join()?;
        serde_json::from_slice(&out.stdout).map_err(Failure::test_error("read the peer's probe"))
    }

    /// What another program sees while this process holds a lock of `kind`.
    fn held(kind: LockKind) -> Probe {
        let me = FcntlSeen::Record { pid: std::process::id() as i32 };
        match kind {
            LockKind::Record => Probe { whole: me, far: me, flock_refused: false },
            LockKind::OpenFile => Probe { whole: FcntlSeen::OpenFile, far: FcntlSeen::OpenFile, flock_refused: false },
            LockKind::Flock => Probe { whole: FcntlSeen::Free, far: FcntlSeen::Free, flock_refused: true },
        }
    }

    const FREE: Probe = Probe { whole: FcntlSeen::Free, far: FcntlSeen::Free, flock_refused: false };

    /// A probe in words: the lock another program sees.
    fn seen(probe: &Probe) -> String {
        let mut parts = Vec::new();
        match probe.whole {
            FcntlSeen::Free => {}
            FcntlSeen::Record { pid } => parts.push(format!("a record lock (fcntl F_SETLK) of process {pid}")),
            FcntlSeen::OpenFile => parts.push("an open-file-description lock (fcntl F_OFD_SETLK)".to_string()),
        }
        if probe.flock_refused {
            parts.push("a flock(LOCK_EX) lock".to_string());
        }
        if parts.is_empty() {
            return "no exclusive lock at all: a read lock of its own was granted (an exclusive lock is F_WRLCK, or \
                    LOCK_EX)"
                .to_string();
        }
        let mut text = parts.join(" and ");
        if probe.whole != FcntlSeen::Free && probe.far == FcntlSeen::Free {
            text.push_str(", covering only the first bytes of the file: from 1 MiB on it was free (l_start 0 and l_len 0 lock it all, to any end)");
        }
        text
    }

    fn expect_seen(s: &Sandbox, path: &Path, expected: Probe, after: &str) -> Result<(), Failure> {
        s.phase(format!("another program looks at the locks on job.lock, {after}"));
        let got = probe(s, path)?;
        s.expect(got == expected, || {
            format!("{after}, another program sees {}; it should see {}", seen(&got), seen(&expected))
        })
    }

    fn kind_of(case: &str) -> LockKind {
        match case {
            "record" => LockKind::Record,
            "open_file" => LockKind::OpenFile,
            _ => LockKind::Flock,
        }
    }

    #[rstest]
    #[case::record("record")]
    #[case::open_file("open_file")]
    #[case::flock("flock")]
    fn each_kind_is_the_exclusive_whole_file_lock_it_names_as_another_program_sees_it(#[case] kind: &str) {
        grade!().run(|s| {
            let kind = kind_of(kind);
            let (path, _removed) = lock_file(s)?;
            let lock = take(s, &path, kind)?;
            let told = s.call("FileLock::kind", || Ok(lock.kind()))?;
            s.expect(told == kind, || format!("FileLock::kind of a LockKind::{kind:?} lock returned {told:?}"))?;
            expect_seen(s, &path, held(kind), &format!("while this process holds a LockKind::{kind:?} lock"))?;
            drop(lock);
            expect_seen(s, &path, FREE, &format!("after the LockKind::{kind:?} FileLock was dropped"))
        });
    }

    #[rstest]
    #[case::record("record")]
    #[case::open_file("open_file")]
    #[case::flock("flock")]
    fn a_lock_another_process_holds_is_none_at_once_and_free_again_after_its_drop(#[case] kind: &str) {
        grade!().run(|s| {
            let kind = kind_of(kind);
            let (path, _removed) = lock_file(s)?;
            let lock = take(s, &path, kind)?;
            let contender = s.fork("the contender", || {
                match FileLock::try_lock(&path, kind) {
                    Ok(None) => Ok(()),
                    Ok(Some(_)) => Err(Failure::wrong(format!(
                        "another process held a LockKind::{kind:?} lock of the file, yet try_lock in a second process \
                         returned Some: the lock does not exclude"
                    ))),
                    Err(e) => Err(Failure::kata_error(&format!("try_lock(LockKind::{kind:?}) of a file another process holds"), e)
                        .hint("a lock someone else holds is EAGAIN (or EACCES) from fcntl, EWOULDBLOCK from flock: that is Ok(None), not an error")),
                }
            })?;
            s.phase("waiting for a second process's try_lock of the held file to return");
            let started = Instant::now();
            while !contender.has_exited() && started.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(2));
            }
            if !contender.has_exited() {
                let call = ipc_katas::kit::process::syscall_of(contender.pid());
                contender.kill();
                return Err(Failure::wrong(format!(
                    "try_lock(LockKind::{kind:?}) in a second process was still waiting 2 s after it was called ({}): \
                     it must not wait. Use F_SETLK or F_OFD_SETLK, not the W forms, and flock with LOCK_NB",
                    call.map_or_else(|| "running".to_string(), |c| format!("in system call {}", c.number))
                )));
            }
            contender.join()?;
            drop(lock);
            let after = s.fork("the second holder", || match FileLock::try_lock(&path, kind) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(Failure::wrong(format!(
                    "the first LockKind::{kind:?} FileLock was dropped, yet try_lock in another process still returned \
                     None: dropping a FileLock must release its lock"
                ))),
                Err(e) => Err(Failure::kata_error("try_lock after the first holder dropped its lock", e)),
            })?;
            after.join()
        });
    }

    #[rstest]
    #[case::record("record")]
    #[case::open_file("open_file")]
    #[case::flock("flock")]
    fn closing_another_descriptor_of_the_file_in_the_holder_drops_only_a_record_lock(#[case] kind: &str) {
        grade!().run(|s| {
            let kind = kind_of(kind);
            let (path, _removed) = lock_file(s)?;
            let lock = take(s, &path, kind)?;
            s.phase("opening job.lock again in the holder and closing it, as a library that reads the file would");
            drop(File::open(&path).map_err(Failure::test_error("open the lock file again"))?);
            let expected = if kind == LockKind::Record { FREE } else { held(kind) };
            expect_seen(
                s,
                &path,
                expected,
                &format!("after the holder of a LockKind::{kind:?} lock closed another descriptor of the file"),
            )?;
            drop(lock);
            Ok(())
        });
    }

    #[rstest]
    #[case::record("record")]
    #[case::open_file("open_file")]
    #[case::flock("flock")]
    fn a_holder_killed_with_sigkill_leaves_the_lock_free(#[case] kind: &str) {
        grade!().run(|s| {
            let kind = kind_of(kind);
            let (path, _removed) = lock_file(s)?;
            let (took_r, took_w) = fd::pipe()?;
            let never = Handshake::new()?;
            let holder = s.fork("the holder", || match FileLock::try_lock(&path, kind) {
                Ok(Some(_lock)) => {
                    fd::write_byte(&took_w);
                    never.wait("the test to kill this holder with SIGKILL")
                }
                Ok(None) => Err(Failure::wrong("try_lock of a free file returned None in the holder")),
                Err(e) => Err(Failure::kata_error("try_lock in the holder", e)),
            })?;
            s.phase("waiting for the holder (a forked process) to take the lock");
            let started = Instant::now();
            while !fd::poll_readable(&took_r, 10) {
                if holder.has_exited() {
                    holder.join()?;
                    return Err(Failure::crash("the holder exited before it took the lock"));
                }
                if started.elapsed() > Duration::from_secs(3) {
                    holder.kill();
                    return Err(Failure::hang(format!(
                        "timed out after 3 s: try_lock(LockKind::{kind:?}) of a free file had not returned in the holder \
                         (a forked process)"
                    )));
                }
            }
            s.phase("killing the holder with SIGKILL while it holds the lock");
            holder.kill();
            let lock = try_lock(s, &path, kind)?;
            s.expect(lock.is_some(), || {
                format!(
                    "the holder of a LockKind::{kind:?} lock was killed with SIGKILL, and try_lock still returned None: \
                     the kernel releases every lock of a process that dies"
                )
            })
        });
    }

    #[rstest]
    #[case::record("record")]
    #[case::open_file("open_file")]
    #[case::flock("flock")]
    fn a_forked_child_shares_a_flock_or_ofd_lock_through_its_descriptor_but_not_a_record_lock(#[case] kind: &str) {
        grade!().run(|s| {
            let kind = kind_of(kind);
            let (path, _removed) = lock_file(s)?;
            let lock = take(s, &path, kind)?;
            let child = s.fork("the forked child", || {
                let fd = lock.as_fd().as_raw_fd();
                // SAFETY: all zeroes is a valid struct flock; fcntl and flock on a descriptor the child
                // inherited, with plain values.
                let (result, call) = unsafe {
                    let mut whole: libc::flock = std::mem::zeroed();
                    whole.l_type = libc::F_WRLCK as libc::c_short;
                    match kind {
                        // The lock the child would share if the parent's were the open file's.
                        LockKind::Record => (libc::fcntl(fd, libc::F_OFD_SETLK, &whole), "fcntl(F_OFD_SETLK)"),
                        LockKind::OpenFile => (libc::fcntl(fd, libc::F_OFD_SETLK, &whole), "fcntl(F_OFD_SETLK)"),
                        LockKind::Flock => (libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB), "flock(LOCK_EX | LOCK_NB)"),
                    }
                };
                let error = std::io::Error::last_os_error();
                match (kind, result) {
                    (LockKind::Record, -1) if error.raw_os_error() == Some(libc::EAGAIN) => Ok(()),
                    (LockKind::Record, _) => Err(Failure::wrong(format!(
                        "a child forked while its parent held a Record lock asked for {call} on the descriptor it \
                         inherited from FileLock::as_fd, and was {}: a record lock (F_SETLK) belongs to the parent \
                         process, not to the open file the child shares, so it must refuse the child",
                        if result == 0 { "granted it".to_string() } else { format!("told {error}, not EAGAIN") }
                    ))),
                    (_, 0) => Ok(()),
                    _ => Err(Failure::wrong(format!(
                        "a child forked while its parent held a LockKind::{kind:?} lock was refused {call} on the \
                         descriptor it inherited from FileLock::as_fd ({error}): that lock belongs to the open file, \
                         which the child shares, so the child holds it too. Is as_fd the descriptor the lock was taken \
                         on, and is the lock {call}?"
                    ))),
                }
            })?;
            child.join()?;
            drop(lock);
            Ok(())
        });
    }

    #[rstest]
    #[case::record("record")]
    #[case::open_file("open_file")]
    #[case::flock("flock")]
    fn a_second_lock_in_the_same_process_is_granted_only_for_a_record_lock(#[case] kind: &str) {
        grade!().run(|s| {
            let kind = kind_of(kind);
            let (path, _removed) = lock_file(s)?;
            let first = take(s, &path, kind)?;
            let second = try_lock(s, &path, kind)?;
            match (kind, second) {
                (LockKind::Record, Some(second)) => {
                    drop(second);
                    expect_seen(
                        s,
                        &path,
                        FREE,
                        "after one of two Record FileLocks of one process was dropped (they are one lock, the process's)",
                    )?;
                    drop(first);
                    Ok(())
                }
                (LockKind::Record, None) => Err(Failure::wrong(
                    "a second Record try_lock in the process that holds the lock returned None: a record lock belongs to \
                     the process, so the same process is granted it again (the two are one lock). Is it F_SETLK?",
                )),
                (_, None) => Ok(()),
                (_, Some(_)) => Err(Failure::wrong(format!(
                    "a second LockKind::{kind:?} try_lock in the process that already holds one returned Some: each \
                     try_lock opens the file anew, and a {kind:?} lock belongs to that open file, so the second must be \
                     refused. Is it {}?",
                    if kind == LockKind::OpenFile { "F_OFD_SETLK, and not F_SETLK" } else { "flock" }
                ))),
            }
        });
    }

    #[test]
    fn a_missing_file_is_not_found_and_not_created_and_a_directory_is_an_error() {
        grade!().run(|s| {
            let missing = s.path("no-such.lock");
            for kind in [LockKind::Record, LockKind::OpenFile, LockKind::Flock] {
                let call = format!("FileLock::try_lock(no-such.lock, LockKind::{kind:?})");
                s.phase(format!("calling {call}"));
                s.expect_err(&call, FileLock::try_lock(&missing, kind).map(|l| l.is_some()), ErrorKind::NotFound)?;
                s.expect(!missing.exists(), || {
                    let _ = fs::remove_file(&missing);
                    format!(
                        "{call} created the file: a lock file is made by whoever sets the job up, never by a try_lock"
                    )
                })?;
                let dir = s.dir().to_path_buf();
                let call = format!("FileLock::try_lock(a directory, LockKind::{kind:?})");
                s.phase(format!("calling {call}"));
                let result = FileLock::try_lock(&dir, kind).map(|l| l.is_some());
                s.expect(result.is_err(), || {
                    format!("{call} returned {result:?}: a directory cannot be opened for writing")
                })?;
            }
            Ok(())
        });
    }
}

mod futex_mutex {
    //! Tests of trust::futex_mutex. The contenders are forked processes that share the mutex's
    //! mapping; a wait that should end is bounded, and one that does not is reported with what
    //! each process was doing (asleep in futex means a lost wake-up). The cost of the uncontended
    //! path is proven with a seccomp filter that catches every futex call.

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Handshake, Sandbox, Worker, caught_alarms_every};
    use ipc_katas::kit::seccomp::{FUTEX_CALLS, trap_futex};
    use ipc_katas::kit::signals::mask;
    use ipc_katas::kit::thread::calls;
    use ipc_katas::kit::{Seen, process};
    use katas::trust::FutexMutex;

    fn new(s: &Sandbox, value: u64) -> Result<Arc<FutexMutex>, Failure> {
        s.call(format!("FutexMutex::new({value})"), || FutexMutex::new(value)).map(Arc::new)
    }

    /// What a lost wake-up looks like, and the three usual ways to lose one.
    const LOST_WAKE_UP: &str = "a wake-up was lost. A private futex (FUTEX_PRIVATE_FLAG) never wakes another process; an \
                                unlock must wake one sleeper whenever the word says someone may wait (2); and a locker \
                                that wakes up must take the lock as 2, not 1, or the next sleeper is never woken";

    /// Waits up to `limit` for every worker to exit, then joins them. Workers still there are
    /// killed, and the failure says what each was doing.
    fn join_all(workers: Vec<Worker>, limit: Duration, doing: &str) -> Result<(), Failure> {
        let started = Instant::now();
        while workers.iter().any(|w| !w.has_exited()) && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
        }
        let stuck: Vec<(libc::pid_t, Option<libc::c_long>)> = workers
            .iter()
            .filter(|w| !w.has_exited())
            .map(|w| (w.pid(), process::syscall_of(w.pid()).map(|c| c.number)))
            .collect();
        if stuck.is_empty() {
            return workers.into_iter().try_for_each(Worker::join);
        }
        for worker in workers {
            worker.kill();
        }
        let asleep = stuck.iter().filter(|(_, call)| *call == Some(libc::SYS_futex)).count();
        let pids: Vec<String> = stuck.iter().map(|(pid, _)| pid.to_string()).collect();
        Err(Failure::wrong(format!(
            "{doing}: after {limit:?}, {} of the processes (pids {}) had not finished, {asleep} of them asleep in futex{}",
            stuck.len(),
            pids.join(", "),
            if asleep > 0 {
                format!(": {LOST_WAKE_UP}")
            } else {
                " and the others running: a lock that spins, or one that never gives the lock up".to_string()
            }
        )))
    }

    #[test]
    fn four_processes_adding_under_the_lock_end_with_the_exact_count() {
        grade!().deadline(Duration::from_secs(8)).run(|s| {
            let mutex = new(s, 0)?;
            const EACH: u64 = 10_000;
            let mut workers = Vec::new();
            for i in 0..4 {
                workers.push(s.fork(&format!("adder {i}"), || {
                    for _ in 0..EACH {
                        let mut guard = mutex.lock().map_err(Failure::kata("lock"))?;
                        let value = guard.get();
                        // A few instructions between the read and the write: room for a race.
                        for _ in 0..20 {
                            std::hint::spin_loop();
                        }
                        guard.set(value + 1);
                    }
                    Ok(())
                })?);
            }
            s.phase("waiting for 4 processes to add 1 under the lock 10,000 times each");
            join_all(workers, Duration::from_secs(6), "4 processes adding 1 under the lock 10,000 times each")?;
            let total = s.call("lock (after the adders exited)", || mutex.lock().map(|g| g.get()))?;
            s.expect(total == 4 * EACH, || {
                format!(
                    "4 processes each added 1 under the lock 10,000 times, and the value is {total}, not 40000: {} \
                     increments were lost, so two processes held the lock at once (is the mapping MAP_SHARED, and is the \
                     word taken with a compare-and-swap?)",
                    (4 * EACH).abs_diff(total)
                )
            })
        });
    }

    // The hand-off game on three mutexes: each player holds two of them, and each step unlocks
    // the older and locks the third, which the other player holds until its own step. So each
    // lock passes from one process to the other strictly in turn (most often to a process asleep
    // in futex), with no spinning and no sleeps: 5,000 steps each are 10,000 hand-offs.
    #[test]
    fn two_processes_handing_three_locks_back_and_forth_ten_thousand_times_lose_no_wake_up() {
        grade!().deadline(Duration::from_secs(8)).run(|s| {
            let mutexes = [new(s, 0)?, new(s, 0)?, new(s, 0)?];
            const STEPS: usize = 5_000;
            let (first_ready, second_ready) = (Handshake::new()?, Handshake::new()?);
            let first = s.fork("player 1", || {
                let mut guards = vec![
                    mutexes[0].lock().map_err(Failure::kata("lock"))?,
                    mutexes[1].lock().map_err(Failure::kata("lock"))?,
                ];
                first_ready.notify()?;
                second_ready.wait("player 2 to take the third lock")?;
                // Hand over from here: the older of the two held locks goes first.
                let mut held = vec![0, 1];
                for _ in 0..STEPS {
                    let next = 3 - held[0] - held[1];
                    guards.remove(0);
                    held.remove(0);
                    guards.push(mutexes[next].lock().map_err(Failure::kata("lock"))?);
                    held.push(next);
                }
                Ok(())
            })?;
            let second = s.fork("player 2", || {
                first_ready.wait("player 1 to take two locks")?;
                let mut guards = vec![mutexes[2].lock().map_err(Failure::kata("lock"))?];
                second_ready.notify()?;
                guards.push(mutexes[0].lock().map_err(Failure::kata("lock"))?);
                let mut held = vec![2, 0];
                for _ in 1..STEPS {
                    let next = 3 - held[0] - held[1];
                    guards.remove(0);
                    held.remove(0);
                    guards.push(mutexes[next].lock().map_err(Failure::kata("lock"))?);
                    held.push(next);
                }
                Ok(())
            })?;
            s.phase("waiting for 2 processes to hand 3 locks back and forth 10,000 times");
            join_all(
                vec![first, second],
                Duration::from_secs(6),
                "2 processes handing 3 locks back and forth 10,000 times",
            )
        });
    }

    #[test]
    fn an_uncontended_lock_and_unlock_make_no_system_call() {
        grade!().run(|s| {
            let mutex = new(s, 0)?;
            let worker = s.fork("the lone locker (under a seccomp filter that catches futex calls)", || {
                trap_futex()?;
                for i in 0..1000 {
                    let mut guard = mutex.lock().map_err(Failure::kata("lock"))?;
                    guard.set(i);
                }
                let locks = FUTEX_CALLS.load(std::sync::atomic::Ordering::Relaxed);
                for _ in 0..1000 {
                    let guard = mutex.lock_within(Duration::from_secs(1)).map_err(Failure::kata("lock_within(1 s)"))?;
                    if guard.is_none() {
                        return Err(Failure::wrong("lock_within(1 s) of a mutex no one held returned None"));
                    }
                }
                let timed = FUTEX_CALLS.load(std::sync::atomic::Ordering::Relaxed) - locks;
                match (locks, timed) {
                    (0, 0) => Ok(()),
                    (0, n) => Err(Failure::wrong(format!(
                        "1000 lock_within(1 s) and unlocks of a mutex no other process touched made {n} futex system \
                         calls; there must be none: take a free mutex with one compare-and-swap (0 to 1) before any \
                         futex call"
                    ))),
                    (n, _) => Err(Failure::wrong(format!(
                        "1000 locks and unlocks of a mutex no other process touched made {n} futex system calls; there \
                         must be none. {}",
                        if (900..=1100).contains(&n) {
                            "About one a lock: an unlock that always calls FUTEX_WAKE (the two-state mutex). Mark the word 2 \
                             when someone waits, and wake only when the unlock finds 2"
                        } else {
                            "Take a free mutex with one compare-and-swap (0 to 1), and wake only when the unlock finds the \
                             word says someone waits"
                        }
                    ))),
                }
            })?;
            s.phase("waiting for the lone locker, under its seccomp filter, to lock and unlock 2000 times");
            worker.join()
        });
    }

    /// Forks a holder that takes the lock, says so, and keeps it until `release` is notified.
    fn holder(s: &Sandbox, mutex: &Arc<FutexMutex>, took: &Handshake, release: &Handshake) -> Result<Worker, Failure> {
        let worker = s.fork("the holder", || {
            let guard = mutex.lock().map_err(Failure::kata("lock in the holder"));
            took.notify()?;
            let _guard = guard?;
            release.wait("the test to let the holder unlock")
        })?;
        took.wait("the holder (a forked process) to take the lock")?;
        Ok(worker)
    }

    #[test]
    fn lock_within_takes_a_free_mutex_at_once_and_gives_up_on_a_held_one_at_about_its_timeout() {
        grade!().run(|s| {
            let mutex = new(s, 5)?;
            let started = Instant::now();
            let got = s.call("lock_within(1 s) of a free mutex", || mutex.lock_within(Duration::from_secs(1)).map(|g| g.map(|g| g.get())))?;
            let took = started.elapsed();
            s.expect(got == Some(5) && took < Duration::from_millis(500), || {
                format!("lock_within(1 s) of a free mutex guarding 5 returned {got:?} after {took:?}: expected Some(5) at once")
            })?;
            let (took_it, release) = (Handshake::new()?, Handshake::new()?);
            let worker = holder(s, &mutex, &took_it, &release)?;
            for timeout in [Duration::from_millis(300), Duration::ZERO] {
                s.phase(format!("calling lock_within({timeout:?}) while another process holds the lock"));
                let started = Instant::now();
                let got = mutex.lock_within(timeout).map(|g| g.is_some());
                let took = started.elapsed();
                s.expect(matches!(got, Ok(false)), || {
                    format!("lock_within({timeout:?}) while another process held the lock returned {got:?}, expected Ok(None)")
                })?;
                s.expect(took >= timeout && took < timeout + Duration::from_secs(1), || {
                    format!(
                        "lock_within({timeout:?}) while another process held the lock gave up after {took:?}: about its \
                         timeout, and not before it, was expected"
                    )
                })?;
            }
            let call = "lock_within(Duration::MAX) while another process holds the lock";
            s.phase(format!("calling {call}"));
            s.expect_err(call, mutex.lock_within(Duration::MAX).map(|g| g.is_some()), std::io::ErrorKind::InvalidInput)?;
            release.notify()?;
            worker.join()
        });
    }

    #[test]
    fn caught_signals_neither_end_a_timed_wait_nor_start_its_timeout_again() {
        grade!().run(|s| {
            let mutex = new(s, 0)?;
            let (took_it, release) = (Handshake::new()?, Handshake::new()?);
            let worker = holder(s, &mutex, &took_it, &release)?;
            // 999,999,999 ns: added to the clock's nanoseconds, they carry into the next second.
            let timeout = Duration::from_nanos(999_999_999);
            s.phase(format!(
                "calling lock_within({timeout:?}) (in a thread) while another process holds the lock and a caught SIGALRM \
                 arrives every 5 ms"
            ));
            let waiter = {
                let mutex = Arc::clone(&mutex);
                s.in_thread(move || {
                    let started = Instant::now();
                    (mutex.lock_within(timeout).map(|g| g.is_some()), started.elapsed())
                })
            };
            // The signals go to the waiting thread: this one blocks them, and keeps them blocked.
            mask(libc::SIG_BLOCK, libc::SIGALRM);
            caught_alarms_every(Some(Duration::from_millis(5)));
            let returned = waiter.finishes_within(timeout + Duration::from_secs(2));
            caught_alarms_every(None);
            s.expect(returned, || {
                format!(
                    "lock_within({timeout:?}) of a held mutex had not returned after {:?} while a caught signal arrived \
                     every 5 ms: each EINTR started the timeout again. Compute the deadline once and give FUTEX_WAIT_BITSET \
                     that absolute time",
                    timeout + Duration::from_secs(2)
                )
            })?;
            let (got, took) = waiter.finish();
            s.expect(matches!(got, Ok(false)) && took >= timeout, || {
                format!(
                    "lock_within({timeout:?}) of a held mutex, while caught signals arrived, returned {got:?} after \
                     {took:?}: a signal is not the end of the wait (EINTR: look at the word again and sleep on)"
                )
            })?;
            release.notify()?;
            worker.join()
        });
    }

    #[test]
    fn a_waiter_sleeps_in_futex_and_takes_the_lock_when_another_process_unlocks() {
        grade!().run(|s| {
            let mutex = new(s, 0)?;
            let (took_it, release) = (Handshake::new()?, Handshake::new()?);
            let worker = holder(s, &mutex, &took_it, &release)?;
            s.phase("calling lock (in a thread) while another process holds the lock");
            let waiter = {
                let mutex = Arc::clone(&mutex);
                s.in_thread(move || mutex.lock().map(|mut g| g.set(7)))
            };
            s.phase("watching the waiting thread's system calls (/proc/self/task/TID/syscall)");
            match waiter.blocks_in(calls::FUTEX) {
                Seen::In(()) => {}
                Seen::Returned => {
                    let result = waiter.finish();
                    return Err(Failure::wrong(format!(
                        "lock returned ({result:?}) while another process held the lock: two holders at once"
                    )));
                }
                Seen::Elsewhere => {
                    return Err(Failure::wrong(
                        "for 3 s, while another process held the lock, the waiting thread was never asleep in futex: it \
                         spins (or sleeps in steps). Sleep with FUTEX_WAIT_BITSET while the word says held",
                    ));
                }
            }
            release.notify()?;
            s.phase("waiting for the lock to pass to the sleeping thread once the holder unlocked");
            s.expect(waiter.finishes_within(Duration::from_secs(2)), || {
                format!("the holder (another process) unlocked, and the waiting thread still slept 2 s later: {LOST_WAKE_UP}")
            })?;
            s.ok("lock", waiter.finish())?;
            worker.join()?;
            let value = s.call("lock", || mutex.lock().map(|g| g.get()))?;
            s.expect(value == 7, || format!("the waiter set the value to 7 under the lock; it reads {value}"))
        });
    }

    #[test]
    fn two_processes_asleep_on_the_lock_are_both_woken_in_turn_when_its_holder_unlocks() {
        grade!().run(|s| {
            let mutex = new(s, 0)?;
            let (took_it, release) = (Handshake::new()?, Handshake::new()?);
            let holder = holder(s, &mutex, &took_it, &release)?;
            let mut sleepers = Vec::new();
            for name in ["sleeper A", "sleeper B"] {
                sleepers.push(s.fork(name, || {
                    let mut guard = mutex.lock().map_err(Failure::kata("lock"))?;
                    let value = guard.get();
                    guard.set(value + 1);
                    Ok(())
                })?);
            }
            s.phase("waiting for two processes to be asleep in futex, waiting for the held lock");
            for (sleeper, name) in sleepers.iter().zip(["A", "B"]) {
                if !process::seen_in_call(sleeper.pid(), libc::SYS_futex, Duration::from_millis(20)) {
                    return Err(Failure::wrong(format!(
                        "sleeper {name}, calling lock while another process held it, was never seen asleep in futex: \
                         it spins, or took a held lock. Sleep with FUTEX_WAIT_BITSET while the word says held"
                    )));
                }
            }
            release.notify()?;
            sleepers.push(holder);
            join_all(sleepers, Duration::from_secs(2), "two processes asleep on the lock, once its holder unlocked")?;
            let value = s.call("lock (after both sleepers exited)", || mutex.lock().map(|g| g.get()))?;
            s.expect(value == 2, || format!("two processes each added 1 under the lock; the value is {value}"))
        });
    }

    #[test]
    fn what_a_forked_process_sets_under_the_lock_the_parent_reads_and_the_drop_unmaps_it() {
        grade!().run(|s| {
            let before = process::shared_anonymous_mappings();
            let mutex = new(s, 1)?;
            let child = s.fork("the child", || {
                let mut guard = mutex.lock().map_err(Failure::kata("lock in the child"))?;
                guard.set(42);
                Ok(())
            })?;
            s.phase("waiting for a forked child to set the value to 42 under the lock");
            child.join()?;
            let value = s.call("lock (in the parent)", || mutex.lock().map(|g| g.get()))?;
            s.expect(value == 42, || {
                format!(
                    "a forked child set the value to 42 under the lock; the parent reads {value}: the memory is not \
                     shared. Map it MAP_SHARED | MAP_ANONYMOUS (MAP_PRIVATE gives the child a copy)"
                )
            })?;
            drop(mutex);
            let after = process::shared_anonymous_mappings();
            s.expect(after == before, || {
                format!(
                    "after the FutexMutex was dropped this process has {} shared anonymous mapping(s) more than before it was \
                     made: munmap the mapping in Drop",
                    after.saturating_sub(before)
                )
            })
        });
    }
}

mod named_semaphore {
    //! Tests of trust::named_semaphore. The other holders are forked processes and another program
    //! (the peer, running the learner's `NamedLock`); one of them is killed holding the lock.

    use std::ffi::CString;
    use std::fs;
    use std::io::ErrorKind;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ipc_katas::grade;
    use ipc_katas::grader::{Failure, Handshake, Sandbox, Worker, caught_alarms_every};
    use ipc_katas::kit::signals::mask;
    use ipc_katas::kit::thread::calls;
    use ipc_katas::kit::{Seen, fd};
    use katas::trust::{MAX_LOCK_NAME, NamedLock};

    use super::peer::{self, Trust};

    fn create(s: &Sandbox, name: &str) -> Result<Arc<NamedLock>, Failure> {
        s.call(format!("NamedLock::create({name:?})"), || NamedLock::create(name)).map(Arc::new)
    }

    /// What another program got from `lock_within(timeout)`: `none`, `taken` or `recovered`.
    fn another_program_tries(s: &Sandbox, name: &str, timeout_ms: u64) -> Result<String, Failure> {
        let mut other = peer::start(s, Trust::TryNamedLock { name: name.to_string(), timeout_ms })?;
        let out = other.join()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The CPU time thread `tid` of this process has used (`man 5 proc`: utime and stime of
    /// /proc/self/task/TID/stat, in clock ticks).
    fn cpu_time(tid: libc::pid_t) -> Option<Duration> {
        let stat = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok().filter(|&t| t > 0)?;
        Some(Duration::from_millis(ticks * 1000 / per_second))
    }

    /// The semaphore's value, read through the test's own handle (`sem_getvalue`).
    fn value_of(name: &str) -> Result<i32, Failure> {
        let c_name = CString::new(name).map_err(Failure::test_error("name the semaphore"))?;
        // SAFETY: c_name is NUL-terminated; the handle is closed before returning.
        unsafe {
            let sem = libc::sem_open(c_name.as_ptr(), 0);
            if sem == libc::SEM_FAILED {
                return Err(Failure::test_error("open the semaphore itself")(std::io::Error::last_os_error()));
            }
            let mut value = -1;
            libc::sem_getvalue(sem, &mut value);
            libc::sem_close(sem);
            Ok(value)
        }
    }

    /// Forks a holder that opens the lock, takes it, says so, and keeps it until `release` is
    /// notified (or it is killed).
    fn holder(s: &Sandbox, name: &str, release: &Handshake) -> Result<Worker, Failure> {
        let (took_r, took_w) = fd::pipe()?;
        let worker = s.fork("the holder", || {
            let lock = NamedLock::open(name).map_err(Failure::kata("NamedLock::open in the holder"))?;
            match lock.lock_within(Duration::from_secs(2)).map_err(Failure::kata("lock_within in the holder"))? {
                Some(_guard) => {
                    fd::write_byte(&took_w);
                    release.wait("the test to let the holder go")
                }
                None => Err(Failure::wrong("lock_within(2 s) of a free lock returned None in the holder")),
            }
        })?;
        s.phase("waiting for the holder (a forked process) to take the lock");
        let started = Instant::now();
        while !fd::poll_readable(&took_r, 10) {
            if worker.has_exited() {
                worker.join()?;
                return Err(Failure::crash("the holder exited before it took the lock"));
            }
            if started.elapsed() > Duration::from_secs(3) {
                worker.kill();
                return Err(Failure::hang(
                    "timed out after 3 s: lock_within(2 s) of a free lock had not returned in the holder (a forked process)",
                ));
            }
        }
        Ok(worker)
    }

    #[test]
    fn another_program_is_refused_the_lock_while_it_is_held_and_gets_it_after() {
        grade!().run(|s| {
            let name = s.posix_name("lock");
            let lock = create(s, &name)?;
            let guard = s.call("lock_within(1 s) of the new lock", || lock.lock_within(Duration::from_secs(1)))?;
            let Some(guard) = guard else {
                return Err(Failure::wrong("lock_within(1 s) of a lock just created returned None: a new lock is free"));
            };
            let recovered = s.call("NamedGuard::recovered", || Ok(guard.recovered()))?;
            s.expect(!recovered, || "a new lock taken for the first time says it was recovered from a dead holder".into())?;
            s.phase("another program tries the lock for 200 ms while this process holds it");
            let got = another_program_tries(s, &name, 200)?;
            s.expect(got == "none", || format!("another program's lock_within(200 ms) of a held lock gave {got:?}, not None"))?;
            drop(guard);
            s.phase("another program tries the lock for 1 s after this process dropped its guard");
            let got = another_program_tries(s, &name, 1000)?;
            s.expect(got == "taken", || {
                format!("after the holder dropped its guard, another program's lock_within(1 s) gave {got:?}, not a plain Some")
            })?;
            s.call(format!("NamedLock::unlink({name:?})"), || NamedLock::unlink(&name))
        });
    }

    #[test]
    fn create_is_exclusive_and_0600_unlink_removes_both_names_and_drop_closes_everything() {
        grade!().run(|s| {
            let name = s.posix_name("lock");
            let bare = name.trim_start_matches('/').to_string();
            // glibc maps a semaphore from a file it made under a temporary name: count them.
            let semaphores_mapped = || {
                fs::read_to_string("/proc/self/maps").unwrap_or_default().lines().filter(|l| l.contains("/dev/shm/sem.")).count()
            };
            let before = semaphores_mapped();
            let lock = create(s, &name)?;
            for (path, what) in [(format!("/dev/shm/sem.{bare}"), "the semaphore"), (format!("/dev/shm/{bare}"), "the lease")] {
                let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
                s.expect(matches!(mode, Ok(0o600)), || {
                    format!("{what} of NamedLock::create({name:?}) is {path} with mode {mode:?}: it must be 0600 (the test's umask is 0)")
                })?;
            }
            let call = format!("NamedLock::create({name:?}) of a lock that exists");
            s.phase(format!("calling {call}"));
            s.expect_err(&call, NamedLock::create(&name).map(drop), ErrorKind::AlreadyExists)?;
            drop(lock);
            let after = semaphores_mapped();
            let lease_mapped =
                fs::read_to_string("/proc/self/maps").unwrap_or_default().lines().any(|l| l.contains(&format!("/dev/shm/{bare}")));
            s.expect(after == before && !lease_mapped, || {
                format!(
                    "after the NamedLock was dropped this process still maps {}{}: Drop must sem_close the semaphore and \
                     munmap the lease",
                    if after > before { "the semaphore (a /dev/shm/sem.* mapping)" } else { "" },
                    if lease_mapped { " the lease" } else { "" }
                )
            })?;
            s.call(format!("NamedLock::unlink({name:?})"), || NamedLock::unlink(&name))?;
            for path in [format!("/dev/shm/sem.{bare}"), format!("/dev/shm/{bare}")] {
                s.expect(!std::path::Path::new(&path).exists(), || format!("after NamedLock::unlink({name:?}), {path} is still there"))?;
            }
            let call = format!("NamedLock::open({name:?}) after unlink");
            s.phase(format!("calling {call}"));
            s.expect_err(&call, NamedLock::open(&name).map(drop), ErrorKind::NotFound)?;
            let longest = format!("{}{}", name, "x".repeat(MAX_LOCK_NAME + 1 - name.len()));
            let call = format!("NamedLock::create of a name of {MAX_LOCK_NAME} bytes after its '/'");
            s.phase(format!("calling {call}"));
            drop(s.ok(&call, NamedLock::create(&longest))?);
            s.ok("NamedLock::unlink of that name", NamedLock::unlink(&longest))?;
            let long = format!("/{}", "n".repeat(MAX_LOCK_NAME + 1));
            for bad in ["no-slash", "/", "/a/b", long.as_str()] {
                let shown = if bad.len() > 20 { format!("{} bytes", bad.len()) } else { format!("{bad:?}") };
                for (call, result) in [
                    (format!("NamedLock::create({shown})"), NamedLock::create(bad).map(drop)),
                    (format!("NamedLock::open({shown})"), NamedLock::open(bad).map(drop)),
                    (format!("NamedLock::unlink({shown})"), NamedLock::unlink(bad)),
                ] {
                    s.expect_err(&call, result, ErrorKind::InvalidInput)?;
                }
            }
            Ok(())
        });
    }

    #[test]
    fn a_holder_killed_holding_the_lock_is_taken_over_and_the_guard_says_recovered() {
        grade!().run(|s| {
            let name = s.posix_name("lock");
            let lock = create(s, &name)?;
            let never = Handshake::new()?;
            let holder = holder(s, &name, &never)?;
            s.phase("killing the holder with SIGKILL while it holds the lock");
            holder.kill();
            let value = value_of(&name)?;
            s.expect(value == 0, || {
                format!("the holder was killed holding the lock, and the semaphore's value is {value}: taking the lock is a sem_wait that brings it to 0")
            })?;
            let started = Instant::now();
            let guard = s.call("lock_within(2 s) after the holder was killed", || lock.lock_within(Duration::from_secs(2)))?;
            let took = started.elapsed();
            let Some(guard) = guard else {
                return Err(Failure::wrong(
                    "the holder was killed with SIGKILL holding the lock, and lock_within(2 s) returned None: a semaphore has no \
                     owner, so no one gives it back. Read the holder's pid from the lease, and take over when kill(pid, 0) \
                     says ESRCH",
                ));
            };
            s.expect(took < Duration::from_secs(1), || format!("taking over from the killed holder took {took:?}: look at the lease every few tens of ms"))?;
            s.expect(guard.recovered(), || {
                "the lock was taken over from a holder killed while holding it, and NamedGuard::recovered says false: the \
                 caller must learn that what the dead holder guarded may be half done"
                    .to_string()
            })?;
            drop(guard);
            let value = value_of(&name)?;
            s.expect(value == 1, || {
                format!(
                    "after the recovered lock was released the semaphore's value is {value}, not 1: {}",
                    if value > 1 { "two holders can now be in at once (do not post when you take over)" } else { "no one can take it" }
                )
            })?;
            let again = s.call("lock_within(1 s) once more", || lock.lock_within(Duration::from_secs(1)).map(|g| g.map(|g| g.recovered())))?;
            s.expect(again == Some(false), || format!("after a recovered lock was released, the next lock_within gave {again:?}, not a plain Some"))?;
            s.call(format!("NamedLock::unlink({name:?})"), || NamedLock::unlink(&name))
        });
    }

    #[test]
    fn a_live_holder_keeps_the_lock_however_long_another_waits() {
        grade!().run(|s| {
            let name = s.posix_name("lock");
            let lock = create(s, &name)?;
            let release = Handshake::new()?;
            let holder = holder(s, &name, &release)?;
            let timeout = Duration::from_millis(600);
            s.phase(format!("calling lock_within({timeout:?}) (in a thread) while another process, alive, holds the lock"));
            let waiter = {
                let lock = Arc::clone(&lock);
                s.in_thread(move || {
                    let started = Instant::now();
                    (lock.lock_within(timeout).map(|g| g.map(|g| g.recovered())), started.elapsed())
                })
            };
            let started = Instant::now();
            let seen = waiter.blocks_in(calls::FUTEX);
            // Most of the way through the wait, while the thread still waits: the CPU it has used.
            std::thread::sleep(Duration::from_millis(450).saturating_sub(started.elapsed()));
            let cpu = cpu_time(waiter.tid());
            s.expect(waiter.finishes_within(timeout + Duration::from_secs(2)), || {
                format!("lock_within({timeout:?}) of a held lock had not returned {:?} after it was called", timeout + Duration::from_secs(2))
            })?;
            let (got, took) = waiter.finish();
            match got {
                Ok(None) => {}
                Ok(Some(true)) => {
                    return Err(Failure::wrong(
                        "lock_within took the lock over from a holder that is alive: take over only when kill(pid, 0) says the \
                         holder no longer exists (ESRCH)",
                    ));
                }
                other => {
                    return Err(Failure::wrong(format!(
                        "lock_within({timeout:?}) while another process held the lock gave {other:?}, expected Ok(None)"
                    )));
                }
            }
            s.expect(took >= timeout && took < timeout + Duration::from_secs(1), || {
                format!("lock_within({timeout:?}) of a held lock gave up after {took:?}: about its timeout, not before it, was expected")
            })?;
            let call = "lock_within(Duration::MAX) of a held lock";
            s.phase(format!("calling {call}"));
            s.expect_err(call, lock.lock_within(Duration::MAX).map(|g| g.is_some()), ErrorKind::InvalidInput)?;
            s.expect(matches!(seen, Seen::In(())) && cpu.is_some_and(|cpu| cpu < Duration::from_millis(150)), || {
                format!("lock_within of a held lock returned None at the right time, but its thread {}: it spins.", match cpu {
                    Some(cpu) if cpu >= Duration::from_millis(150) => format!("used {cpu:?} of CPU in its first 450 ms of waiting"),
                    _ => "was never seen asleep in futex (where sem_timedwait sleeps)".to_string(),
                }) + " Is the sem_timedwait deadline absolute, now on CLOCK_REALTIME plus \
                 the time to wait? A relative one is long past, and every wait returns ETIMEDOUT at once"
            })?;
            release.notify()?;
            holder.join()?;
            let after = s.call("lock_within(1 s) after the holder let go", || lock.lock_within(Duration::from_secs(1)).map(|g| g.map(|g| g.recovered())))?;
            s.expect(after == Some(false), || format!("after the holder let go and exited, lock_within gave {after:?}, not a plain Some"))?;
            s.call(format!("NamedLock::unlink({name:?})"), || NamedLock::unlink(&name))
        });
    }

    #[test]
    fn caught_signals_neither_end_a_wait_nor_start_it_again() {
        grade!().run(|s| {
            let name = s.posix_name("lock");
            let lock = create(s, &name)?;
            let release = Handshake::new()?;
            let holder = holder(s, &name, &release)?;
            let timeout = Duration::from_millis(300);
            s.phase(format!("calling lock_within({timeout:?}) (in a thread) of a held lock while a caught SIGALRM arrives every 5 ms"));
            let waiter = {
                let lock = Arc::clone(&lock);
                s.in_thread(move || {
                    let started = Instant::now();
                    (lock.lock_within(timeout).map(|g| g.is_some()), started.elapsed())
                })
            };
            mask(libc::SIG_BLOCK, libc::SIGALRM);
            caught_alarms_every(Some(Duration::from_millis(5)));
            let returned = waiter.finishes_within(timeout + Duration::from_secs(2));
            caught_alarms_every(None);
            s.expect(returned, || {
                format!(
                    "lock_within({timeout:?}) of a held lock had not returned after {:?} while a caught signal arrived every 5 ms: \
                     each EINTR started the wait again. Keep one deadline and wait for what is left of it",
                    timeout + Duration::from_secs(2)
                )
            })?;
            let (got, took) = waiter.finish();
            s.expect(matches!(got, Ok(false)) && took >= timeout, || {
                format!("lock_within({timeout:?}) of a held lock, while caught signals arrived, returned {got:?} after {took:?}: EINTR is no reason to stop waiting")
            })?;
            release.notify()?;
            holder.join()?;
            s.call(format!("NamedLock::unlink({name:?})"), || NamedLock::unlink(&name))
        });
    }
}
