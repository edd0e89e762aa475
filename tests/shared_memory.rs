//! Graded tests of the shared_memory topic: `cargo test --test shared_memory`.
//!
//! Each body runs in the grader's sandbox: a child process with a deadline, umask 0 (the mode
//! asked for is the mode made), and a leak audit after the kata returns. SysV segments are
//! registered with the sandbox (a key from `Sandbox::sysv_key`, or the id of an `IPC_PRIVATE`
//! segment as soon as the kata returns it) and POSIX names come from `Sandbox::posix_name`, so
//! whatever a failing attempt leaves is reported, then removed. The far side of a POSIX object
//! is an unrelated program (the peer: the test binary started again) that knows only the name.

// The tests drop kata values explicitly to order detaches, unlocks and unmaps; a stub's types
// have no Drop yet, which clippy would otherwise call a useless drop.
#![allow(clippy::drop_non_drop)]

// This binary is also the peer program its tests start as "another process" (tests/peer/).
mod peer;
ipc_katas::peer_commands!(peer::run);

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use ipc_katas::grade;
use ipc_katas::grader::{Failure, Payload, Sandbox, Tracked};
use ipc_katas::kit::sysv;
use katas::shared_memory::{PosixShm, SysvSegment};

/// The test's own uid, to check who owns an object.
fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Explains a mode that is not 0600.
fn mode_story(what: &str, mode: u32) -> String {
    format!(
        "{what} has mode {mode:04o}, expected 0600 (owner read and write, nobody else){}",
        if mode & 0o066 != 0 {
            ": other users may attach it; with 0666 anyone on the machine may read and overwrite your memory"
        } else {
            ""
        }
    )
}

/// This process's address space in bytes (VmSize in /proc/self/status, `man 5 proc`).
fn address_space() -> Result<u64, Failure> {
    let status = fs::read_to_string("/proc/self/status").map_err(Failure::test_error("read /proc/self/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| Failure::crash("the test found no VmSize in /proc/self/status"))
}

/// Runs `f` with room for only `left` more bytes of address space (RLIMIT_AS, `man 2
/// setrlimit`), so that a mapping larger than that fails with ENOMEM, for root too.
fn with_address_space_left<T>(left: u64, f: impl FnOnce() -> T) -> Result<T, Failure> {
    let space = address_space()?;
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit of this process's own limit, with valid structures; the
    // old soft limit is put back as soon as `f` returns.
    unsafe {
        libc::getrlimit(libc::RLIMIT_AS, &mut old);
        let tight = libc::rlimit { rlim_cur: space + left, rlim_max: old.rlim_max };
        libc::setrlimit(libc::RLIMIT_AS, &tight);
    }
    let result = f();
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &old) };
    Ok(result)
}

mod sysv_segment {
    use super::*;

    /// Segment `id` as the kernel lists it (/proc/sysvipc/shm).
    fn row(id: i32) -> Option<sysv::Row> {
        sysv::row("shm", id)
    }

    /// Creates an `IPC_PRIVATE` segment with the kata and registers its id with the sandbox.
    fn private(s: &mut Sandbox, size: usize) -> Result<SysvSegment, Failure> {
        let seg = s.call(format!("SysvSegment::create(None, {size})"), || SysvSegment::create(None, size))?;
        s.phase("calling SysvSegment::id");
        let id = seg.id();
        s.track(Tracked::SysvId { kind: "shm", id });
        s.expect(row(id).is_some(), || {
            format!(
                "SysvSegment::id returned {id}, but /proc/sysvipc/shm has no segment with that id: return shmget's id"
            )
        })?;
        Ok(seg)
    }

