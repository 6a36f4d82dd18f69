"""``/outbox``: the development outbox in a browser, and as JSON for a site's own tests.

On when the file transport is active in development; in production only with OUTBOX_UI=yes,
and then behind the API keys. A message's HTML is never part of the service's pages: it is
served by a route of its own with a Content-Security-Policy that sandboxes it (no script
runs, it has no origin) and lets nothing load but inline styles and ``data:`` images (no
remote image tells a sender the mail was opened) — unless the reader asks for images.
"""

from __future__ import annotations

import html
import urllib.parse

import falcon

from ..errors import ConfigError
from .errors import ApiError
from .outbox import NotInOutbox, Outbox
from .outbox_host import refuse_rebound_names

# The service's own pages: its one script, no inline script, frames only from itself.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# A message's HTML: a sandbox (a unique origin, no script, no form, no popup, no navigation
# of the page), nothing fetched but what the message carries inline.
MESSAGE_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'"
)
MESSAGE_CSP_WITH_IMAGES = MESSAGE_CSP.replace("img-src data:", "img-src data: http: https:")

POLL_SCRIPT = """\
// New mail shows up without a reload: the list is fetched again every two seconds.
"use strict";
const rows = document.getElementById("messages");
function cell(row, text, href) {
  const td = row.insertCell();
  if (href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text || "(no subject)";
    td.append(a);
  } else {
    td.textContent = text;
  }
}
async function refresh() {
  const answer = await fetch("/outbox/messages", {headers: {Accept: "application/json"}});
  if (!answer.ok) return;
  const listed = await answer.json();
  const ids = listed.messages.map(m => m.id).join(" ");
  if (ids === rows.dataset.ids) return;
  rows.dataset.ids = ids;
  rows.replaceChildren();
  for (const m of listed.messages) {
    const row = rows.insertRow();
    cell(row, m.subject, "/outbox/" + encodeURIComponent(m.id));
    cell(row, m.from); cell(row, m.to); cell(row, m.date);
    cell(row, m.size.toLocaleString() + " B"); cell(row, String(m.attachments));
  }
  document.getElementById("count").textContent = String(listed.total);
}
document.getElementById("clear").addEventListener("click", async () => {
  await fetch("/outbox/messages", {method: "DELETE"});
  refresh();
});
setInterval(refresh, 2000);
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 72em; padding: 0 1em;
       color: #222 }}
table {{ border-collapse: collapse; width: 100% }}
th, td {{ text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd;
          vertical-align: top; overflow-wrap: anywhere }}
th {{ background: #f4f4f4 }}
pre {{ background: #f7f7f7; padding: .8em; overflow: auto; white-space: pre-wrap }}
iframe {{ width: 100%; height: 28em; border: 1px solid #ccc }}
.muted {{ color: #777 }}
</style></head>
<body>
{content}
</body></html>
"""


def _page(resp: falcon.Response, title: str, content: str) -> None:
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Content-Security-Policy", PAGE_CSP)
    resp.cache_control = ["no-store"]
    resp.text = _PAGE.format(title=html.escape(title), content=content)


def _e(text) -> str:
    return html.escape(str(text if text is not None else ""))


def _href(id_: str, *rest: str) -> str:
    return "/outbox/" + "/".join(urllib.parse.quote(p, safe="") for p in (id_, *rest))


def _not_found(id_: str) -> ApiError:
    return ApiError(falcon.HTTP_404, "Not found", f"There is no message {id_!r} in the outbox.")


def _list_rows(messages: list[dict]) -> str:
    rows = []
    for m in messages:
        rows.append(
            f'<tr><td><a href="{_e(_href(m["id"]))}">{_e(m["subject"] or "(no subject)")}</a>'
            f"</td><td>{_e(m['from'])}</td><td>{_e(m['to'])}</td><td>{_e(m['date'])}</td>"
            f"<td>{m['size']:,} B</td><td>{m['attachments']}</td></tr>"
        )
    return "".join(rows)


