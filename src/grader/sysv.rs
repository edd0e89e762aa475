//! The kernel's tables of SysV IPC objects, `/proc/sysvipc/{shm,msg,sem}` (`man 5 proc`), read
//! by the names in each file's header line, so a column the kernel moves is still found.

use std::fs;

/// The mode bit of a segment marked for removal (`SHM_DEST` in <linux/shm.h>; libc does not
/// export it for Linux).
pub const SHM_DEST: u32 = 0o1000;

/// One object of a table. A field its kind has no column for is 0 (`nattch` of a queue).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub key: i32,
    pub id: i32,
    /// The permission bits as the kernel keeps them: the mode in 0o777, and for a segment
    /// SHM_DEST (0o1000) once it is marked for removal.
    pub perms: u32,
    pub uid: u32,
    /// The creator's uid.
    pub cuid: u32,
    /// The last change (creation or IPC_SET), in seconds since the epoch.
    pub ctime: i64,
    /// A segment's size in bytes, its number of attachments, its creator and last user.
    pub size: u64,
    pub nattch: u64,
    pub cpid: i32,
    pub lpid: i32,
    /// A queue's bytes and messages, and who last sent and received.
    pub cbytes: u64,
    pub qnum: u64,
    pub lspid: i32,
    pub lrpid: i32,
    /// A set's number of semaphores.
    pub nsems: u64,
}

impl Row {
    /// The mode bits (`perms & 0o777`).
    pub fn mode(&self) -> u32 {
        self.perms & 0o777
    }

    /// A segment marked for removal (IPC_RMID) but still attached: SHM_DEST in `perms`.
    pub fn marked(&self) -> bool {
        self.perms & SHM_DEST != 0
    }
}

/// Every object of `kind` ("shm", "msg" or "sem").
pub fn rows(kind: &str) -> Vec<Row> {
    let text = fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    lines
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let col = |name: &str| header.iter().position(|h| *h == name).and_then(|i| cols.get(i).copied());
            let num = |name: &str| col(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            let id = ["shmid", "msqid", "semid"].iter().find_map(|name| col(name))?.parse().ok()?;
            Some(Row {
                key: col("key")?.parse::<i64>().ok()? as i32,
                id,
                perms: u32::from_str_radix(col("perms")?, 8).ok()?,
                uid: num("uid") as u32,
                cuid: num("cuid") as u32,
                ctime: num("ctime"),
                size: num("size") as u64,
                nattch: num("nattch") as u64,
                cpid: num("cpid") as i32,
                lpid: num("lpid") as i32,
                cbytes: num("cbytes") as u64,
                qnum: num("qnum") as u64,
                lspid: num("lspid") as i32,
                lrpid: num("lrpid") as i32,
                nsems: num("nsems") as u64,
            })
        })
        .collect()
}

/// The object of `kind` with this id, if the kernel lists it.
pub fn row(kind: &str, id: i32) -> Option<Row> {
    rows(kind).into_iter().find(|r| r.id == id)
}

/// Whether an object of `kind` has this key.
pub fn key_exists(kind: &str, key: i32) -> bool {
    rows(kind).iter().any(|r| r.key == key)
}
