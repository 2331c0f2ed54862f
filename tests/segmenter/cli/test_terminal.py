"""The progress display in a real pseudo-terminal of 80 and 120 columns, as the screen
shows it (pyte): no redraw wraps, no stray characters, k/N with sample/acquisition, a
newline before the summary, the Ctrl-C note on its own line."""

from __future__ import annotations

import re
from pathlib import Path

import pyte
import pytest

from segmenter import cli
from segmenter.synth import SynthSpec, write_acquisition
from tests.segmenter.cli.terminal import WrapCountingScreen, run_in_terminal

BAR = re.compile(
    r"^(?P<k>\d)/3 synth_s\d/synth_a\d +100%\|█+\| 6/6 +[\d.?]+(fr/s|s/fr) ETA 00:00, "
    r"(?P<n>\d+) objects$"
)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for seed in (1, 2, 3):
        write_acquisition(root, SynthSpec(frames=6, objects=6, width=640, height=480, seed=seed))
    return root


@pytest.mark.parametrize("columns", [80, 120])
def test_three_acquisitions_fit_the_terminal(three: Path, columns: int) -> None:
    screen = run_in_terminal(["segment", str(three), "--workers", "1", "--force"], columns=columns)
    assert screen.code == 0, screen.raw
    bars, summaries = screen.lines[:3], screen.lines[3:]
    assert [m.group("k") for b in bars if (m := BAR.match(b))] == ["1", "2", "3"], bars
    assert all(len(b) <= columns for b in bars)
    # each summary line starts on a line of its own; long paths wrap like any text
    assert summaries[0].startswith("done: ")
    text = screen.raw.split("\n", 3)[-1]  # what was written after the three bars' lines
    objects = [BAR.match(b).group("n") for b in bars]  # type: ignore[union-attr]
    for k, n in zip((1, 2, 3), objects, strict=True):
        assert f"synth_s{k}/synth_a{k}: {n} objects in 6 frames -> " in text
    before_summary = screen.raw.split("done:")[0]
    drawn = run_screen_wraps(before_summary, columns)
    assert drawn == 0, "a redraw of the bar went past the last column"


def run_screen_wraps(raw: str, columns: int) -> int:

    screen = WrapCountingScreen(columns, 50)
    pyte.Stream(screen).feed(raw)
    return screen.wrapped


def test_ctrl_c_leaves_the_bar_and_then_the_summary_on_their_own_lines(tmp_path: Path) -> None:
    write_acquisition(tmp_path, SynthSpec(frames=80, objects=6, width=1352, height=1014, seed=4))
    screen = run_in_terminal(
        # Ctrl-C once a frame is done: most are still to come
        ["segment", str(tmp_path), "--workers", "1"],
        columns=80,
        interrupt_at=r"\| [1-9]\d*/80",
    )
    assert screen.code == 130, screen.raw
    lines = [line for line in screen.lines if line]
    assert lines[0] == "stopping: finished frames are kept; run again to resume"
    assert re.match(r"^synth_s4/synth_a4 +\d+%\|.*\| \d+/80 .*, \d+ objects$", lines[1]), lines
    assert lines[2].startswith("interrupted: ")  # on a line of its own
    summary = screen.raw[screen.raw.index("interrupted: ") :]  # wrapped on the screen
    assert "objects so far (stopped after" in summary


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(
    three: Path, capfd: pytest.CaptureFixture[str]
) -> None:

    assert cli.main(["segment", str(three), "--workers", "1", "--force"]) == 0
    err = capfd.readouterr().err
    assert "\r" not in err and "%|" not in err
    assert err.count("\n") == 3 and all(line.startswith("done: ") for line in err.splitlines())
