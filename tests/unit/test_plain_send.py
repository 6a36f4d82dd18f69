"""The plain path (web/plain_send.py) answers exactly as SendSchema.load or not at all: for
every document it returns the schema's own SendRequest, or None and leaves it to the schema."""

from hypothesis import event, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from dinky_falcon.mail.addresses import TEST_DOMAINS
from dinky_falcon.web.plain_send import plain_request
from dinky_falcon.web.schemas import MAX_REPLY_TO, MAX_SUBJECT_LENGTH, SendSchema
from support.samples import SEED_REQUEST

REFUSED = "refused"

# What breaks headers and addresses: line breaks and their Unicode relatives, NUL, separators,
# quotes, encoded words (plain, and decoding to CR/LF), non-ASCII, white space of every kind.
PIECES = [
    *'\r\n\x00\x0b\x0c\x85\u2028\u2029\u00a0\u3000:;,<>"()@ \t.\\=?',
    "=?utf-8?q?=0D=0AX-Injected:_1?=",
    "=?utf-8?b?SGk=?=",
    "=?utf-8?q?Ada?=",
    "Ä",
    "東",
    "\U0001f600",
    "é",
]
nasty_text = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=12).map("".join)
words = st.sampled_from(["Ada", "Lovelace", "Zoë", "東京", "O'Neil", "a.b", "x" * 101])
local_parts = st.sampled_from(["ada", "a.b", "a+tag", "A_b-c", "ä", "ü.x", ".a", "a..b", "x" * 65])
good_domains = st.sampled_from(["example.org", "example.net", "mail.example.com"])
domains = good_domains | st.sampled_from(
    [
        "example.net",
        "bücher.example",
        "xn--bcher-kva.example",
        "localhost",
        "a.b.c.example.com",
        "-bad.org",
        "no_underscore.org",
        "1.2.3.4",
        "[127.0.0.1]",
        "example.org.",
        *TEST_DOMAINS,
        *(f"shop.{name}" for name in TEST_DOMAINS),
        "x.onion",
        "arpa",
    ]
)
specs = st.builds("{}@{}".format, local_parts, domains)
good_specs = st.builds("{}@{}".format, st.sampled_from(["ada", "b.c", "d+e"]), good_domains)
good_addresses = good_specs | st.builds("{} <{}>".format, words, good_specs)
names = st.lists(words, min_size=1, max_size=3).map(" ".join) | nasty_text
addresses = st.one_of(
    specs,
    st.builds("{} <{}>".format, names, specs),
    st.builds('"{}" <{}>'.format, names, specs),
    st.builds("{}{}{}".format, nasty_text, specs, nasty_text),
    st.builds("{}, {}".format, specs, specs),
    nasty_text,
    st.text(min_size=500, max_size=600).map(lambda text: text + "@example.org"),
)
wrong_types = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
address_objects = st.fixed_dictionaries(
    {"email": specs}, optional={"name": names, "extra": st.text(max_size=3)}
)
one_address = addresses | address_objects | wrong_types
mailbox_lists = st.one_of(
    one_address,
    st.lists(addresses, min_size=1, max_size=4),
    st.lists(one_address | st.lists(addresses, max_size=2), max_size=4),
    # many, around and over MAX_RECIPIENTS / MAX_REPLY_TO (the same address, parsed once)
    st.integers(0, 70).flatmap(lambda n: st.just(["ada@example.org"] * n)),
)
good_text = st.sampled_from(["Hello", " Hi ", "Zoë", "<p>Hi</p>", "Line\nbreak"])
text_values = st.one_of(
    st.text(max_size=40),
    nasty_text,
    st.sampled_from(["", " ", "\t", "Hello", "  Hi  ", "\u3000Hi\u3000"]),
    st.integers(0, 3).map(lambda n: " " * n + "s" * (MAX_SUBJECT_LENGTH - 1) + " " * n),
    wrong_types,
    st.lists(st.text(max_size=3), max_size=2),
)
html_values = st.booleans() | text_values
KNOWN = ["to", "cc", "bcc", "reply_to", "from", "subject", "body", "text", "html"]
OTHER = ["from_", "sender_name", "tags", "headers", "attachments", "To", "", "subject "]
good_lists = good_addresses | st.lists(good_addresses, min_size=1, max_size=3)
good_documents = st.builds(
    lambda fields, bodies: {**fields, **bodies},
    st.fixed_dictionaries(
        {"to": good_lists, "subject": good_text},
        optional={
            "cc": good_lists,
            "bcc": good_lists,
            "reply_to": good_lists,
            "from": good_addresses,
        },
    ),
    st.one_of(
        st.fixed_dictionaries({"body": good_text}, optional={"html": st.booleans()}),
        st.fixed_dictionaries({"text": good_text}, optional={"html": good_text}),
        st.fixed_dictionaries({"html": good_text}),
    ),
)
# Values just past one rule each, drawn as often as all the others together.
EDGE_TEXT = ["", " ", "\t\u3000", "\x00", "Hi\x00", "Hi\r\nBcc: x@example.org", "Hi\u2028"]
EDGE_TEXT += ["=?utf-8?q?=0D=0AX:_1?=", "x" * 999, " " + "x" * 998, None, 0, True, ["Hi"], {}]
EDGE_ADDRESSES = [[], [""], "", None, 1, ["ada@example.org", None], ["ada@example.org"] * 11]
EDGE_ADDRESSES += [["ada@example.org"] * 51, "dev@shop.test", ["me@localhost"], "a@x.local"]
EDGE_ADDRESSES += [{"email": "ada@example.org"}, {"name": "Ada", "email": "ada@example.org"}]
EDGE_ADDRESSES += [["ada@example.org", {"email": "b@example.org"}], ["ada@example.org", []]]
EDGE_ADDRESSES += ["a@example.org, b@example.org", "a@example.org\r\nBcc: b@example.org"]
EDGE_ADDRESSES += ["Ada <a@example.org", "=?utf-8?q?=0D=0A?= <a@example.org>", "a@-x.org"]
edge_text = st.sampled_from(EDGE_TEXT)
edge_addresses = st.sampled_from(EDGE_ADDRESSES)
hostile_values = {
    "to": edge_addresses | mailbox_lists,
    "cc": edge_addresses | mailbox_lists,
    "bcc": edge_addresses | mailbox_lists,
    "reply_to": edge_addresses | mailbox_lists,
    "from": edge_addresses | one_address | st.lists(addresses, max_size=2),
    "subject": edge_text | text_values,
    "body": edge_text | text_values,
    "text": edge_text | text_values,
    "html": edge_text | html_values,
}


