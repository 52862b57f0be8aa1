"""Disk encryption status, read from the system: /proc/self/mountinfo and /sys, never guessed.

The layouts below are what the kernel shows for LUKS, LVM on LUKS, a plain partition and a
container's overlay; the last test reads this machine's own."""

from __future__ import annotations

from pathlib import Path

from app.privacy import encryption

MOUNT = "27 1 {dev} / / rw,relatime - {fs} {source} rw\n"


def _device(sys_root: Path, dev: str, where: str, uuid: str | None = None) -> Path:
    device = sys_root / "devices" / where
    device.mkdir(parents=True)
    if uuid is not None:
        (device / "dm").mkdir()
        (device / "dm" / "uuid").write_text(uuid + "\n")
    (sys_root / "dev" / "block").mkdir(parents=True, exist_ok=True)
    (sys_root / "dev" / "block" / dev).symlink_to(device)
    (sys_root / "class" / "block").mkdir(parents=True, exist_ok=True)
    (sys_root / "class" / "block" / device.name).symlink_to(device)
    return device


def test_luks_root_is_encrypted(tmp_path: Path) -> None:
    _device(tmp_path, "253:0", "virtual/block/dm-0", "CRYPT-LUKS2-0123abcd-root")
    found = encryption.linux(
        Path("/home/me/.local/share/Hearth"),
        sys_root=tmp_path,
        mountinfo=MOUNT.format(dev="253:0", fs="ext4", source="/dev/mapper/root"),
    )
    assert (found.state, found.method) == ("encrypted", "dm-crypt")
    assert "LUKS" in found.detail and found.advice == ""


def test_lvm_on_luks_is_found_through_the_slaves(tmp_path: Path) -> None:
    _device(tmp_path, "253:0", "virtual/block/dm-0", "CRYPT-LUKS1-feed-luks")
    lvm = _device(tmp_path, "253:1", "virtual/block/dm-1", "LVM-abcdef")
    (lvm / "slaves").mkdir()
    (lvm / "slaves" / "dm-0").symlink_to(tmp_path / "devices" / "virtual/block/dm-0")
    mounts = MOUNT.format(dev="253:1", fs="ext4", source="/dev/mapper/vg-home")
    found = encryption.linux(Path("/"), sys_root=tmp_path, mountinfo=mounts)
    assert found.state == "encrypted"


def test_a_plain_partition_is_not_encrypted_and_says_what_to_do(tmp_path: Path) -> None:
    _device(tmp_path, "8:2", "pci0000:00/block/sda/sda2")
    mounts = MOUNT.format(dev="8:2", fs="ext4", source="/dev/sda2")
    found = encryption.linux(Path("/srv/x"), sys_root=tmp_path, mountinfo=mounts)
    assert found.state == "not encrypted" and "/dev/sda2" in found.detail
    assert "LUKS" in found.advice and "FileVault" in found.advice


def test_a_container_filesystem_is_unknown_not_guessed(tmp_path: Path) -> None:
    mounts = MOUNT.format(dev="0:52", fs="overlay", source="overlay")
    found = encryption.linux(Path("/app"), sys_root=tmp_path, mountinfo=mounts)
    assert found.state == "unknown" and "overlay" in found.detail


def test_the_deepest_mount_decides(tmp_path: Path) -> None:
    _device(tmp_path, "8:2", "pci0000:00/block/sda/sda2")
    _device(tmp_path, "253:0", "virtual/block/dm-0", "CRYPT-PLAIN-home")
    mounts = MOUNT.format(dev="8:2", fs="ext4", source="/dev/sda2") + (
        "40 27 253:0 / /home rw,relatime - ext4 /dev/mapper/home rw\n"
    )
    assert encryption.linux(Path("/home/me"), sys_root=tmp_path, mountinfo=mounts).state == (
        "encrypted"
    )
    assert encryption.linux(Path("/var"), sys_root=tmp_path, mountinfo=mounts).state == (
        "not encrypted"
    )


def test_this_machine_gives_an_answer_with_its_reason(hearth_home: Path) -> None:
    found = encryption.status(hearth_home)
    assert found.state in ("encrypted", "not encrypted", "unknown")
    assert found.detail
