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
    use katas::trust::{MAX_NAME, Sealed, receive_sealed, share_sealed};
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
            let long = "n".repeat(MAX_NAME + 1);
            for (name, shown) in
                [("bad\0name", "\"bad\\0name\"".to_string()), (long.as_str(), format!("{} bytes", MAX_NAME + 1))]
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
            let longest = "m".repeat(MAX_NAME);
            s.call(format!("share_sealed(socket, {MAX_NAME} bytes, 10 bytes)"), || {
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
            // Its drop, whether or not the attempt gives Sealed a Drop.
            {
                let _dropped = sealed;
            }
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
                    return Err(Failure::wrong(format!(
                        "try_lock(LockKind::{kind:?}) of a free file had not returned after 3 s in the holder"
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
                        LockKind::Record => (libc::fcntl(fd, libc::F_SETLK, &whole), "fcntl(F_SETLK)"),
                        LockKind::OpenFile => (libc::fcntl(fd, libc::F_OFD_SETLK, &whole), "fcntl(F_OFD_SETLK)"),
                        LockKind::Flock => (libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB), "flock(LOCK_EX | LOCK_NB)"),
                    }
                };
                let error = std::io::Error::last_os_error();
                match (kind, result) {
                    (LockKind::Record, -1) if error.raw_os_error() == Some(libc::EAGAIN) => Ok(()),
                    (LockKind::Record, _) => Err(Failure::wrong(format!(
                        "a child forked while its parent held a Record lock took {call} on the descriptor it inherited \
                         from FileLock::as_fd ({}): a record lock is the parent process's, and must refuse the child",
                        if result == 0 { "granted".to_string() } else { error.to_string() }
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
