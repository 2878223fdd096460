"""Untrusted text loses everything a terminal would act on, and keeps what a viewer typed."""

from agent.protocol.text import REPLACEMENT, inert


def test_escape_sequences_become_visible_stand_ins() -> None:
    out = inert("\x1b[2J\x1b]0;pwned\x07hi")
    assert "\x1b" not in out and "\x07" not in out
    assert out == f"{REPLACEMENT}[2J{REPLACEMENT}]0;pwned{REPLACEMENT}hi"


def test_c1_controls_and_del_are_replaced() -> None:
    assert inert("a\x9bb\x7fc") == f"a{REPLACEMENT}b{REPLACEMENT}c"


def test_newlines_and_tabs_keep_one_line() -> None:
    assert inert("one\ntwo\r\tthree\u2028four") == "one two  three four"


def test_bidi_overrides_are_removed() -> None:
    assert inert("user\u202egnp.exe") == "usergnp.exe"


def test_markup_and_unicode_are_kept_verbatim() -> None:
    text = "[bold red]hi[/] [link=https://x]y[/link] 안녕 👩‍💻"
    assert inert(text) == text


def test_long_text_is_cut_with_an_ellipsis() -> None:
    out = inert("x" * 600, limit=100)
    assert len(out) == 100 and out.endswith("\u2026")