    /// Why segment `id` is still there once every value of it was dropped: marked by remove()
    /// but still attached (Drop did not detach), or never marked (remove did not IPC_RMID).
    fn still_there_after_every_drop(id: i32, after: &str) -> Option<String> {
        let row = row(id)?;
        Some(if row.marked() {
            format!(
                "shared memory segment {id} is still in /proc/sysvipc/shm after {after}: remove() marked it \
                 (IPC_RMID), but it still has {} attachment(s), so the kernel cannot free it. Drop must detach \
                 with shmdt(the address shmat returned); the last detach frees a removed segment",
                row.nattch
            )
        } else {
            format!(
                "shared memory segment {id} is still in /proc/sysvipc/shm (key {:#x}, {} attachments) after \
                 {after}, and it is not marked for removal: it leaks until reboot. remove must call \
                 shmctl(id, IPC_RMID, null); the kernel then frees the segment at the last shmdt",
                row.key, row.nattch
            )
        })
    }

    fn attach_count(id: i32, when: &str) -> Result<u64, Failure> {
        let row = row(id).ok_or_else(|| {
            Failure::wrong(format!(
                "segment {id} is gone from /proc/sysvipc/shm {when}: only remove() (shmctl IPC_RMID) may \
                 destroy it, and only at the last detach"
            ))
        })?;
        Ok(row.nattch)
    }

    #[test]
    fn bytes_a_forked_child_writes_are_read_by_the_parent() {
        grade!().run(|s| {
            let seg = private(s, 100_000)?;
            let payload = Payload::new(60_000, 7).bytes();
            let at = 12_345;
            s.phase("a forked child writes 60 kB into the segment with write_at");
            let child = s.fork("the child writing into the segment", || {
                seg.write_at(at, &payload)
                    .map_err(|e| Failure::wrong(format!("write_at in the child returned an error: {e}")))
            })?;
            child.join()?;
            s.phase("the parent reads back what the child wrote, with read_at");
            let got = s.ok("read_at in the parent", seg.read_at(at, payload.len()))?;
            s.expect_bytes(
                "the bytes the parent read from the segment (a child inherits the attachment across fork; \
                 a copy made with MAP_PRIVATE or a plain Vec would not be shared)",
                &payload,
                &got,
            )?;
            s.call("remove, then dropping the segment", || seg.remove())?;
            drop(seg);
            Ok(())
        });
    }

    #[test]
    fn a_segment_is_made_owner_only_with_its_size_and_a_taken_key_is_already_exists() {
        grade!().run(|s| {
            let key = s.sysv_key();
            let seg =
                s.call(format!("SysvSegment::create(Some({key:#x}), 5000)"), || SysvSegment::create(Some(key), 5000))?;
            let id = seg.id();
            let row = row(id).ok_or_else(|| {
                Failure::wrong(format!("SysvSegment::id returned {id}, but /proc/sysvipc/shm has no such segment"))
            })?;
            s.expect_eq("the key of the segment in /proc/sysvipc/shm", &key, &row.key)?;
            s.expect(row.mode() == 0o600, || mode_story(&format!("segment {id}"), row.mode()))?;
            s.expect_eq("the segment's owner (uid)", &my_uid(), &row.uid)?;
            s.expect_eq("the segment's size in /proc/sysvipc/shm", &5000, &row.size)?;
            s.expect_eq("SysvSegment::size", &5000, &seg.size())?;
            s.phase("calling SysvSegment::create again with the same key");
            let again = SysvSegment::create(Some(key), 5000);
            s.expect_err(
                "a second SysvSegment::create with a taken key (use IPC_CREAT | IPC_EXCL: without IPC_EXCL \
                 shmget quietly hands you the segment that is there)",
                again,
                ErrorKind::AlreadyExists,
            )?;
            s.ok("remove", seg.remove())?;
            drop(seg);
            Ok(())
        });
    }

    #[test]
    fn after_remove_and_the_last_detach_the_segment_is_gone_from_proc_sysvipc_shm() {
        grade!().run(|s| {
            let first = private(s, 8192)?;
            let id = first.id();
            s.phase(format!("attaching segment {id} a second time with SysvSegment::attach"));
            let second = s.ok("SysvSegment::attach", SysvSegment::attach(id))?;
            s.ok("write_at through the second attachment", second.write_at(0, b"still here"))?;
            s.call("remove while two attachments are alive", || first.remove())?;
            let alive = attach_count(id, "right after remove() while it was still attached twice")?;
            s.expect(alive == 2, || {
                format!("after remove() segment {id} has {alive} attachments, expected 2: remove must not detach")
            })?;
            drop(first);
            let got = s.ok("read_at through the other attachment after remove and one drop", second.read_at(0, 10))?;
            s.expect_bytes("the bytes of a removed segment that is still attached", b"still here", &got)?;
            s.phase("dropping the last attachment");
            drop(second);
            match still_there_after_every_drop(id, "remove() and dropping both SysvSegment values") {
                Some(why) => Err(Failure::wrong(why)),
                None => Ok(()),
            }
        });
    }

