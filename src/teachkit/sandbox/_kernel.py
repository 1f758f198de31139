"""The Linux kernel interface the zygote uses: namespaces, mounts, credentials, Landlock.

Standard library only: this module is loaded by the zygote interpreter (``python -I``), which
never imports teachkit. Python 3.11 has no ``os.unshare``, so the calls go through ctypes.
Every function raises ``OSError`` with the errno of the failing call.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

__all__ = [
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "bind_readonly",
    "drop_bounding_set",
    "drop_capabilities",
    "landlock_abi",
    "landlock_enforce",
    "landlock_restrict",
    "landlock_ruleset",
    "mount",
    "pivot_root",
    "prctl",
    "umount",
    "unshare",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

_SYSCALLS = {  # calls glibc does not wrap, per architecture
    "x86_64": {"pivot_root": 155},
    "aarch64": {"pivot_root": 41},
}
_MOUNT_SETATTR = 442  # the same number on every architecture (unified syscall table)
_LANDLOCK_CREATE_RULESET = 444
_LANDLOCK_ADD_RULE = 445
_LANDLOCK_RESTRICT_SELF = 446

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data) if data else None)
    _check(result, f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    number = _SYSCALLS.get(platform.machine(), {}).get("pivot_root")
    if number is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(_libc.syscall(ctypes.c_long(number), _b(new_root), _b(put_old)), "pivot_root")


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 1, 2, 4
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000


def bind_readonly(source: str, target: str) -> None:
    """Bind ``source`` (and every mount below it) on ``target``, read-only, nosuid, nodev."""
    mount(source, target, None, MS_BIND | MS_REC)
    attr = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV, 0, 0, 0)
    result = _libc.syscall(
        ctypes.c_long(_MOUNT_SETATTR),
        ctypes.c_int(_AT_FDCWD),
        _b(target),
        ctypes.c_uint(_AT_RECURSIVE),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if result == 0:
        return
    # kernels before 5.12: remount every mount at or below target, keeping its locked flags
    for mount_point, flags in _mounts_below(target):
        keep = flags | MS_RDONLY | MS_NOSUID | MS_NODEV
        mount(None, mount_point, None, MS_REMOUNT | MS_BIND | keep)


def _mounts_below(target: str) -> list[tuple[str, int]]:
    names = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            if point == target or point.startswith(target.rstrip("/") + "/"):
                flags = 0
                for option in fields[5].split(","):
                    flags |= names.get(option, 0)
                found.append((point, flags))
    return found


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_bounding_set() -> None:
    """Empty the capability bounding set (needs CAP_SETPCAP: call it before a uid switch)."""
    for cap in range(64):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno == 22:  # EINVAL: past the last capability this kernel knows
                break
            raise


def drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable capability sets of this process."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


# Landlock: https://docs.kernel.org/userspace-api/landlock.html
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_ALL_V1 = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2


def landlock_abi() -> int:
    """The Landlock ABI version of this kernel (0 when Landlock is unavailable)."""
    result = _libc.syscall(ctypes.c_long(_LANDLOCK_CREATE_RULESET), None, 0, ctypes.c_uint32(1))
    return max(int(result), 0)


def landlock_restrict(writable: list[str], readable: list[str]) -> int:
    """Allow writes only beneath ``writable`` and reads beneath ``readable``; deny TCP and
    signals or abstract sockets outside this domain where the kernel supports it. Returns the
    ABI used (0: unavailable, nothing done)."""
    ruleset = landlock_ruleset(writable, readable)
    if ruleset < 0:
        return 0
    try:
        landlock_enforce(ruleset)
    finally:
        os.close(ruleset)
    return landlock_abi()


def landlock_ruleset(writable: list[str], readable: list[str]) -> int:
    """A ruleset file descriptor for :func:`landlock_enforce` (-1 without Landlock). Building
    it once and enforcing it in each child costs one system call per child."""
    abi = landlock_abi()
    if abi < 1:
        return -1
    handled = _FS_ALL_V1
    if abi >= 2:
        handled |= _FS_REFER
    if abi >= 3:
        handled |= _FS_TRUNCATE
    if abi >= 5:
        handled |= _FS_IOCTL_DEV
    fields = [handled]
    if abi >= 4:
        fields.append(_NET_BIND_TCP | _NET_CONNECT_TCP)
    if abi >= 6:
        fields.append(_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
    attr = struct.pack(f"{len(fields)}Q", *fields)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(
        int(
            _libc.syscall(
                ctypes.c_long(_LANDLOCK_CREATE_RULESET), buffer, ctypes.c_size_t(len(attr)), 0
            )
        ),
        "landlock_create_ruleset",
    )
    try:
        read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        for path in readable:
            _landlock_rule(ruleset, path, read)
        for path in writable:
            _landlock_rule(ruleset, path, handled)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def landlock_enforce(ruleset: int) -> None:
    """Restrict this process (and its future children) by ``ruleset``; sets no_new_privs."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    _check(
        int(_libc.syscall(ctypes.c_long(_LANDLOCK_RESTRICT_SELF), ruleset, 0)),
        "landlock_restrict_self",
    )


def _landlock_rule(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):  # directory-only rights do not apply to a file
            access &= _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
        rule = struct.pack("=Qi", access, fd)  # struct landlock_path_beneath_attr is packed
        buffer = ctypes.create_string_buffer(rule, len(rule))
        _check(
            int(_libc.syscall(ctypes.c_long(_LANDLOCK_ADD_RULE), ruleset, 1, buffer, 0)),
            "landlock_add_rule",
        )
    finally:
        os.close(fd)
