"""``dinky-mail``: serve the API, check the way out, send a test message, show the set-up."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys

from marshmallow import ValidationError

from .config.settings import Settings
from .domain_cli import add_commands as add_domain_commands
from .domain_cli import environment_for as domain_environment
from .errors import ConfigError, OutcomeUnknown, TransportError
from .hookspecs import Checkable, Diagnosable
from .init_env import add_command as add_init_command
from .logs import configure_logging
from .mailer import Mailer
from .plugins import describe_plugin, make_plugin_manager, transport_registry
from .web.schemas import SendSchema


def cmd_serve(settings: Settings, args) -> int:
    from .server import serve

    serve(
        settings,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        threads=args.threads or settings.threads,
    )
    return 0


def cmd_config(settings: Settings, args) -> int:
    shown = settings.redacted()
    # The transport in effect, also when ENVIRONMENT chose it (MAIL_TRANSPORT unset).
    shown["MAIL_TRANSPORT"] = ",".join(settings.transport_names)
    for name, value in shown.items():
        print(f"{name}={value}")
    return 0


def cmd_plugins(settings: Settings, args) -> int:
    pm = make_plugin_manager(settings)
    registry = transport_registry(pm)
    loaded = [plugin for _, plugin in pm.list_name_plugin() if plugin is not None]  # None: blocked
    for plugin in loaded:
        info = describe_plugin(pm, plugin)
        transports = sorted(r.name for r in registry.values() if r.plugin == info.name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or ())
        print(f"{info.name} {info.version} ({info.source})")
        print(f"    transports: {', '.join(transports) or '-'}")
        print(f"    hooks: {', '.join(hooks) or '-'}")
    if settings.disabled_plugins:
        print(f"disabled by DISABLED_PLUGINS: {', '.join(settings.disabled_plugins)}")
    return 0


def cmd_check(settings: Settings, args) -> int:
    mailer = Mailer.from_settings(settings)
    print(
        f"ok    configuration: ENVIRONMENT={settings.environment}, MAIL_TRANSPORT={mailer.transport_name}"
    )
    try:
        for name, transport in mailer.transports:
            try:
                _check_transport(name, transport)
            except TransportError as exc:
                print(f"FAIL  {name}: {exc}")
                return 1
    finally:
        mailer.close()
    print("ready: the service can deliver mail")
    return 0


def _check_transport(name: str, transport) -> None:
    """One line per step passed; TransportError at the first one that fails."""

    def passed(step: str) -> None:
        print(f"ok    {name}: {step}", flush=True)

    if isinstance(transport, Diagnosable):
        transport.diagnose(passed)
    elif isinstance(transport, Checkable):
        passed(transport.check() or "ready")
    else:
        passed("built (this transport has no check)")


def cmd_send_test(settings: Settings, args) -> int:
    try:
        request = SendSchema(test_domains=settings.accepts_test_domains).load(
            {
                "to": args.address,
                "subject": f"dinky-falcon test message from {settings.mail_hostname}",
                "body": "This message was sent by `dinky-mail send-test` to check the mail path.\n",
            }
        )
    except ValidationError as exc:
        print(f"FAIL  {args.address!r} is not a usable address: {exc.messages.get('to')}")
        return 2
    mailer = Mailer.from_settings(settings)
    try:
        delivery = mailer.send(request)
    except OutcomeUnknown as exc:
        print(f"FAIL  outcome unknown, look for Message-ID {exc.message_id}: {exc}")
        return 1
    except TransportError as exc:
        kind = "temporary, retry later" if exc.temporary else "permanent"
        print(f"FAIL  not sent ({kind}): {exc}")
        return 1
    finally:
        mailer.close()
    print(
        f"ok    sent to {args.address} through {delivery.transport}, Message-ID {delivery.message_id}"
    )
    if delivery.location:
        print(f"      written to {delivery.location}")
    if delivery.queue_id:
        print(
            f"      queued upstream as {delivery.queue_id} (look for it in the mail server's log)"
        )
    return 0


def _command(commands, name: str, summary: str, exits: str, run):
    """A subcommand whose --help says what it does and what its exit status means."""
    parser = commands.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}.",
        epilog=f"exit status: {exits}; 2 also when the configuration is bad",
    )
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dinky-mail",
        description="Serve the HTTP Mail API, check the way out, send a test message, show the "
        "set-up. Configured by environment variables and a .env file (see .env.example).",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {importlib.metadata.version('dinky-falcon')}",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = _command(
        commands,
        "serve",
        "run the HTTP Mail API under waitress",
        "0 stopped by SIGTERM or Ctrl-C",
        cmd_serve,
    )
    serve.add_argument(
        "--host",
        help="address to listen on (default: HOST, else 0.0.0.0 in production and 127.0.0.1 "
        "in development)",
    )
    serve.add_argument("--port", type=int, help="port (default: PORT or 20001; 0 picks a free one)")
    serve.add_argument("--threads", type=int, help="worker threads (default: THREADS or 8)")
    _command(
        commands,
        "check",
        "check configuration, DNS, TCP, TLS and login for each selected transport",
        "0 every transport is ready, 1 a step failed (its FAIL line says what to do)",
        cmd_check,
    )
    send_test = _command(
        commands,
        "send-test",
        "send a test message to ADDRESS and say where "
        "it went (the .eml written, or the queue ID upstream)",
        "0 the transport accepted it, 1 not sent or outcome unknown, 2 ADDRESS is not an address",
        cmd_send_test,
    )
    send_test.add_argument("address", metavar="ADDRESS")
    _command(
        commands, "config", "print the effective settings, secrets as ***", "0 printed", cmd_config
    )
    _command(
        commands,
        "plugins",
        "list loaded plugins: source, version, transports and hooks (needs no production set-up)",
        "0 listed",
        cmd_plugins,
    )
    add_domain_commands(commands)  # dkim-keygen, dns
    add_init_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "without_settings", False):
        return args.run(args)  # init: it writes the settings, so it cannot read them first
    try:
        if args.run is cmd_plugins:
            # Which plugins load depends on PLUGINS_DIR and DISABLED_PLUGINS only: listing
            # them needs no MAIL_DOMAIN nor anything else production requires.
            settings = Settings.from_env({**os.environ, "ENVIRONMENT": "development"})
        else:
            settings = Settings.from_env(domain_environment(args))
        configure_logging(settings)
        return args.run(settings, args)
    except ConfigError as exc:
        print(f"dinky-mail: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dinky-mail: {exc}", file=sys.stderr)
        return 1
