#!/usr/bin/env python3
"""The mail-api container's start: believe X-Forwarded-For from Traefik's network, then serve.

Behind Traefik every request comes from Traefik's address, so without TRUSTED_PROXIES all
callers would share one rate-limit counter. Left empty, TRUSTED_PROXIES becomes the networks
this container is attached to except the stack's own mail network (the one SMTP_HOST is on):
that is Traefik's network, and nothing wider. A value in .env is used as it is.
"""

import ipaddress
import os
import socket
import struct
import sys


def attached_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of this container's interfaces: routes without a gateway."""
    networks = []
    with open("/proc/net/route") as table:
        next(table)  # header
        for line in table:
            fields = line.split()
            destination, gateway, mask = (struct.pack("<L", int(fields[i], 16)) for i in (1, 2, 7))
            if fields[0] != "lo" and gateway == bytes(4) and mask != bytes(4):
                networks.append(
                    ipaddress.IPv4Network((socket.inet_ntoa(destination), socket.inet_ntoa(mask)))
                )
    return networks


def traefik_networks(mail_host: str) -> list[ipaddress.IPv4Network]:
    mail_address = ipaddress.IPv4Address(socket.gethostbyname(mail_host))
    return [network for network in attached_networks() if mail_address not in network]


def main() -> None:
    if not os.environ.get("TRUSTED_PROXIES", "").strip():
        mail_host = os.environ.get("SMTP_HOST", "mail-server")
        try:
            found = ",".join(str(network) for network in traefik_networks(mail_host))
        except OSError as exc:
            found = ""
            print(
                f"mail-api: {mail_host} not found ({exc}): X-Forwarded-For is not believed",
                file=sys.stderr,
            )
        if found:
            os.environ["TRUSTED_PROXIES"] = found
            print(
                f"mail-api: TRUSTED_PROXIES={found} (Traefik's network; set it in .env to choose)",
                file=sys.stderr,
                flush=True,
            )
    command = sys.argv[1:] or ["dinky-mail", "serve"]
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
