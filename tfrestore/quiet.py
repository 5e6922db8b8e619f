"""Keeping native libraries' log lines (TensorFlow, LiteRT) off the terminal.

Imports nothing heavy, so the `tfrestore` command can use it before TensorFlow loads.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_captured():
    """Sends what is written to file descriptor 2 during the block (native code writes there
    directly, past `sys.stderr`) to a temporary file, shown on stderr only if the block
    raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
