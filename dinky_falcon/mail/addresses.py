"""Parsing and checking what goes into a header: mailboxes and single-line text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email import _encoded_words, errors
from email.charset import Charset
from email.header import decode_header
from email.headerregistry import Address
from email.policy import default as default_policy
from functools import lru_cache
from string import hexdigits

from email_validator import EmailNotValidError, validate_email

# Characters that end or corrupt a header line: every C0/C1 control but TAB, DEL, and the
# Unicode separators that str.splitlines() (and so the email package) treats as line breaks.
_UNSAFE_IN_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# What an RFC 2047 encoded word must not decode to: the same, and the lone surrogates that
# stand for bytes its charset cannot decode (no mail reader shows them as written).
_UNSAFE_DECODED = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NEEDS_HEADER_PARSER = re.compile(r'[<>"(),;:]')
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# Atoms one space apart: a phrase that needs no quotes (RFC 5322). Readers fold any other run
# of white space in a bare phrase to one space, so "Ada  Lovelace" is quoted to keep its two.
_PHRASE = rf"{_ATEXT}(?: {_ATEXT})*"
# "Ada Lovelace <ada@example.org>": such a phrase and a dot-atom address.
_SIMPLE_NAME_ADDR = re.compile(
    rf"(?P<name>{_PHRASE}) <(?P<spec>{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
)
_ATOM_PHRASE = re.compile(_PHRASE)
_WHITE_SPACE_RUN = re.compile(r"[ \t]+")
MAX_DISPLAY_NAME = 100  # keeps every header line far below SMTP's 998 characters
# Whole mailbox text (with its display name): the standard library's address parser is slow
# on very long input, and the email package folds a long name in quadratic time.
MAX_MAILBOX_LENGTH = 512
_UTF8 = Charset("utf-8")
# parse_mailbox's memo: a site sends from one sender to a few recipients, and email-validator
# is the costly part of an address (bench/RESULTS.md). Only valid addresses are kept (an exception is not cached),
# each at most MAX_MAILBOX_LENGTH characters: a full memo is a few MB at worst.
PARSE_CACHE_SIZE = 4096
# The names RFC 2606 and RFC 6761 keep off the Internet, which developers' test addresses use
# (me@localhost, dev@shop.test, printer.local). Mail to them reaches nothing, so they are
# accepted only where nothing leaves the machine (Settings.accepts_test_domains).
TEST_DOMAINS = ("test", "example", "invalid", "localhost", "local")
# email-validator refuses special-use names with no per-call switch (only a process-wide one,
# for .test alone): a test domain is validated under this ordinary name, which is then dropped.
_STAND_IN = ".example"


class AddressError(ValueError):
    """The text is not one usable mailbox; the message says why."""


def has_unsafe_header_chars(text: str) -> bool:
    """True when ``text`` would break out of a header line (CR, LF and their relatives), as
    written or once the email package decodes the RFC 2047 encoded words in it.

    "Encoded word" is what the email package's own decoders take for one, not what RFC 2047
    allows: its header parser (every header of an ``EmailMessage``) also decodes words with
    white space inside (``=?utf-8?q?=0D=0AX-Injected:_1 ?=``) or run together, and its
    legacy ``decode_header`` (compat32 readers) reads some the parser does not.
    """
    if _UNSAFE_IN_HEADER.search(text) is not None:
        return True
    return "=?" in text and (_parser_decodes_unsafely(text) or _legacy_decodes_unsafely(text))


def first_unsafe(texts: Iterable[tuple[str, str]]) -> str | None:
    """The name of the first ``(name, text)`` whose text has_unsafe_header_chars, or None.

    All at once first: a TAB between two texts is no unsafe character and makes no "=?", so
    when their join has neither, no text has (the common case, one search instead of many).
    """
    texts = list(texts)
    joined = "\t".join(text for _, text in texts)
    if "=?" not in joined and _UNSAFE_IN_HEADER.search(joined) is None:
        return None
    return next((name for name, text in texts if has_unsafe_header_chars(text)), None)


def _parser_decodes_unsafely(text: str) -> bool:
    # The parser may start a word at any "=?" (after white space, inside an atom, a quoted
    # string, a comment...): decode the word it would read at each one.
    start = text.find("=?")
    while start != -1:
        word = encoded_word_at(text, start)
        if word is not None:
            try:
                decoded = _encoded_words.decode(word)[0]
            except (ValueError, KeyError):
                pass  # the parser keeps these characters as they are
            except Exception:  # noqa: BLE001 - a word the decoder chokes on is refused
                return True
            else:
                if _UNSAFE_DECODED.search(decoded) is not None:
                    return True
        start = text.find("=?", start + 1)
    return False


def encoded_word_at(text: str, start: int) -> str | None:
    """The encoded word that the header parser's ``get_encoded_word`` reads where ``text``
    has "=?" at ``start`` (up to the first "?=", or the second when "=XX" follows the first:
    a q-encoded text that begins with an escape), or None when there is none.

    Its own steps, without its tokens (quadratic in the words of the decoded text), so that
    a text of "=?" everywhere costs milliseconds; tests/http/test_header_injection.py holds the
    two to the same answers.
    """
    end = text.find("?=", start + 2)
    if end == -1:
        return None
    token = text[start + 2 : end]
    after = text[end + 2 : end + 4]
    if len(after) == 2 and after[0] in hexdigits and after[1] in hexdigits and token.count("?") < 2:
        second = text.find("?=", end + 2)
        token = text[start + 2 : second if second != -1 else len(text)]
    return f"=?{token}?="


def _legacy_decodes_unsafely(text: str) -> bool:
    try:
        parts = decode_header(text)
    except Exception:  # noqa: BLE001 - a header that this decoder cannot read is refused
        return True
    for data, charset in parts:
        if charset is None:
            continue  # text outside encoded words, checked as written
        try:
            decoded = data.decode(charset, "surrogateescape")
        except (LookupError, UnicodeError):
            decoded = data.decode("ascii", "surrogateescape")
        if _UNSAFE_DECODED.search(decoded) is not None:
            return True
    return False


def tidy_display_name(name: str) -> str:
    """Each run of spaces and tabs made one space, none at either end: the name every mail
    reader shows (a bare phrase's white space folds), and what ``Name <a@example.org>``
    already parses to."""
    return _WHITE_SPACE_RUN.sub(" ", name).strip()


def needs_smtputf8(address: Address) -> bool:
    """True when the local part is not ASCII: only an SMTPUTF8 server can take it.

    Domains never need it: parse_mailbox stores them IDNA-encoded (``xn--...``).
    """
    return not address.username.isascii()


def split_name_addr(text: str) -> tuple[str, str]:
    """``Name <a@example.org>`` -> (display name, addr-spec), as RFC 5322's parser reads it."""
    simple = _SIMPLE_NAME_ADDR.fullmatch(text)
    if simple and "=?" not in simple["name"]:
        # Atoms and a dot-atom address: what the parser would find, without its cost.
        return simple["name"], simple["spec"]
    return parse_name_addr(text)


def parse_name_addr(text: str) -> tuple[str, str]:
    """split_name_addr() by the email package's header parser, for any input."""
    try:
        header = default_policy.header_factory("to", text)
        groups = header.groups
    except Exception:  # noqa: BLE001 - the parser raises IndexError and more on bad input
        raise AddressError("is not a single valid email address") from None
    # A non-ASCII local part is a "defect" to RFC 5322 only; SMTPUTF8 carries it.
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects or len(groups) != 1 or groups[0].display_name is not None:
        raise AddressError("is not a single valid email address")
    (mailbox,) = groups[0].addresses or (None,)
    if mailbox is None:
        raise AddressError("is not a single valid email address")
    return mailbox.display_name, mailbox.addr_spec


def is_test_domain(domain: str) -> bool:
    """Whether ``domain`` is one of TEST_DOMAINS or under one (``shop.test``)."""
    name = domain.lower()
    return any(name == test or name.endswith("." + test) for test in TEST_DOMAINS)


def _validate(spec: str, test_domains: bool) -> tuple[str, str]:
    """(local part, ASCII domain) of an addr-spec, by email-validator."""
    local, at, domain = spec.rpartition("@")
    if test_domains and at and is_test_domain(domain):
        valid = validate_email(
            f"{local}@{domain}{_STAND_IN}", check_deliverability=False, allow_smtputf8=True
        )
        return valid.local_part, valid.ascii_domain.removesuffix(_STAND_IN)
    try:
        valid = validate_email(spec, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        if at and is_test_domain(domain):  # "me@localhost": not "It should have a period"
            raise AddressError(
                f"{domain} is a special-use name (RFC 2606/6761) that mail cannot reach"
            ) from None
        raise
    return valid.local_part, valid.ascii_domain


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_mailbox(text: str, test_domains: bool = False) -> Address:
    """``a@example.org`` or ``Name <a@example.org>`` -> Address, or AddressError.

    Internationalised domains are stored IDNA-encoded; a non-ASCII local part is accepted
    (normalised to NFC) and needs SMTPUTF8 on the way out (see ``needs_smtputf8``).
    ``test_domains``: accept the special-use TEST_DOMAINS too (development with a sink).

    Memoised (a pure function of its arguments, ``test_domains`` part of the key; Address is
    immutable, so callers may share one); a refused address is parsed, and refused, again
    every time.
    """
    if len(text) > MAX_MAILBOX_LENGTH:
        raise AddressError(f"longer than {MAX_MAILBOX_LENGTH} characters")
    if has_unsafe_header_chars(text):
        raise AddressError("must not contain line breaks or control characters")
    text = text.strip()
    name = ""
    spec = text
    if _NEEDS_HEADER_PARSER.search(text):
        name, spec = split_name_addr(text)
        if len(name) > MAX_DISPLAY_NAME:
            raise AddressError(f"the display name is over {MAX_DISPLAY_NAME} characters")
        if has_unsafe_header_chars(name):  # decoded, it may hold an encoded word of its own
            raise AddressError("must not contain line breaks or control characters")
    try:
        local_part, domain = _validate(spec, test_domains)
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    try:
        return Address(display_name=name, username=local_part, domain=domain)
    except ValueError as exc:  # what the header parser decoded may still be unusable
        raise AddressError(str(exc)) from None


def format_address_list(addresses) -> str:
    """An address-list header value, folded one address per line, for ``Message.set_raw``.

    The email package's own folder (CPython 3.11, 3.12) sometimes puts the comma between two
    addresses inside an RFC 2047 encoded word when a display name is not ASCII, and a reader
    then sees one address where there were several. Here each display name is encoded on its
    own and the separators stay plain.
    """
    return ",\n ".join(_format_mailbox(address) for address in addresses)


def _format_mailbox(address: Address) -> str:
    name = address.display_name
    if not name:
        return address.addr_spec
    if not name.isascii():
        # One encoded word, even past RFC 2047's 75 characters: readers accept it, while
        # several adjacent words are joined with a stray space by some (Python's own parser
        # among them). MAX_DISPLAY_NAME keeps the line short.
        name = _UTF8.header_encode(name)
    elif not _ATOM_PHRASE.fullmatch(name) or "=?" in name:
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address.addr_spec}>"