@falcon.before(refuse_rebound_names)
class OutboxPages:
    """``GET /outbox`` (the list), ``/outbox/{id}`` (a message), ``/outbox/{id}/html``."""

    def __init__(self, outbox: Outbox, keyed: bool):
        self.outbox = outbox
        self.keyed = keyed

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        messages, total = self.outbox.summaries()
        ids = " ".join(m["id"] for m in messages)
        _page(
            resp,
            "Outbox",
            f"""
<h1>Outbox <span class="muted">(<span id="count">{total}</span>)</span></h1>
<p class="muted">Mail the file transport wrote to {_e(self.outbox.directory)}, newest first;
new mail shows up by itself. JSON: <a href="/outbox/messages">/outbox/messages</a>.
<button id="clear" type="button">Delete all</button></p>
<table><thead><tr><th>Subject</th><th>From</th><th>To</th><th>Date</th><th>Size</th>
<th>Attachments</th></tr></thead>
<tbody id="messages" data-ids="{_e(ids)}">{_list_rows(messages)}</tbody></table>
<script src="/outbox/poll.js"></script>""",
        )

    def on_get_message(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        try:
            m = self.outbox.details(id)
        except NotInOutbox:
            raise _not_found(id) from None
        headers = "".join(f"<tr><th>{_e(n)}</th><td>{_e(v)}</td></tr>" for n, v in m["headers"])
        envelope = m["envelope"]
        recipients = ", ".join(envelope.get("recipients", [])) or "(not recorded)"
        parts = []
        if m["html"] is not None:
            images = req.get_param_as_bool("images") or False
            src = _href(id, "html") + ("?images=1" if images else "")
            toggle = (
                "" if images else f' · <a href="{_e(_href(id))}?images=1">show remote images</a>'
            )
            parts.append(
                f'<h2>HTML part</h2><p class="muted">Shown in a sandbox: its scripts do not '
                f"run{'' if images else ', remote images are not loaded'}{toggle}.</p>"
                f'<iframe sandbox="" referrerpolicy="no-referrer" title="The HTML part" '
                f'src="{_e(src)}"></iframe>'
            )
        if m["text"] is not None:
            parts.append(f"<h2>Text part</h2><pre>{_e(m['text'])}</pre>")
        if m["attachments"]:
            items = "".join(
                f'<li><a href="{_e(_href("messages", id, "attachments", str(a["index"])))}">'
                f'{_e(a["filename"])}</a> <span class="muted">{_e(a["content_type"])}, '
                f"{a['size']:,} B</span></li>"
                for a in m["attachments"]
            )
            parts.append(f"<h2>Attachments</h2><ul>{items}</ul>")
        raw = self.outbox.raw(id).decode("utf-8", "replace")
        _page(
            resp,
            m["subject"] or "(no subject)",
            f"""
<p><a href="/outbox">&larr; Outbox</a></p>
<h1>{_e(m["subject"] or "(no subject)")}</h1>
<h2>Envelope</h2>
<table><tr><th>MAIL FROM</th><td>{_e(envelope.get("sender", "(not recorded)"))}</td></tr>
<tr><th>RCPT TO</th><td id="recipients">{_e(recipients)}</td></tr></table>
{"".join(parts)}
<h2>Headers</h2><table>{headers}</table>
<h2>Source</h2>
<p><a href="{_e(_href("messages", id + ".eml"))}">Download the .eml</a> ({m["size"]:,} B)</p>
<details><summary>Show the source</summary><pre>{_e(raw)}</pre></details>""",
        )

    def on_get_html(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        try:
            m = self.outbox.details(id)
        except NotInOutbox:
            raise _not_found(id) from None
        if m["html"] is None:
            raise ApiError(falcon.HTTP_404, "Not found", "This message has no HTML part.")
        images = req.get_param_as_bool("images") or False
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header(
            "Content-Security-Policy", MESSAGE_CSP_WITH_IMAGES if images else MESSAGE_CSP
        )
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("Referrer-Policy", "no-referrer")
        resp.cache_control = ["no-store"]
        resp.text = m["html"]

    def on_get_script(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/javascript; charset=utf-8"
        resp.text = POLL_SCRIPT


@falcon.before(refuse_rebound_names)
class OutboxApi:
    """``GET``/``DELETE /outbox/messages``, ``GET /outbox/messages/{id}`` (``{id}.eml``: the
    raw message), ``GET /outbox/messages/{id}/attachments/{index}``."""

    def __init__(self, outbox: Outbox, keyed: bool):
        self.outbox = outbox
        self.keyed = keyed

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        messages, total = self.outbox.summaries()
        resp.cache_control = ["no-store"]
        resp.media = {"total": total, "messages": messages}

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"deleted": self.outbox.clear()}

    def on_get_message(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        try:
            if id.endswith(".eml"):
                resp.data = self.outbox.raw(id[: -len(".eml")])
                resp.content_type = "message/rfc822"
                resp.set_header("X-Content-Type-Options", "nosniff")
                return
            resp.media = self.outbox.details(id)
        except NotInOutbox:
            raise _not_found(id) from None

    def on_get_attachment(self, req, resp, id: str, index: int) -> None:
        try:
            filename, data = self.outbox.attachment(id, index)
        except NotInOutbox:
            raise _not_found(id) from None
        # Never rendered by the browser on the service's origin: downloaded, as bytes.
        resp.content_type = "application/octet-stream"
        resp.downloadable_as = filename
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.data = data


def outbox_enabled(settings) -> bool:
    """Whether to serve /outbox: the file transport is active, and this is development or
    OUTBOX_UI=yes (which, in production, requires API keys: the outbox holds real mail)."""
    if "file" not in settings.transport_names:
        return False
    if settings.environment == "development":
        return True
    if settings.outbox_ui and not settings.api_keys:
        raise ConfigError("OUTBOX_UI=yes in production needs API_KEYS: the outbox shows the mail")
    return settings.outbox_ui


def add_outbox_routes(app: falcon.App, settings) -> None:
    if not outbox_enabled(settings):
        return
    outbox = Outbox(settings.outbox_dir)
    # Without API keys (development), only names that cannot be rebound: see outbox_host.
    keyed = bool(settings.api_keys)
    pages, api = OutboxPages(outbox, keyed), OutboxApi(outbox, keyed)
    app.add_route("/outbox", pages)
    app.add_route("/outbox/poll.js", pages, suffix="script")
    app.add_route("/outbox/messages", api)
    app.add_route("/outbox/messages/{id}", api, suffix="message")
    app.add_route("/outbox/messages/{id}/attachments/{index:int(min=0)}", api, suffix="attachment")
    app.add_route("/outbox/{id}", pages, suffix="message")
    app.add_route("/outbox/{id}/html", pages, suffix="html")
