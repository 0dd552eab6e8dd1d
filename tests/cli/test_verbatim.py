"""Messages that quote user input quote it verbatim: rich markup, emoji codes and control
characters (a terminal's escape sequences) are shown as they were given, never interpreted."""
from __future__ import annotations

from conftest import assert_clean_error, invoke, run_cli


def test_markup_and_emoji_codes_in_an_error_are_printed_as_given():
    p = invoke("strong", "--launches", "1", "--order", "sequential", "--mpiexec", "[bold red]no-such[/bold red]:smile:")
    assert_clean_error(p, 2, "'[bold red]no-such[/bold red]:smile:'")
    assert "😄" not in p.stderr


def test_control_characters_are_shown_as_escapes(tmp_path):
    p = run_cli("report", str(tmp_path / "x\x1b[2Jy"), timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "\x1b" not in p.stderr and "\\x1b[2Jy" in p.stderr


def test_a_warning_quotes_a_path_verbatim(tmp_path):
    from convbench.cli.common import visible
    assert visible("a\tb\x07c [x] :smile:") == "a\\tb\\x07c [x] :smile:"
