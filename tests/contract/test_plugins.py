"""Loading plugins and calling their hooks: temporary plugins, drop-in files, failures."""

import logging
from pathlib import Path

import pytest

import dinky_falcon
from dinky_falcon import ConfigError, MessageRefused, TransportError, hookimpl
from dinky_falcon.app import create_app
from dinky_falcon.cli import main
from dinky_falcon.errors import PluginError
from dinky_falcon.mailer import Mailer
from dinky_falcon.plugins import make_plugin_manager, transport_registry
from support.clients import loopback_client
from support.samples import SEED_REQUEST

REPO_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


@pytest.fixture
def client_with(make_settings):
    """A TestClient whose plugin manager also holds the given temporary plugins {name: plugin};
    they are unregistered after the test."""
    registered = []

    def make(plugins, **variables):
        settings = make_settings(**variables)
        pm = make_plugin_manager(settings)
        for name, plugin in plugins.items():
            pm.register(plugin, name=name)
            registered.append((pm, plugin))
        mailer = Mailer.from_settings(settings, pm)
        return loopback_client(create_app(settings, mailer=mailer)), mailer

    yield make
    for pm, plugin in registered:
        pm.unregister(plugin)


def write_plugin(directory: Path, name: str, source: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(source)
    return path


class AddsFooter:
    @hookimpl
    def before_send(self, message):  # fewer arguments than the spec: allowed
        message.set_content(message.get_content() + "-- \nSent from example.org\n")


class Records:
    """before_send and after_send write what they saw into ``self.seen``."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def before_send(self, message, envelope, settings):
        subject, domain = message["Subject"], settings.mail_domain
        self.seen.append(("before", subject, envelope.recipients, domain))

    @hookimpl
    def after_send(self, message, envelope, transport, error):
        self.seen.append(("after", transport, error))


class Refuses:
    @hookimpl
    def before_send(self, message):
        if "casino" in message["Subject"].lower():
            raise MessageRefused("subjects about casinos are not accepted")


class CrashesOnce:
    """Raises on its first call only: the service must answer the next request normally."""

    def __init__(self):
        self.calls = 0

    @hookimpl
    def before_send(self, message):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom: internal detail")


class BrokenTransport:
    def __init__(self, settings):
        pass

    def send(self, message, envelope):
        raise KeyError("internal detail")


class RegistersBroken:
    @hookimpl
    def register_transports(self, register):
        register("broken", BrokenTransport)


class FailingTransport:
    def __init__(self, settings):
        pass

    def send(self, message, envelope):
        raise TransportError("relay said 554 no", temporary=False)


class RegistersFailing:
    @hookimpl
    def register_transports(self, register):
        register("failing", FailingTransport)


def test_a_before_send_hook_may_change_the_message_and_take_fewer_arguments(client_with):
    client, mailer = client_with({"footer": AddsFooter()})
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    ((message, _),) = mailer.transports[0][1].sent
    assert message.get_content() == "This is a test email\n-- \nSent from example.org\n"
    assert b"Sent from example.org" in message.as_bytes()  # not the bytes built before the hook


def test_before_send_gets_the_envelope_and_settings_and_after_send_the_outcome(client_with):
    recorder = Records()
    client, _ = client_with({"records": recorder})
    client.simulate_post("/send", json=SEED_REQUEST)
    assert recorder.seen == [
        ("before", "Test Email", ("recipient@example.org",), "example.org"),
        ("after", "memory", None),
    ]


def test_after_send_hears_of_a_failed_transport_with_the_callers_error(client_with):
    recorder = Records()
    client, _ = client_with(
        {"records": recorder, "failing": RegistersFailing()}, MAIL_TRANSPORT="failing"
    )
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 502
    (_, (_, transport, error)) = recorder.seen
    assert transport == "failing"
    assert isinstance(error, TransportError) and str(error) == result.json["details"]


def test_before_send_runs_last_registered_first_and_trylast_after_the_others(client_with):
    order = []

    class Signer:
        @hookimpl(trylast=True)
        def before_send(self, message):
            order.append(("signer", "Sent from" in message.get_content()))

    class Tagger:
        @hookimpl
        def before_send(self, message):
            order.append(("tagger", "Sent from" in message.get_content()))

    client, _ = client_with({"signer": Signer(), "footer": AddsFooter(), "tagger": Tagger()})
    client.simulate_post("/send", json=SEED_REQUEST)
    assert order == [("tagger", False), ("signer", True)]


def test_a_before_send_hook_may_refuse_a_message_with_a_403(client_with):
    recorder = Records()
    client, mailer = client_with({"records": recorder, "policy": Refuses()})
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, subject="Casino bonus"))
    assert result.status_code == 403
    assert result.json == {
        "success": False,
        "error": "Message refused",
        "details": "subjects about casinos are not accepted",
    }
    assert mailer.transports[0][1].sent == []
    assert ("after", "memory", None) not in recorder.seen


def test_a_crashing_before_send_gives_a_500_logs_the_plugin_and_the_service_goes_on(
    client_with, caplog
):
    client, mailer = client_with({"crashy": CrashesOnce()})
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 500
    reference = result.json["reference"]
    assert result.json == {
        "success": False,
        "error": "Internal server error",
        "details": f"A mail plugin failed; the error was logged with the reference {reference}.",
        "reference": reference,
    }
    assert "boom" not in result.text and "Traceback" not in result.text
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == (
        f"plugin crashy failed in before_send on POST /send (reference {reference})"
    )
    assert "RuntimeError: boom: internal detail" in caplog.text
    assert mailer.transports[0][1].sent == []
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert client.simulate_get("/health").status_code == 200


def test_a_crashing_transport_gives_a_500_naming_its_plugin_and_is_not_failed_over(
    client_with, caplog
):
    recorder = Records()
    client, mailer = client_with(
        {"records": recorder, "broken-plugin": RegistersBroken()}, MAIL_TRANSPORT="broken,memory"
    )
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 500
    assert "internal detail" not in result.text
    assert "plugin broken-plugin failed in transport 'broken'" in caplog.text
    assert "KeyError: 'internal detail'" in caplog.text
    # A bug is not an outage: handing the message to the next transport would hide it.
    assert mailer.transports[1][1].sent == []
    (_, (_, transport, error)) = recorder.seen
    assert transport == "broken" and isinstance(error, PluginError)
    health = client.simulate_get("/health").json
    assert health["plugin"] == "broken-plugin,dinky_falcon.transports.memory"


def test_a_crashing_after_send_is_logged_with_its_plugin_and_the_message_still_counts(
    client_with, caplog
):
    class Notifier:
        @hookimpl
        def after_send(self, transport):
            raise ConnectionError("chat server down")

    client, mailer = client_with({"notifier": Notifier()})
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert len(mailer.transports[0][1].sent) == 1
    assert "after_send of plugin notifier failed" in caplog.text
    assert "ConnectionError: chat server down" in caplog.text


def test_a_transport_name_registered_twice_stops_the_start_naming_both_sources(make_settings):
    class Imposter:
        @hookimpl
        def register_transports(self, register):
            register("Memory", BrokenTransport)

    pm = make_plugin_manager(make_settings())
    pm.register(Imposter(), name="imposter")
    with pytest.raises(ConfigError) as caught:
        transport_registry(pm)
    assert str(caught.value) == (
        "transport 'memory' is registered twice: by dinky_falcon.transports.memory (built-in) "
        "and by imposter (registered at run time)"
    )
    pm.unregister(name="imposter")
    assert "memory" in transport_registry(pm)


def test_a_drop_in_file_taking_an_installed_transport_name_names_the_file_and_the_package(
    make_settings, tmp_path
):
    path = write_plugin(tmp_path / "plugins", "my_hook", REGISTERS_WEBHOOK_AGAIN)
    pm = make_plugin_manager(make_settings(PLUGINS_DIR=str(path.parent)))
    with pytest.raises(ConfigError) as caught:
        transport_registry(pm)
    assert str(caught.value) == (
        "transport 'webhook' is registered twice: by webhook (entry point of "
        f"dinky-falcon-webhook) and by my_hook ({path})"
    )


REGISTERS_WEBHOOK_AGAIN = """
from dinky_falcon import hookimpl

@hookimpl
def register_transports(register):
    register("webhook", object)
"""

DROP_IN = """
from dinky_falcon import hookimpl

__version__ = "2.1"
outbox = []

class ListTransport:
    def __init__(self, settings):
        self.prefix = settings.get("LIST_PREFIX", "")

    def send(self, message, envelope):
        outbox.append(self.prefix + str(message["Subject"]))

@hookimpl
def register_transports(register):
    register("list", ListTransport)

@hookimpl
def after_send(error):
    pass
"""


def test_a_drop_in_file_in_plugins_dir_provides_a_transport(client_with, tmp_path):
    path = write_plugin(tmp_path / "plugins", "list_transport", DROP_IN)
    client, mailer = client_with(
        {}, PLUGINS_DIR=str(path.parent), MAIL_TRANSPORT="list", LIST_PREFIX="list: "
    )
    assert client.simulate_post("/send", json=SEED_REQUEST).json["transport"] == "list"
    module = mailer.pm.get_plugin("list_transport")
    assert module.outbox == ["list: Test Email"]
    assert client.simulate_get("/health").json["plugin"] == "list_transport"


def test_a_drop_in_file_named_like_an_installed_plugin_stops_the_start(make_settings, tmp_path):
    path = write_plugin(tmp_path / "plugins", "webhook", DROP_IN)
    with pytest.raises(ConfigError) as caught:
        make_plugin_manager(make_settings(PLUGINS_DIR=str(path.parent)))
    assert str(caught.value) == (
        f"plugin file {path}: the name 'webhook' is taken by "
        "webhook (entry point of dinky-falcon-webhook)"
    )


@pytest.mark.parametrize(
    "source, fragments",
    [
        ("import no_such_module\n", ["failed to load", "no_such_module"]),
        ("def broken(:\n", ["failed to load", "SyntaxError"]),
        (
            "from dinky_falcon import hookimpl\n@hookimpl\ndef before_sned(message):\n    pass\n",
            ["unknown hook 'before_sned'"],
        ),
        (
            "from dinky_falcon import hookimpl\n@hookimpl\ndef before_send(msg):\n    pass\n",
            ["before_send", "msg", "can not be found in the hookspec"],
        ),
    ],
)
def test_a_broken_drop_in_file_stops_the_start_with_one_line_naming_it(
    make_settings, tmp_path, source, fragments
):
    write_plugin(tmp_path / "plugins", "broken_plugin", source)
    with pytest.raises(ConfigError) as caught:
        make_plugin_manager(make_settings(PLUGINS_DIR=str(tmp_path / "plugins")))
    message = str(caught.value)
    assert "broken_plugin" in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_disabled_plugins_are_not_loaded_and_disabled_files_not_even_imported(
    make_settings, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="dinky_falcon.plugins")
    write_plugin(tmp_path / "plugins", "explodes", "raise RuntimeError('imported')\n")
    write_plugin(tmp_path / "plugins", "list_transport", DROP_IN)
    settings = make_settings(
        PLUGINS_DIR=str(tmp_path / "plugins"),
        DISABLED_PLUGINS="explodes, webhook,dinky_falcon.transports.file",
    )
    pm = make_plugin_manager(settings)
    assert sorted(transport_registry(pm)) == ["gmail", "list", "memory", "postfix", "relay"]
    assert "plugin webhook is disabled by DISABLED_PLUGINS" in caplog.text
    with pytest.raises(ConfigError, match="no transport named 'webhook'"):
        Mailer.from_settings(make_settings(MAIL_TRANSPORT="webhook", DISABLED_PLUGINS="webhook"))


def test_a_disabled_name_that_matches_no_plugin_is_warned_about(make_settings, caplog):
    make_plugin_manager(make_settings(DISABLED_PLUGINS="webhok"))
    assert "DISABLED_PLUGINS names 'webhok', but no plugin has that name" in caplog.text


def test_trace_plugins_logs_every_hook_call_whatever_log_level_says(client_with, caplog):
    # No caplog.set_level: TRACE_PLUGINS itself must let the INFO lines through.
    client, _ = client_with({"records": Records(), "crashy": CrashesOnce()}, TRACE_PLUGINS="yes")
    client.simulate_post("/send", json=SEED_REQUEST)
    client.simulate_post("/send", json=SEED_REQUEST)
    lines = [r.getMessage() for r in caplog.records if r.name == "dinky_falcon.plugins.trace"]
    assert "register_transports returned []" in lines
    assert any(
        line.startswith("register_transports(register=") and line.endswith("-> webhook")
        for line in lines
    )
    before = [line for line in lines if line.startswith("before_send(message=")]
    assert len(before) == 2
    assert "envelope=Envelope(" in before[0] and before[0].endswith("-> crashy, records")
    assert "before_send raised RuntimeError('boom: internal detail')" in lines
    assert any(line.startswith("after_send(") and line.endswith("-> records") for line in lines)


def test_without_trace_plugins_no_hook_call_is_traced(client_with, caplog):
    caplog.set_level(logging.DEBUG)
    client, _ = client_with({"records": Records()})
    client.simulate_post("/send", json=SEED_REQUEST)
    assert not [r for r in caplog.records if r.name == "dinky_falcon.plugins.trace"]


def test_the_stdout_drop_in_example_only_registers_a_name_until_selected(client_with, capsys):
    client, _ = client_with({}, PLUGINS_DIR=str(REPO_PLUGINS))
    assert client.simulate_get("/health").json["transport"] == "memory"
    client.simulate_post("/send", json=SEED_REQUEST)
    assert capsys.readouterr().out == ""

    client, _ = client_with({}, PLUGINS_DIR=str(REPO_PLUGINS), MAIL_TRANSPORT="stdout")
    assert client.simulate_get("/health").json["plugin"] == "stdout_transport"
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    printed = capsys.readouterr().out
    assert printed.startswith("----- to recipient@example.org\n")
    assert "\nSubject: Test Email\n" in printed and "\nThis is a test email\n" in printed
    assert "\r" not in printed


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """Set the process environment for a ``dinky-mail`` command run in an empty directory."""
    monkeypatch.chdir(tmp_path)  # no .env, no ./plugins
    for name in ("MAIL_TRANSPORT", "PLUGINS_DIR", "DISABLED_PLUGINS", "TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)

    def set_variables(**variables):
        for name, value in {"ENVIRONMENT": "development", **variables}.items():
            monkeypatch.setenv(name, value)

    return set_variables


def test_dinky_mail_plugins_shows_each_plugins_source_version_transports_and_hooks(
    environment, tmp_path, capsys
):
    path = write_plugin(tmp_path / "dropins", "list_transport", DROP_IN)
    environment(PLUGINS_DIR=str(path.parent), DISABLED_PLUGINS="dinky_falcon.transports.memory")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert (
        f"dinky_falcon.transports.file {dinky_falcon.__version__} (built-in)\n"
        "    transports: file\n"
        "    hooks: register_transports\n"
    ) in out
    assert (
        "webhook 0.1.0 (entry point of dinky-falcon-webhook)\n"
        "    transports: webhook\n"
        "    hooks: register_transports\n"
    ) in out
    assert (
        f"list_transport 2.1 ({path})\n"
        "    transports: list\n"
        "    hooks: after_send, register_transports\n"
    ) in out
    assert "dinky_falcon.transports.memory 0" not in out
    assert out.endswith("disabled by DISABLED_PLUGINS: dinky_falcon.transports.memory\n")


def test_dinky_mail_plugins_reports_a_duplicate_transport_in_one_line(
    environment, tmp_path, capsys
):
    path = write_plugin(tmp_path / "dropins", "my_hook", REGISTERS_WEBHOOK_AGAIN)
    environment(PLUGINS_DIR=str(path.parent))
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "dinky-mail: configuration error: transport 'webhook' is registered twice"
    )
    assert str(path) in err
