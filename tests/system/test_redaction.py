"""No secret of a storage URL or of the relay login reaches a terminal, a log line or an answer.

Every path goes through the real entry points: ``dinky-mail config``, Settings loading (and so
its start-up errors and ``repr``, which plugins see), ``dinky-mail serve`` in a subprocess.
"""

from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dinky_falcon.cli import main
from dinky_falcon.config.settings import Settings
from dinky_falcon.errors import ConfigError
from support.service_process import start_or_refuse

SECRET = "S3cretS3cret"


def run_config(monkeypatch, tmp_path, capsys, **variables) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    for name, value in {"ENVIRONMENT": "development", **variables}.items():
        monkeypatch.setenv(name, value)
    code = main(["config"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def serve(tmp_path, **variables) -> tuple[int | None, list[str]]:
    env = {
        "PATH": "/usr/bin:/bin",
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "DATA_DIR": str(tmp_path / "data"),
        **variables,
    }
    return start_or_refuse(env, tmp_path, "--host", "127.0.0.1", "--port", "0")


def test_config_hides_a_password_given_as_a_query_parameter(monkeypatch, tmp_path, capsys):
    code, shown = run_config(
        monkeypatch,
        tmp_path,
        capsys,
        RATE_LIMIT_STORAGE=f"redis://127.0.0.1:6379/0?password={SECRET}&ssl_cert_reqs=none",
        IDEMPOTENCY_STORE=f"redis://127.0.0.1:6379/0?db=1&token={SECRET}",
    )
    assert code == 0
    lines = shown.splitlines()
    assert "RATE_LIMIT_STORAGE=redis://127.0.0.1:6379/0?password=***&ssl_cert_reqs=none" in lines
    assert "IDEMPOTENCY_STORE=redis://127.0.0.1:6379/0?db=1&token=***" in lines
    assert SECRET not in shown


def test_a_misspelled_store_scheme_is_one_line_without_the_password(monkeypatch, tmp_path, capsys):
    code, shown = run_config(
        monkeypatch, tmp_path, capsys, IDEMPOTENCY_STORE=f"reddis://:{SECRET}@127.0.0.1:6379/0"
    )
    assert code == 2
    assert shown.splitlines() == [
        "dinky-mail: configuration error: IDEMPOTENCY_STORE='reddis://***@127.0.0.1:6379/0' must "
        "be empty (a file under DATA_DIR) or a Redis URL (redis://host:6379/0)"
    ]


@pytest.mark.parametrize(
    "variable, url",
    [
        # limits quotes an unknown scheme's whole URL.
        ("RATE_LIMIT_STORAGE", f"reddis://:{SECRET}@127.0.0.1:6379/0"),
        # An unescaped "/" ends the host early: the client libraries then quote the password's
        # first half as a port that is not a number.
        ("RATE_LIMIT_STORAGE", f"redis://:{SECRET[:6]}/{SECRET[6:]}@127.0.0.1:6379/0"),
        ("IDEMPOTENCY_STORE", f"redis://:{SECRET[:6]}/{SECRET[6:]}@127.0.0.1:6379/0"),
    ],
)
def test_an_unusable_store_url_stops_serve_with_one_line_and_no_piece_of_the_password(
    tmp_path, variable, url
):
    code, lines = serve(tmp_path, **{variable: url})
    assert code == 2
    (line,) = lines
    assert line.startswith(f"dinky-mail: configuration error: {variable}=")
    for piece in (SECRET, SECRET[:6], SECRET[6:]):
        assert piece not in line


def test_settings_repr_shows_no_secret_to_plugins(make_settings):
    settings = make_settings(
        IDEMPOTENCY_STORE=f"redis://:{SECRET}@127.0.0.1:6379/0",
        RATE_LIMIT_STORAGE=f"redis://127.0.0.1:6379/0?password={SECRET}",
        SMTP_RELAY_PASSWORD="relay" + SECRET,
        FORMS_SECRET="forms" + SECRET,
        API_KEYS=f"blog:key-{SECRET}-{SECRET}",
    )
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert "idempotency_store='redis://***@127.0.0.1:6379/0'" in shown
        assert "api_keys='blog:***'" in shown
        assert SECRET not in shown


@pytest.mark.parametrize(
    "variable", ["SMTP_RELAY_PASSWORD", "SMTP_RELAY_USERNAME", "RELAY_PASSWORD"]
)
def test_a_non_ascii_relay_login_stops_the_start_without_showing_it(make_settings, variable):
    value = "pässwörd-naïve-€"
    with pytest.raises(ConfigError) as error:
        make_settings(MAIL_TRANSPORT="gmail", **{variable: value})
    message = str(error.value)
    assert message.startswith("SMTP_RELAY_")
    assert "\n" not in message
    for character in "äöï€":
        assert character not in message


def test_check_with_a_non_ascii_relay_password_is_a_configuration_error(
    monkeypatch, tmp_path, capsys
):
    code, shown = run_config(
        monkeypatch,
        tmp_path,
        capsys,
        MAIL_TRANSPORT="gmail",
        SMTP_RELAY_PASSWORD="abcdéfghijklmnop",
    )
    assert code == 2
    assert "SMTP_RELAY_PASSWORD holds a character outside printable ASCII" in shown
    assert "é" not in shown and "abcd" not in shown


# --- every URL, every password ----------------------------------------------------------------

passwords = st.text(st.characters(blacklist_categories=("Cs",)), min_size=6, max_size=24)


@st.composite
def store_urls(draw):
    password = draw(passwords)
    written = draw(st.sampled_from([password, quote(password, safe="")]))
    scheme = draw(
        st.sampled_from(["redis", "rediss", "unix", "reddis", "memory", "redis+sentinel"])
    )
    userinfo = draw(st.sampled_from(["", ":{}@", "user:{}@", "{}@"]))
    query = draw(st.sampled_from(["", "?password={}", "?db=0&token={}", "?ssl=1;secret={}"]))
    assume("{}" in userinfo + query)
    template = f"{scheme}://{userinfo}127.0.0.1:6379/0{query}"
    return template.replace("{}", written), template.replace("{}", ""), password, written


# What the settings show anyway: a "password" found in there gives nothing away.
_PLAIN = Settings.from_env({"ENVIRONMENT": "development"}, env_file=None)
SHOWN_ANYWAY = repr(_PLAIN) + "\n".join(_PLAIN.redacted().values()) + "***"


def _shown_for(url: str) -> list[str]:
    """What the settings show with ``url`` as both stores: their repr and config output, or
    the start-up error."""
    environ = {"ENVIRONMENT": "development", "RATE_LIMIT_STORAGE": url, "IDEMPOTENCY_STORE": url}
    try:
        settings = Settings.from_env(environ, env_file=None)
    except ConfigError as exc:
        return [str(exc)]
    return [repr(settings), *settings.redacted().values()]


@hypothesis_settings(max_examples=400, deadline=None)
@given(store_urls())
def test_no_password_in_a_store_url_is_ever_shown(example):
    url, skeleton, password, written = example
    # Text shown as well without any password (a message's own words) gives nothing away.
    anyway = skeleton + SHOWN_ANYWAY + "\n".join(_shown_for(skeleton))
    for secret in {password.strip(), written.strip()}:
        assume(secret and secret not in anyway and "*" not in secret)
    for text in _shown_for(url):
        assert password.strip() not in text
        assert written.strip() not in text