    #[test]
    fn dropping_a_segment_detaches_it() {
        grade!().run(|s| {
            let first = private(s, 4096)?;
            let id = first.id();
            s.phase(format!("attaching segment {id} a second time with SysvSegment::attach"));
            let second = s.ok("SysvSegment::attach", SysvSegment::attach(id))?;
            let before = attach_count(id, "after two attachments")?;
            s.expect(before == 2, || {
                format!("segment {id} has {before} attachments after create and attach, expected 2 (one shmat each)")
            })?;
            s.phase("dropping the second attachment");
            drop(second);
            let after = attach_count(id, "after one of two attachments was dropped")?;
            s.expect(after == 1, || {
                format!(
                    "segment {id} still has {after} attachments after one of its two SysvSegment values was \
                     dropped: Drop must detach with shmdt(address shmat returned)"
                )
            })?;
            s.ok("remove", first.remove())?;
            drop(first);
            match still_there_after_every_drop(id, "remove() and dropping every SysvSegment value") {
                Some(why) => Err(Failure::wrong(why)),
                None => Ok(()),
            }
        });
    }

    #[test]
    fn a_segment_of_size_zero_is_invalid_input_and_makes_nothing() {
        grade!().run(|s| {
            let key = s.sysv_key();
            s.phase(format!("calling SysvSegment::create(Some({key:#x}), 0)"));
            s.expect_err(
                "SysvSegment::create with size 0",
                SysvSegment::create(Some(key), 0),
                ErrorKind::InvalidInput,
            )?;
            s.phase("calling SysvSegment::create(None, 0)");
            s.expect_err("SysvSegment::create(None, 0)", SysvSegment::create(None, 0), ErrorKind::InvalidInput)
                .map(drop)
        });
    }

    #[test]
    fn a_segment_used_after_removal_and_the_last_detach_is_an_error_not_a_crash() {
        grade!().run(|s| {
            let seg = private(s, 4096)?;
            let id = seg.id();
            s.call("remove, then dropping the only attachment", || seg.remove())?;
            drop(seg);
            if let Some(why) = still_there_after_every_drop(id, "remove() and dropping its only SysvSegment") {
                return Err(Failure::wrong(why));
            }
            s.phase(format!("calling SysvSegment::attach({id}) on the removed segment"));
            match SysvSegment::attach(id) {
                Err(_) => Ok(()),
                Ok(seg) => Err(Failure::wrong(format!(
                    "SysvSegment::attach({id}) returned Ok({seg:?}) for a segment that was removed and detached \
                     everywhere: shmat fails on it (EINVAL or EIDRM), and attach must return that error"
                ))),
            }
        });
    }

    #[test]
    fn an_attach_that_shmat_refuses_is_an_error_not_a_segment_at_address_minus_1() {
        grade!().run(|s| {
            // 1 GiB that nobody touches: it costs address space, not memory.
            let seg = private(s, 1 << 30)?;
            let id = seg.id();
            s.phase(format!(
                "calling SysvSegment::attach({id}) with room for 256 MiB more address space (RLIMIT_AS), not 1 GiB"
            ));
            let result = with_address_space_left(256 << 20, || SysvSegment::attach(id))?;
            let outcome = match result {
                Err(_) => Ok(()),
                Ok(second) => Err(Failure::wrong(format!(
                    "SysvSegment::attach({id}) returned Ok({second:?}) although shmat could not map the segment \
                     (ENOMEM): shmat fails with (void *) -1, not a null pointer; check for -1 and return the error"
                ))),
            };
            s.ok("remove", seg.remove())?;
            drop(seg);
            outcome
        });
    }

