"""The terminal progress bar: drawn on a terminal; elsewhere nothing drawn and tqdm not
even imported (start-up time of a service's or a script's run)."""

from __future__ import annotations

import io
import subprocess
import sys

from segmenter.cli.bar import Bars


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_and_lines_above_it() -> None:
    stream = Terminal()
    bars = Bars(stream)
    bars.show("a", "S_12/A_1", done=3, total=10, postfix="12 objects")
    bars.say("a line")
    bars.close()
    text = stream.getvalue()
    assert "S_12/A_1" in text and "3/10" in text and "a line\n" in text


def test_elsewhere_nothing_is_drawn_and_lines_still_come() -> None:
    stream = io.StringIO()
    bars = Bars(stream)
    bars.show("a", "S_12/A_1", done=3, total=10, postfix="12 objects")
    bars.say("a line")
    bars.close()
    assert stream.getvalue() == "a line\n"


def test_tqdm_is_imported_only_for_a_terminal() -> None:
    code = (
        "import io, sys; from segmenter.cli.bar import Bars; b = Bars(io.StringIO()); "
        "b.show('a', 'x', done=1, total=2, postfix=''); b.say('x'); b.close(); "
        "print('tqdm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