@st.composite
def documents(draw):
    """Request documents: the seed's shape and its neighbours, valid (a third), near-valid
    (one to three fields changed, dropped or added) or not an object at all."""
    mode = draw(st.integers(0, 19))
    if mode == 0:
        return draw(wrong_types | st.lists(st.integers(), max_size=2) | st.text(max_size=5))
    document = draw(good_documents)
    if mode < 7:
        return document
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(KNOWN + OTHER))
        change = draw(st.sampled_from(["set", "drop"]))
        if change == "drop":
            document.pop(key, None)
        elif key in hostile_values:
            document[key] = draw(hostile_values[key])
        else:
            document[key] = draw(st.text(max_size=5) | wrong_types | st.lists(good_text))
    return document


def schema_load(schema: SendSchema, document):
    try:
        return schema.load(document)
    except ValidationError:
        return REFUSED


@settings(max_examples=1000, deadline=None)
@given(
    document=documents(),
    test_domains=st.booleans(),
    max_recipients=st.sampled_from([1, 2, 3, 50, 1000]),
)
def test_the_plain_path_answers_as_the_schema_does_or_declines(
    document, test_domains, max_recipients
):
    # As app.py builds it from Settings (MAX_RECIPIENTS 1..1000, accepts_test_domains).
    schema = SendSchema(max_recipients=max_recipients, test_domains=test_domains)
    plain = plain_request(document, schema)
    expected = schema_load(schema, document)
    event("declined" if plain is None else "taken")
    event("schema refuses" if expected is REFUSED else "schema accepts")
    if plain is not None:
        assert expected is not REFUSED, "the plain path accepted what the schema refuses"
        assert plain == expected


BASES = [
    SEED_REQUEST,
    {"to": ["ada@example.org", "Bo <bo@example.net>"], "subject": "Hi", "text": "Hello"},
    {"to": "ada@example.org", "subject": "Hi", "html": "<p>Hello</p>"},
    {"to": "ada@example.org", "subject": "Hi", "text": "Hello", "html": "<p>Hello</p>"},
    {
        **SEED_REQUEST,
        "html": True,
        "from": "Web <web@example.org>",
        "cc": "cc@example.org",
        "bcc": ["bcc@example.org"],
        "reply_to": "r@example.org",
    },
]


def test_every_rule_alone_is_the_schemas():
    # Each plainly valid shape with one field dropped, or set to a value just past one
    # rule, under each setting: the random documents above rarely hit each exactly once.
    edges = {key: EDGE_ADDRESSES for key in ("to", "cc", "bcc", "reply_to", "from")}
    edges.update({key: EDGE_TEXT for key in ("subject", "body", "text", "html")})
    edges.update({key: ["x", None] for key in OTHER})
    for base in BASES:
        for key, values in edges.items():
            changed = [{k: v for k, v in base.items() if k != key}]
            changed += [{**base, key: value} for value in values]
            for document in changed:
                for test_domains in (False, True):
                    for max_recipients in (1, 50):
                        schema = SendSchema(
                            max_recipients=max_recipients, test_domains=test_domains
                        )
                        plain = plain_request(document, schema)
                        if plain is not None:
                            assert plain == schema_load(schema, document), document


def test_the_seed_request_and_its_plain_neighbours_take_the_plain_path():
    # What makes the plain path worth having: the common shapes do not fall back.
    schema = SendSchema()
    for document in [
        SEED_REQUEST,
        {**SEED_REQUEST, "to": ["a@example.org", "Bo <b@example.net>"], "html": True},
        {**SEED_REQUEST, "from": "Web <web@example.org>", "cc": "c@example.org"},
        {**SEED_REQUEST, "reply_to": ["r@example.org"] * MAX_REPLY_TO},
        {"to": "a@example.org", "subject": "Hi", "text": "Hello", "html": "<p>Hello</p>"},
    ]:
        plain = plain_request(document, schema)
        assert plain is not None, document
        assert plain == schema.load(document)


def test_test_domains_follow_the_schema_setting():
    document = {**SEED_REQUEST, "to": "dev@shop.test"}
    assert plain_request(document, SendSchema(test_domains=False)) is None
    assert plain_request(document, SendSchema(test_domains=True)) == SendSchema(
        test_domains=True
    ).load(document)