    #[test]
    fn reads_and_writes_past_the_end_are_invalid_input_and_change_nothing() {
        grade!().run(|s| {
            // 1000 bytes: the kernel maps a whole page, but the segment is 1000 bytes long.
            let seg = private(s, 1000)?;
            s.phase("calling size");
            s.expect_eq("SysvSegment::size of a 1000-byte segment", &1000, &seg.size())?;
            s.ok("write_at(0, 1000 bytes)", seg.write_at(0, &[0x5a; 1000]))?;
            s.ok("write_at(1000, no bytes)", seg.write_at(1000, b""))?;
            s.phase("writing 8 bytes at offset 996 of a 1000-byte segment");
            s.expect_err("write_at(996, 8 bytes) on 1000 bytes", seg.write_at(996, &[1; 8]), ErrorKind::InvalidInput)?;
            s.expect_err("write_at(usize::MAX, 2 bytes)", seg.write_at(usize::MAX, &[1; 2]), ErrorKind::InvalidInput)?;
            s.expect_err("read_at(999, 2) on 1000 bytes", seg.read_at(999, 2), ErrorKind::InvalidInput)?;
            s.expect_err("read_at(1, usize::MAX)", seg.read_at(1, usize::MAX), ErrorKind::InvalidInput)?;
            let got = s.ok("read_at(0, 1000)", seg.read_at(0, 1000))?;
            s.expect_bytes("the segment after refused writes (nothing may be written in part)", &[0x5a; 1000], &got)?;
            s.ok("remove", seg.remove())?;
            drop(seg);
            Ok(())
        });
    }
}

mod posix_shm {
    use super::*;

    fn dev_shm(name: &str) -> PathBuf {
        PathBuf::from("/dev/shm").join(name.trim_start_matches('/'))
    }

    fn expect_no_object(s: &Sandbox, name: &str, after: &str) -> Result<(), Failure> {
        let path = dev_shm(name);
        s.expect(!path.exists(), || {
            format!(
                "POSIX shared memory object {name} ({}) exists after {after}: it must not be made, or it must be \
                 shm_unlink-ed before returning the error",
                path.display()
            )
        })
    }

    /// Runs the peer program and waits for it.
    fn peer(s: &Sandbox, command: peer::Shm) -> Result<(), Failure> {
        peer::start(s, command)?.join().map(drop)
    }

    #[test]
    fn what_create_writes_an_unrelated_program_reads_by_name() {
        grade!().run(|s| {
            let name = s.posix_name("shm");
            let payload = Payload::new(100_000, 11).bytes();
            let shm = s.call(format!("PosixShm::create({name:?}, 100000)"), || PosixShm::create(&name, 100_000))?;
            s.expect_eq("PosixShm::size", &100_000, &shm.size())?;
            s.phase("writing 100 kB with write_at");
            s.ok("write_at", shm.write_at(0, &payload))?;
            let out = s.path("read-by-peer");
            s.phase("an unrelated program opens the object by name and reads it");
            peer(s, peer::Shm::Read { name: name.clone(), len: 100_000, out: out.clone() })?;
            let got = fs::read(&out).map_err(Failure::test_error("load what the peer read"))?;
            s.expect_bytes("the bytes the other program read by name", &payload, &got)?;
            s.call(format!("PosixShm::unlink({name:?})"), || PosixShm::unlink(&name))?;
            drop(shm);
            Ok(())
        });
    }

    #[test]
    fn what_an_unrelated_program_wrote_is_read_through_open() {
        grade!().run(|s| {
            let name = s.posix_name("shm");
            let payload = Payload::new(70_001, 12).bytes();
            let input = s.path("input");
            fs::write(&input, &payload).map_err(Failure::test_error("save the input"))?;
            s.phase("an unrelated program creates the object, sizes it and writes 70001 bytes");
            peer(s, peer::Shm::Write { name: name.clone(), input: input.clone() })?;
            let shm = s.call(format!("PosixShm::open({name:?})"), || PosixShm::open(&name))?;
            s.expect_eq("PosixShm::size of the object the other program made (fstat)", &70_001, &shm.size())?;
            let got = s.ok("read_at(0, 70001)", shm.read_at(0, payload.len()))?;
            s.expect_bytes("the bytes read through open", &payload, &got)?;
            s.call(format!("PosixShm::unlink({name:?})"), || PosixShm::unlink(&name))?;
            drop(shm);
            Ok(())
        });
    }

