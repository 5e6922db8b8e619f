"""A small progress display: a bar redrawn in place on a terminal, plain lines otherwise.

    >>> progress = Progress(12, "images")
    >>> progress.update(3, "photo.jpg: tiles 5/16")  # [=======        ] 3/12 images  photo.jpg: ...
    >>> progress.close()

On a terminal the bar is one line redrawn with a carriage return; `message` prints a line
(an error, say) above it. When the stream is not a terminal (a log file, a pipe, CI), each
`update` prints one plain line, and notes that update often (tile counts) are printed only
when they pass another tenth of their total, so logs stay short.
"""

import sys
import time

BAR_WIDTH = 24


class Progress:
    """Progress over `total` units on `stream` (default stdout).

    Args:
        total: int, how many units there are.
        unit: str, their name in the plural ("images").
        stream: a text stream (default `sys.stdout`); a terminal when its `isatty()` says so.
    """

    def __init__(self, total, unit, stream=None):
        self.total = int(total)
        self.unit = unit
        self.stream = sys.stdout if stream is None else stream
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.note = ""
        self._drawn = False
        self._start = time.monotonic()
        self._tenths = {}

    def _line(self):
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
        line = f"[{bar[:BAR_WIDTH]}] {self.done}/{self.total} {self.unit}"
        line += f"  {time.monotonic() - self._start:.0f} s"
        return line + (f"  {self.note}" if self.note else "")

    def _draw(self):
        self.stream.write("\r\033[K" + self._line())
        self.stream.flush()
        self._drawn = True

    def update(self, done, note=""):
        """Sets the units done, with an optional note (what is being worked on)."""
        self.done, self.note = int(done), note
        if self.terminal:
            self._draw()
        else:
            print(
                f"{self.done}/{self.total} {self.unit}" + (f": {note}" if note else ""),
                file=self.stream,
                flush=True,
            )

    def detail(self, key, done, total, text):
        """A note on the unit in progress, e.g. ("photo.jpg", 5, 16, "photo.jpg: tiles 5/16").

        On a terminal it replaces the bar's note at once; otherwise `text` is printed as a line
        when `done / total` passes another tenth for `key` (and at the end).
        """
        if self.terminal:
            self.note = text
            self._draw()
            return
        tenth = 10 * done // max(total, 1)
        if tenth > self._tenths.get(key, 0) or done == total:
            self._tenths[key] = tenth
            print(text, file=self.stream, flush=True)

    def message(self, text, stream=None):
        """Prints a line above the bar (on `stream`, default stderr), then redraws the bar."""
        if self.terminal and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
        print(text, file=sys.stderr if stream is None else stream, flush=True)
        if self.terminal and self._drawn:
            self._draw()

    def close(self):
        """Ends the bar's line (terminal only)."""
        if self.terminal and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
