"""Progress: a bar redrawn in place on a terminal, plain lines otherwise."""

import io

from tfrestore.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_terminal_with_tile_notes_every_tenth(capsys):
    stream = io.StringIO()
    progress = Progress(2, "images", stream=stream)
    progress.update(1, "a.jpg written")
    for done in range(1, 21):
        progress.detail("b.jpg", done, 20, f"b.jpg: tiles {done}/20")
    progress.update(2, "b.jpg written")
    progress.message("error: c.jpg: unreadable")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "1/2 images: a.jpg written"
    assert lines[1:-1] == [f"b.jpg: tiles {2 * k}/20" for k in range(1, 11)]
    assert lines[-1] == "2/2 images: b.jpg written"
    assert "\r" not in stream.getvalue()
    assert capsys.readouterr().err == "error: c.jpg: unreadable\n"


def test_a_terminal_gets_one_line_redrawn_and_messages_above_it(capsys):
    stream = Terminal()
    progress = Progress(4, "images", stream=stream)
    progress.update(2, "a.jpg written")
    progress.detail("b.jpg", 3, 16, "b.jpg: tiles 3/16")
    progress.message("error: x.jpg: unreadable")
    progress.close()
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # one line, ended by close
    redraws = text.split("\r\x1b[K")
    assert redraws[1].startswith("[" + "=" * 12 + ">" + " " * 11 + "] 2/4 images")
    assert redraws[1].endswith("a.jpg written")
    assert redraws[2].endswith("b.jpg: tiles 3/16")
    assert redraws[3] == ""  # cleared for the message, then drawn again
    assert redraws[4].startswith("[") and redraws[4].endswith("b.jpg: tiles 3/16\n")
    assert capsys.readouterr().err == "error: x.jpg: unreadable\n"
