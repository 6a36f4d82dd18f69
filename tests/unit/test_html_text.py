"""The plain-text alternative derived from an HTML-only message."""

import pytest

from dinky_falcon.mail.html_text import html_to_text


@pytest.mark.parametrize(
    "html, text",
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo\n"),
        ("a<br>b<br/>c", "a\nb\nc\n"),
        ("<h1>Title</h1>body", "Title\n\nbody\n"),
        ("<ul><li>x</li><li>y</li></ul>", "- x\n- y\n"),
        ("<a href='https://example.org/x'>the page</a>", "the page (https://example.org/x)\n"),
        ("<a href='https://example.org'>https://example.org</a>", "https://example.org\n"),
        ("<a href='mailto:a@example.org'>write</a>", "write (a@example.org)\n"),
        ("<a href='#top'>top</a>", "top\n"),
        ("<img src='cid:logo' alt='Logo'>", "Logo\n"),
        ("<style>p{}</style><script>x()</script><p>seen</p>", "seen\n"),
        ("<head><title>T</title></head><body>b</body>", "b\n"),
        ("Fish &amp; chips &lt;3 &#8364;5", "Fish & chips <3 €5\n"),
        ("  lots   of\n\n  space  ", "lots of space\n"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc\n"),
        ("<p>unclosed <b>tags", "unclosed tags\n"),
        ("", "\n"),
    ],
)
def test_html_becomes_readable_text(html, text):
    assert html_to_text(html) == text