    #[test]
    fn a_name_of_255_bytes_after_the_slash_is_accepted_and_one_of_256_is_invalid_input() {
        grade!().run(|s| {
            let base = s.posix_name("shm");
            // '/' and NAME_MAX (255) bytes: the longest name Linux takes (`man 3 shm_open`).
            let longest = format!("{base}{}", "n".repeat(256 - base.len()));
            s.track(Tracked::PosixName(longest.clone()));
            s.phase("calling PosixShm::create with a name of 255 bytes after the '/'");
            let shm = s.ok(
                "PosixShm::create with 255 bytes after the '/' (NAME_MAX: Linux accepts it, and refuses 256 with \
                 ENAMETOOLONG)",
                PosixShm::create(&longest, 4096),
            )?;
            drop(shm);
            s.call("PosixShm::unlink on the 255-byte name", || PosixShm::unlink(&longest))?;
            let too_long = format!("{longest}n");
            s.phase("calling PosixShm::create with a name of 256 bytes after the '/'");
            s.expect_err(
                "PosixShm::create with 256 bytes after the '/'",
                PosixShm::create(&too_long, 4096),
                ErrorKind::InvalidInput,
            )?;
            expect_no_object(s, &too_long, "a refused create")
        });
    }

    #[test]
    fn the_object_is_owner_only_and_a_taken_name_is_already_exists() {
        grade!().run(|s| {
            let name = s.posix_name("shm");
            let shm = s.call(format!("PosixShm::create({name:?}, 4096)"), || PosixShm::create(&name, 4096))?;
            let meta = fs::metadata(dev_shm(&name)).map_err(|e| {
                Failure::wrong(format!(
                    "PosixShm::create returned Ok, but {} is not there: {e}",
                    dev_shm(&name).display()
                ))
            })?;
            let mode = meta.permissions().mode() & 0o777;
            s.expect(mode == 0o600, || mode_story(&dev_shm(&name).display().to_string(), mode))?;
            s.expect_eq("the owner (uid) of the object", &my_uid(), &meta.uid())?;
            s.expect_eq("the size of the object in /dev/shm (set it with ftruncate)", &4096, &meta.len())?;
            s.ok("write_at", shm.write_at(0, b"mine"))?;
            s.phase("calling PosixShm::create again with the same name");
            let again = PosixShm::create(&name, 4096);
            s.expect_err(
                "a second PosixShm::create with a taken name (use O_CREAT | O_EXCL: without O_EXCL you open, and \
                 ftruncate may cut, somebody else's object)",
                again,
                ErrorKind::AlreadyExists,
            )?;
            let got = s.ok("read_at", shm.read_at(0, 4))?;
            s.expect_bytes("the first object's bytes after the refused create", b"mine", &got)?;
            s.ok("PosixShm::unlink", PosixShm::unlink(&name))?;
            drop(shm);
            Ok(())
        });
    }

