"""Untrusted text (ids, labels, file names, reasons) made safe to print or to write one per line.

An id in a released list or a file name in an input folder can be anything: half a million
characters, a newline, a terminal escape sequence that clears the screen. :func:`shown` is the one
way avprep puts such text into a message; :func:`escape_line` / :func:`unescape_line` write and
read it one per line in a text file without ambiguity.
"""

from __future__ import annotations

import re

#: longest piece of untrusted text a message shows (its start and end are kept)
SHOWN_LIMIT = 100

ELLIPSIS = "..."

# C0 and C1 controls, DEL, and the characters str.splitlines() breaks lines at; ESC is among them,
# so no terminal escape sequence survives.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# what escape_line writes: the backslash itself, anything that breaks or hides a line, and lone
# surrogates (a list may hold them; UTF-8 cannot)
_LINE_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_LINE_ESCAPE = re.compile(r"\\(?:(\\)|([nrt])|x([0-9a-f]{2})|u([0-9a-f]{4}))")


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """``value`` as a message may print it: control characters, escape sequences, line breaks
    and lone surrogates as visible escapes (``\\x1b``, ``\\n``, ``\\ud800``), and when longer than
    ``limit`` characters its start and end around an ellipsis, with the full length::

        shown("a\\x1b[2Jb")        -> 'a\\x1b[2Jb'
        shown("x" * 500000)       -> 'xxx...xxx (500000 characters)'
    """
    text = value if isinstance(value, str) else str(value)
    length = len(text)
    if length > limit:
        keep = max(limit - 1, 2)
        text = f"{text[:keep * 2 // 3]}{ELLIPSIS}{text[length - keep // 3:]}"
    text = _UNSAFE.sub(lambda m: _escape(m.group()), text)
    text = _SURROGATE.sub(lambda m: _escape(m.group()), text)
    if length > limit:
        text += f" ({length} characters)"
    return text


def escape_line(text: str) -> str:
    """``text`` for a one-per-line text file: a backslash becomes ``\\\\``, a newline ``\\n``, a
    carriage return ``\\r``, a tab ``\\t``, other control or line-separator characters and lone
    surrogates ``\\xNN`` or ``\\uNNNN``. Text without any of these (every YouTube id) is written
    as it is; :func:`unescape_line` gives back the original."""
    return _LINE_UNSAFE.sub(lambda m: _escape(m.group()), text)


def unescape_line(line: str) -> str:
    """The text that :func:`escape_line` turned into ``line``."""
    def back(m: "re.Match[str]") -> str:
        if m.group(1):
            return "\\"
        if m.group(2):
            return {"n": "\n", "r": "\r", "t": "\t"}[m.group(2)]
        return chr(int(m.group(3) or m.group(4), 16))
    return _LINE_ESCAPE.sub(back, line)


def lines_text(values) -> str:
    """The text of a file with each of ``values`` escaped on its own line (see
    :func:`escape_line`)."""
    return "".join(f"{escape_line(v)}\n" for v in values)
