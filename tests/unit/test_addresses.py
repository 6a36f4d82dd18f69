"""parse_mailbox is memoised: the same text gives an equal Address, a bad one is refused every time;
the header texts of a message are checked at once as each alone would be."""

import threading
from email.headerregistry import Address
from email.policy import default

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dinky_falcon.mail.addresses import (
    PARSE_CACHE_SIZE,
    AddressError,
    first_unsafe,
    format_address_list,
    has_unsafe_header_chars,
    parse_mailbox,
)


def test_a_cached_address_is_the_same_address():
    first = parse_mailbox("Ada Lovelace <ada@example.org>")
    second = parse_mailbox("Ada Lovelace <ada@example.org>")
    assert first is second  # served from the memo
    assert (second.display_name, second.username, second.domain) == (
        "Ada Lovelace",
        "ada",
        "example.org",
    )
    assert parse_mailbox("ada@example.org") == parse_mailbox("ada@example.org")
    assert parse_mailbox("ada@example.org").display_name == ""


@pytest.mark.parametrize(
    "text", ["not an address", "a@b\r\nBcc: x@example.org", "x@localhost.test", "a" * 600]
)
def test_a_bad_address_is_refused_every_time(text):
    before = parse_mailbox.cache_info()
    for _ in range(3):
        with pytest.raises(AddressError):
            parse_mailbox(text)
    after = parse_mailbox.cache_info()
    assert after.misses - before.misses == 3  # never answered from the memo
    assert after.hits == before.hits


def test_the_memo_is_bounded():
    assert parse_mailbox.cache_info().maxsize == PARSE_CACHE_SIZE
    for number in range(PARSE_CACHE_SIZE + 10):
        parse_mailbox(f"user{number}@example.org")
    assert parse_mailbox.cache_info().currsize <= PARSE_CACHE_SIZE
    assert parse_mailbox("user0@example.org").addr_spec == "user0@example.org"


def test_parsing_from_many_threads_gives_the_same_answers():
    texts = [f"Name{n} <n{n}@example.org>" for n in range(50)] + ["bad address"] * 5
    results, failures = [], []

    def work():
        for text in texts:
            try:
                address = parse_mailbox(text)
                results.append((text, address.display_name, address.addr_spec))
            except AddressError:
                failures.append(text)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failures) == 8 * 5
    assert all(name == text.split(" <")[0] and f"<{spec}>" in text for text, name, spec in results)
    assert len(results) == 8 * 50


@pytest.mark.parametrize(
    "name", ["Ada Lovelace", "0  0", " Ada", "Ada ", "Ada\tLovelace", 'A "B" C']
)
def test_a_display_name_reads_back_exactly_as_given(name):
    value = format_address_list([Address(name, "ada", "example.org")])
    (address,) = default.header_factory("To", value).addresses
    assert address.display_name == name


def test_a_run_of_spaces_in_a_name_is_one_space_whichever_form_gives_it(make_client):
    client, mailer = make_client(MAIL_TRANSPORT="memory")
    sent = mailer.transports[0][1].sent
    for to in (
        "Ada  Lovelace <ada@example.org>",
        {"name": " Ada \t Lovelace ", "email": "ada@example.org"},
    ):
        body = {"to": to, "subject": "Hi", "body": "x", "sender_name": "The   Site"}
        assert client.simulate_post("/send", json=body).status_code == 200
        message, _ = sent.pop()
        assert (
            message["To"].addresses[0].display_name,
            message["From"].addresses[0].display_name,
        ) == ("Ada Lovelace", "The Site")


# Texts made of what matters to the check: encoded-word marks, line breaks and their Unicode
# relatives, TAB (the join's separator), and a word that decodes to a line break.
HEADER_TEXTS = st.lists(
    st.sampled_from(["a", " ", "=", "?", "\t", "\r", "\n", "\x85", "\u2028", "=?utf-8?q?=0A?="]),
    max_size=8,
).map("".join)


@given(st.lists(st.tuples(st.sampled_from(["subject", "to", "tags"]), HEADER_TEXTS), max_size=6))
def test_the_first_unsafe_text_is_found_as_one_by_one_would_find_it(texts):
    expected = next((name for name, text in texts if has_unsafe_header_chars(text)), None)
    assert first_unsafe(texts) == expected
