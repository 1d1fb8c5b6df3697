from rnnbench.printable import printable


def test_escape_sequences_become_visible_and_plain_text_is_untouched():
    hostile = "boom\x1b[2J\x1b]0;owned\x07\rok\u202eevil\x9b"
    assert printable(hostile) == "boom\\x1b[2J\\x1b]0;owned\\x07\\x0dok\\u202eevil\\x9b"
    assert printable("a\tb\nc é ünïcode ✓") == "a\tb\nc é ünïcode ✓"
    assert printable("a\nb\tc", one_line=True) == "a\\x0ab\\x09c"
    assert printable(None) == "None"