    #[test]
    fn unlink_removes_the_name_from_dev_shm_but_the_mapping_still_works() {
        grade!().run(|s| {
            let name = s.posix_name("shm");
            let shm = s.call(format!("PosixShm::create({name:?}, 10000)"), || PosixShm::create(&name, 10_000))?;
            s.ok("write_at", shm.write_at(9_990, b"0123456789"))?;
            s.call(format!("PosixShm::unlink({name:?})"), || PosixShm::unlink(&name))?;
            s.expect(!dev_shm(&name).exists(), || {
                format!(
                    "POSIX shared memory object {name} ({}) still exists after PosixShm::unlink returned: it leaks \
                     until reboot. unlink must call shm_unlink(name)",
                    dev_shm(&name).display()
                )
            })?;
            let got = s.ok("read_at after unlink", shm.read_at(9_990, 10))?;
            s.expect_bytes("the mapping's bytes after unlink (a mapping outlives the name)", b"0123456789", &got)?;
            s.phase(format!("calling PosixShm::open({name:?}) after unlink"));
            s.expect_err("PosixShm::open of an unlinked name", PosixShm::open(&name), ErrorKind::NotFound)?;
            s.expect_err("a second PosixShm::unlink of the same name", PosixShm::unlink(&name), ErrorKind::NotFound)?;
            drop(shm);
            Ok(())
        });
    }

    /// How many mappings of the object `name` this process has, from /proc/self/maps (`man 5
    /// proc`: a mapping of a file names its path, here /dev/shm/<name>).
    fn mappings_of(name: &str) -> Result<usize, Failure> {
        let maps = fs::read_to_string("/proc/self/maps").map_err(Failure::test_error("read /proc/self/maps"))?;
        let path = dev_shm(name);
        let path = path.to_str().expect("test names are UTF-8");
        Ok(maps.lines().filter(|line| line.split_whitespace().nth(5) == Some(path)).count())
    }

    #[test]
    fn dropping_a_mapping_unmaps_it_and_leaves_the_name() {
        grade!().run(|s| {
            let name = s.posix_name("shm");
            let made = s.call(format!("PosixShm::create({name:?}, 4096), then PosixShm::open({name:?})"), || {
                PosixShm::create(&name, 4096)
            })?;
            let opened = s.ok("PosixShm::open", PosixShm::open(&name))?;
            let both = mappings_of(&name)?;
            s.expect(both == 2, || {
                format!("after create and open this process has {both} mappings of {name}, expected 2 (one mmap each)")
            })?;
            s.phase("dropping the PosixShm that open returned");
            drop(opened);
            let one = mappings_of(&name)?;
            s.expect(one == 1, || {
                format!(
                    "{one} mappings of {name} are left after one of its two PosixShm values was dropped, expected 1: \
                     Drop must munmap(address, size) the mapping mmap made"
                )
            })?;
            drop(made);
            s.expect(dev_shm(&name).exists(), || {
                format!("dropping a PosixShm removed the name {name}: Drop only unmaps; unlink removes the name")
            })?;
            s.ok("PosixShm::unlink", PosixShm::unlink(&name))
        });
    }

    #[test]
    fn a_create_whose_mapping_fails_is_an_error_and_leaves_no_name() {
        grade!().run(|s| {
            let name = s.posix_name("shm");
            s.phase(format!(
                "calling PosixShm::create({name:?}, 1 GiB) with room for 256 MiB more address space (RLIMIT_AS)"
            ));
            let result = with_address_space_left(256 << 20, || PosixShm::create(&name, 1 << 30))?;
            let left = dev_shm(&name).exists();
            let _ = nix::sys::mman::shm_unlink(name.as_str());
            if let Ok(shm) = result {
                return Err(Failure::wrong(format!(
                    "PosixShm::create returned Ok({shm:?}) although mmap could not map 1 GiB (ENOMEM)"
                )));
            }
            s.expect(!left, || {
                format!(
                    "PosixShm::create failed (mmap: ENOMEM) but left the name {name} in /dev/shm: once shm_open \
                     has made the name, every later error must shm_unlink it before returning"
                )
            })
        });
    }

