from rnnbench.printable import printable


def test_escape_sequences_become_visible_and_plain_text_is_untouched():
    hostile = "boom\x1b[2J\x1b]0;owned\x07\rok\u202eevil\x9b"
    assert printable(hostile) == "boom\\x1b[2J\\x1b]0;owned\\x07\\rok\\u202eevil\\x9b"
    assert printable("c é ünïcode ✓ 中文") == "c é ünïcode ✓ 中文"
    assert printable("a\nb\tc") == "a\\nb\\tc"
    assert printable("a\nb\tc\r\x1b", one_line=False) == "a\nb\tc\\r\\x1b"
    assert printable(None) == "None"
