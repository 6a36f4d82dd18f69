"""The ceiling: bare Falcon + waitress answering a JSON POST of /send's shape, no mail work.

``python bench/bare_app.py PORT THREADS``; bench/run.py measures it beside the real service.
``python bench/bare_app.py PORT THREADS service-server``: the same app on the service's own
waitress server (dinky_falcon.server: its event loop does not spin while workers send),
so bench/run.py can tell the service's own cost from the server's.
"""

import json
import sys

import falcon
import waitress


class Send:
    def on_post(self, req, resp):
        document = json.loads(req.bounded_stream.read())
        resp.media = {
            "success": True,
            "message": "Email sent successfully",
            "id": f"<{len(document)}@example.org>",
            "transport": "none",
        }


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


app = falcon.App()
app.add_route("/send", Send())
app.add_route("/health", Health())

if __name__ == "__main__":
    port, threads = int(sys.argv[1]), int(sys.argv[2])
    if sys.argv[3:] == ["service-server"]:
        from dinky_falcon.config.settings import Settings
        from dinky_falcon.server import create_server

        settings = Settings.from_env({"MAIL_DOMAIN": "example.org"}, env_file=None)
        create_server(settings, app, "127.0.0.1", port, threads).run()
    else:
        waitress.serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)
