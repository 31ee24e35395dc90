"""Opening files where another user may have been first: no FIFO, no symlink, no stranger.

``follow`` runs as root for months and keeps files in directories: its state
and lock, the JSON Lines alert file, the spool. Where another user can write,
that user can plant a symbolic link (root then creates or appends to the file
it points at), a hard link, or a FIFO (root then blocks in ``open`` forever,
deaf to SIGTERM). So files are opened non-blocking and must turn out to be
regular files; files we write are opened without following a final symlink;
and a directory that holds our own files must be ours (or root's) and closed
to everyone else's writes. Log files are the exception to "never follow": a log
path may well be a symlink, but what it names must still be a regular file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class UnsafeFile(OSError):
    """The path names something spamwatch must not open (its reason is ``strerror``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(errno.EPERM, reason, path)


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, in words ("a FIFO"), for "not a regular file" messages."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(
    path: str, flags: int = os.O_RDONLY, mode: int = 0o600, *, follow: bool = True
) -> int:
    """``os.open`` that cannot block on a FIFO and opens regular files only.

    ``follow=False`` adds ``O_NOFOLLOW``: a symlink as the last component is
    refused (for files spamwatch writes or owns). Raises ``UnsafeFile`` for a
    symlink or anything but a regular file, OSError as ``os.open`` does
    otherwise. The descriptor is returned blocking again, close-on-exec.
    """
    extra = os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags | extra, mode)
    except OSError:
        reason = _refused(path, follow)  # ELOOP, ENXIO (a FIFO without reader), EACCES...
        if reason:
            raise UnsafeFile(path, reason) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(path, f"not a regular file ({kind_of(info.st_mode)})")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refused(path: str, follow: bool) -> str | None:
    """Why an ``open`` of ``path`` that failed was refused, when the name itself says so."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link (refused: it may point anywhere)"
    if stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
        return None  # the open's own error says it better
    return f"not a regular file ({kind_of(info.st_mode)})"


def open_own(path: str, flags: int, mode: int = 0o600) -> int:
    """Open (or create) a file spamwatch owns: regular, no symlink, no other owner, one link.

    For files kept across runs in a directory (the state lock, the JSON Lines
    alert file): a hard link planted there could name a file of root's; a file
    planted by another user would be written with our alerts for them to read.
    """
    return _open_owned(path, flags, mode, (os.geteuid(), 0))


def open_service_file(path: str, flags: int, mode: int = 0o600) -> int:
    """Open (or create) a file in a state directory the service user owns, also as root.

    As ``open_own``, except that the file may also belong to the directory's
    owner: the admin runs ``spamwatch contain`` by hand as root in the
    directory of the ``spamwatch`` service (StateDirectory=) and must use its
    files, never be sent elsewhere by a link planted there. A file root
    creates there is given to that owner (``give_to_directory_owner``).
    """
    owner = os.stat(os.path.dirname(os.path.abspath(path))).st_uid
    fd = _open_owned(path, flags, mode, (os.geteuid(), 0, owner))
    give_to_directory_owner(path)
    return fd


def make_service_dir(directory: str) -> None:
    """``os.makedirs`` for a directory inside a service's state directory, as ``open_service_file``.

    It must turn out a real directory (a symlink planted in its place is
    refused: root would write wherever it points) of ours, root's or the
    parent directory's owner, to whom one root creates is given.
    """
    os.makedirs(directory, mode=0o750, exist_ok=True)
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile(directory, "is a symbolic link (refused: it may point anywhere)")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFile(directory, "is not a directory")
    owner = os.stat(os.path.dirname(os.path.abspath(directory))).st_uid
    if info.st_uid not in (os.geteuid(), 0, owner):
        raise UnsafeFile(directory, f"belongs to another user (uid {info.st_uid})")
    give_to_directory_owner(directory)


def _open_owned(path: str, flags: int, mode: int, owners: tuple[int, ...]) -> int:
    """``open_regular`` without following a symlink; the file's owner in ``owners``, one link."""
    fd = open_regular(path, flags, mode, follow=False)
    info = os.fstat(fd)
    problem = None
    if info.st_uid not in owners:
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_nlink > 1:
        problem = f"has {info.st_nlink} hard links (refused: one may be another file)"
    if problem:
        os.close(fd)
        raise UnsafeFile(path, problem)
    return fd


def private_dir_problem(directory: str) -> str | None:
    """Why ``directory`` is no place for spamwatch's own files, or None when it is.

    It must be a directory owned by the user spamwatch runs as (or root) that
    neither its group nor others may write to: there nobody else can plant a
    name before we create it. Raises OSError when it cannot be looked at.
    """
    info = os.stat(directory)
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid not in (os.geteuid(), 0):
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"is writable by others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def give_to_directory_owner(path: str) -> None:
    """Root made ``path`` in another user's directory: make it that user's.

    The service runs as ``spamwatch`` in the directory it owns
    (``StateDirectory=``); an admin then runs a command by hand in a root shell
    (``spamwatch contain --dry-run``, as README says to start). A root-owned
    0600 file left there (an append-only log, a lock) would lock the service
    out of its own state for good. Only as root, only when the directory
    belongs to another user, never through a symlink; best effort (a failure
    leaves the file as it was, and the service's own error names it).
    """
    if os.geteuid() != 0:
        return
    try:
        mine = os.lstat(path)
        if mine.st_uid != 0 or not _only_ours(mine):
            return  # already theirs, or not a file root made here (a planted link)
        info = os.stat(os.path.dirname(os.path.abspath(path)))
        if info.st_uid != 0:
            os.chown(path, info.st_uid, info.st_gid, follow_symlinks=False)
    except OSError:
        return


def _only_ours(info: os.stat_result) -> bool:
    """A directory, or a regular file with one link (never a hard link to a file elsewhere)."""
    return stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1)
