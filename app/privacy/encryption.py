"""Whether the data folder sits on an encrypted volume, read from the system, never guessed.

Linux: the folder's filesystem and device come from /proc/self/mountinfo; a device-mapper
device is dm-crypt (LUKS or plain) when it, or a device beneath it (LVM on LUKS), has a
`dm/uuid` starting with `CRYPT-` in /sys; fscrypt shows as the folder's encrypted inode flag;
eCryptfs as the mount's type. macOS: `fdesetup status` (FileVault). Anything else is "unknown",
with what was seen.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FS_IOC_GETFLAGS = 0x80086601
FS_ENCRYPT_FL = 0x00000800

ADVICE = (
    "Your conversations and memories are stored unencrypted on this disk: anyone who takes "
    "the disk can read them. Turn on full-disk encryption (LUKS when installing Linux, "
    "FileVault on macOS, BitLocker or Device Encryption on Windows), or keep Hearth's folder "
    "in an encrypted home folder (fscrypt, systemd-homed)."
)


@dataclass(frozen=True)
class Encryption:
    state: str  # "encrypted", "not encrypted" or "unknown"
    method: str  # "dm-crypt", "fscrypt", "ecryptfs", "filevault", "" ...
    detail: str  # what was read, in words
    advice: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mount_of(path: Path, mountinfo: str) -> tuple[str, str, str] | None:
    """(major:minor, filesystem type, source) of the mount that holds `path`."""
    best: tuple[int, tuple[str, str, str]] | None = None
    target = str(path)
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        point = fields[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), (fields[2], tail[0], tail[1]))
    return None if best is None else best[1]


def _crypt_below(sys_root: Path, device: Path, seen: set[str] | None = None) -> str | None:
    """The dm uuid of a dm-crypt device at or below `device` (a /sys/.../block entry)."""
    seen = set() if seen is None else seen
    real = str(device.resolve())
    if real in seen:
        return None
    seen.add(real)
    with contextlib.suppress(OSError):
        uuid = (device / "dm" / "uuid").read_text().strip()
        if uuid.startswith("CRYPT-"):
            return uuid
    slaves = device / "slaves"
    if slaves.is_dir():
        for slave in sorted(slaves.iterdir()):
            found = _crypt_below(sys_root, sys_root / "class" / "block" / slave.name, seen)
            if found:
                return found
    return None


def _fscrypt(path: Path) -> bool:
    import array
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        return bool(flags[0] & FS_ENCRYPT_FL)
    except OSError:
        return False  # the filesystem has no such flag (not ext4/f2fs/ubifs)
    finally:
        os.close(fd)


def linux(path: Path, *, sys_root: Path = Path("/sys"), mountinfo: str | None = None) -> Encryption:
    path = Path(path).resolve()
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError as exc:
            return Encryption("unknown", "", f"cannot read the mount table: {exc}")
    mount = _mount_of(path, mountinfo)
    if mount is None:
        return Encryption("unknown", "", f"no mount found for {path}")
    dev, fstype, source = mount
    if fstype == "ecryptfs":
        return Encryption("encrypted", "ecryptfs", f"{path} is on an eCryptfs mount")
    with contextlib.suppress(OSError):
        if path.exists() and _fscrypt(path):
            return Encryption("encrypted", "fscrypt", f"{path} has fscrypt's encrypted flag")
    if fstype in ("tmpfs", "ramfs"):
        return Encryption("not encrypted", "", f"{path} is in memory ({fstype}): gone at reboot")
    block = sys_root / "dev" / "block" / dev
    if not block.exists():
        return Encryption(
            "unknown",
            "",
            f"{path} is on {fstype} ({source}), which has no block device here to inspect "
            "(a container, network or virtual filesystem); check the disk beneath it yourself",
        )
    uuid = _crypt_below(sys_root, block)
    if uuid:
        kind = "LUKS" if uuid.startswith("CRYPT-LUKS") else "dm-crypt"
        return Encryption("encrypted", "dm-crypt", f"{source} is on a {kind} volume ({uuid[:20]}…)")
    return Encryption(
        "not encrypted", "", f"{source} ({fstype}) is not on a dm-crypt volume", ADVICE
    )


def macos() -> Encryption:
    try:
        out = subprocess.run(["fdesetup", "status"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Encryption("unknown", "", f"fdesetup could not run: {exc}")
    text = out.stdout.strip()
    if "FileVault is On" in text:
        return Encryption("encrypted", "filevault", text)
    if "FileVault is Off" in text:
        return Encryption("not encrypted", "", text, ADVICE)
    return Encryption("unknown", "", text or out.stderr.strip())


def status(path: Path) -> Encryption:
    if sys.platform.startswith("linux"):
        return linux(path)
    if sys.platform == "darwin":
        return macos()
    return Encryption(
        "unknown",
        "",
        "Hearth cannot read BitLocker's state without administrator rights; "
        "see Settings > Privacy & security > Device encryption",
    )
