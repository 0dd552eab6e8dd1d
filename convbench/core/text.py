"""Text from outside (a host's, workload's or file's name, a failure's reason) made safe to
print: every character that is not printable written as its escape."""


def visible(text) -> str:
    """text with every character that is not printable (C0 and C1 controls such as a newline
    or a terminal's ESC, DEL, the line and paragraph separators, the bidirectional overrides;
    the space stays) written as its escape ('\\n', '\\x1b', '\\u202e'), so that it can neither
    break a line or a table nor send a terminal escape sequence."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
