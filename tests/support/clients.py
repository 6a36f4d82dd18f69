"""falcon's TestClient asking as the developer's own tools do, at a loopback name.

Without API keys, development answers /send and the forms only at localhost, *.localhost or
an IP address (dinky_falcon/guard/rebinding.py); falcon's default Host is falconframework.org.
"""

from falcon import testing

LOOPBACK = {"Host": "localhost:20001"}


def loopback_client(app) -> testing.TestClient:
    return testing.TestClient(app, headers=LOOPBACK)
