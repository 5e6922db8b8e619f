"""Atomic outputs: write beside the destination, rename into place only once complete.

    >>> with atomic_output("out/model.tflite") as temporary:
    ...     with open(temporary, "wb") as file:
    ...         file.write(flatbuffer)

Readers never see a half-written file or folder, and an existing one at the destination is
kept if writing fails. The temporary file or folder is created with the permissions a plain
`open()` or `mkdir` would give (0666 or 0777 minus the umask, or the folder's default ACL),
not `tempfile`'s private 0600/0700, which the rename would keep.
"""

import contextlib
import os
import shutil
import uuid

_PREFIX = ".tmp-"


def temporary_sibling(path, directory=False):
    """Creates an empty file (or folder) next to `path`, on the same filesystem so the final
    rename is atomic, and returns its path.

    Its name is hidden and ends with the name of `path` (`.tmp-1a2b3c4d-model.keras`), so
    writers that check the extension (Keras) accept it. Missing parent folders are created.
    """
    parent, name = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(parent, exist_ok=True)
    while True:
        temporary = os.path.join(parent, f"{_PREFIX}{uuid.uuid4().hex[:8]}-{name}")
        try:
            # The kernel applies the umask (or default ACL) to these modes, as for open/mkdir.
            if directory:
                os.mkdir(temporary, 0o777)
            else:
                os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return temporary
        except FileExistsError:
            continue


def is_temporary(name):
    """True for the name of a temporary sibling (left behind only by a killed writer)."""
    return os.path.basename(name).startswith(_PREFIX)


def remove(path):
    """Deletes a file or folder tree if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def commit(temporary, path):
    """Moves `temporary` to `path`, replacing what is there only once the new one is in place."""
    if not os.path.isdir(temporary):
        os.replace(temporary, path)
        return
    if not os.path.exists(path):
        os.rename(temporary, path)
        return
    # A folder cannot be replaced atomically: move the old one aside, move the new one in,
    # then delete the old one (and put it back if the second rename failed).
    parent, name = os.path.split(os.path.abspath(path))
    old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(path, old)
    try:
        os.rename(temporary, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path, directory=False):
    """Yields a fresh temporary file (or empty folder) path to write; on success it replaces
    `path`, on an exception it is deleted and `path` is left as it was."""
    temporary = temporary_sibling(path, directory)
    try:
        yield temporary
        commit(temporary, path)
    except BaseException:
        remove(temporary)
        raise