    #[test]
    fn a_name_without_its_leading_slash_is_invalid_input_and_makes_nothing() {
        grade!().run(|s| {
            let name = s.posix_name("noslash");
            let bare = name.trim_start_matches('/').to_string();
            s.phase(format!("calling PosixShm::create({bare:?}, 4096)"));
            let result = PosixShm::create(&bare, 4096);
            let after = format!(
                "PosixShm::create({bare:?}) (glibc accepts a name without its '/'; other systems do not, so check \
                 the name yourself)"
            );
            expect_no_object(s, &name, &after)?;
            let without = "with a name without its leading '/'";
            s.expect_err(&format!("PosixShm::create {without}"), result, ErrorKind::InvalidInput)?;
            s.expect_err(&format!("PosixShm::open {without}"), PosixShm::open(&bare), ErrorKind::InvalidInput)?;
            s.expect_err(&format!("PosixShm::unlink {without}"), PosixShm::unlink(&bare), ErrorKind::InvalidInput)?;
            for bad in ["", "/", &format!("{name}/inner")] {
                s.phase(format!("calling PosixShm::create({bad:?}, 4096)"));
                let call = format!("PosixShm::create({bad:?}, 4096)");
                s.expect_err(&call, PosixShm::create(bad, 4096), ErrorKind::InvalidInput)?;
            }
            Ok(())
        });
    }

    #[test]
    fn a_size_of_zero_is_invalid_input_and_leaves_no_name() {
        grade!().run(|s| {
            let name = s.posix_name("empty");
            s.phase(format!("calling PosixShm::create({name:?}, 0)"));
            let result = PosixShm::create(&name, 0);
            expect_no_object(s, &name, "PosixShm::create with size 0")?;
            s.expect_err("PosixShm::create with size 0", result, ErrorKind::InvalidInput).map(drop)
        });
    }

    #[test]
    fn opening_a_missing_name_is_not_found_and_an_unsized_object_is_invalid_data() {
        grade!().run(|s| {
            let name = s.posix_name("missing");
            s.phase(format!("calling PosixShm::open({name:?}) on a name nobody made"));
            s.expect_err("PosixShm::open of a missing name", PosixShm::open(&name), ErrorKind::NotFound)?;
            expect_no_object(s, &name, "PosixShm::open of a missing name (open must not create)")?;
            s.expect_err("PosixShm::unlink of a missing name", PosixShm::unlink(&name), ErrorKind::NotFound)?;
            let empty = s.posix_name("unsized");
            nix::sys::mman::shm_open(
                empty.as_str(),
                nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_RDWR,
                nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
            )
            .map_err(|e| Failure::crash(format!("the test could not make its 0-byte object: {e}")))?;
            s.phase(format!("calling PosixShm::open({empty:?}) on an object of 0 bytes"));
            let result = PosixShm::open(&empty);
            let _ = nix::sys::mman::shm_unlink(empty.as_str());
            s.expect_err(
                "PosixShm::open of an object of 0 bytes (its creator has not called ftruncate yet; fstat says 0)",
                result,
                ErrorKind::InvalidData,
            )
            .map(drop)
        });
    }

    #[test]
    fn reads_and_writes_past_the_end_are_invalid_input_and_change_nothing() {
        grade!().run(|s| {
            let name = s.posix_name("shm");
            let shm = s.call(format!("PosixShm::create({name:?}, 1000)"), || PosixShm::create(&name, 1000))?;
            s.expect_eq("PosixShm::size of a 1000-byte object", &1000, &shm.size())?;
            s.ok("write_at(0, 1000 bytes)", shm.write_at(0, &[0xa5; 1000]))?;
            s.phase("writing 8 bytes at offset 996 of a 1000-byte object");
            s.expect_err("write_at(996, 8 bytes) on 1000 bytes", shm.write_at(996, &[1; 8]), ErrorKind::InvalidInput)?;
            s.expect_err("write_at(usize::MAX, 2 bytes)", shm.write_at(usize::MAX, &[1; 2]), ErrorKind::InvalidInput)?;
            s.expect_err("read_at(999, 2) on 1000 bytes", shm.read_at(999, 2), ErrorKind::InvalidInput)?;
            s.expect_err("read_at(1, usize::MAX)", shm.read_at(1, usize::MAX), ErrorKind::InvalidInput)?;
            let got = s.ok("read_at(0, 1000)", shm.read_at(0, 1000))?;
            s.expect_bytes("the object after refused writes (nothing may be written in part)", &[0xa5; 1000], &got)?;
            s.ok("PosixShm::unlink", PosixShm::unlink(&name))?;
            drop(shm);
            Ok(())
        });
    }
}
