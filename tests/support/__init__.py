"""What the tests share: real peers (SMTP, Redis, Postfix, HTTP), a live server, the service
as a process, the form client, the transport contract and sample requests."""
