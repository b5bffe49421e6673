#!/usr/bin/env python3
"""An SMTP server for evently-jobs tests, built on aiosmtpd (1.4.6).

It accepts mail on 127.0.0.1 and appends every accepted message to a spool file as one JSON
line: {"mail_from": ..., "rcpt_tos": [...], "data": "...", "auth_user": ... or null,
"session": N}, where N numbers the connections in the order of their first message.

Options:
  --port 0|N                  port to listen on; 0 picks a free one
  --spool FILE                where accepted messages are appended (JSON lines)
  --auth-user U --auth-password P
                              offer AUTH PLAIN/LOGIN without TLS and require it: MAIL before a
                              successful AUTH gets 530, a wrong password gets 535
  --reject-rcpt-domain D      RCPT TO an address at domain D gets 550 5.1.1
  --tempfail-count N          the first N DATA commands get 451 4.3.0
  --data-reply-delay S        wait S seconds before answering the end of DATA (a slow scanner)
                              every end of DATA received is appended to SPOOL.data-ends as
                              one line at once, before the wait, so a test can tell that a
                              session reached it
  --tls-cert C --tls-key K --tls-mode starttls|implicit
                              offer (and require) STARTTLS, or speak TLS from the first byte
  --exit-on-stdin-eof         also stop when stdin reaches end of file (the parent holds the
                              pipe's other end, so the server dies with its parent)

Once listening it prints exactly one line "READY <port>" to stdout, and it runs until SIGTERM
(or SIGINT).
"""

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"


def append_line(path, text):
    """One write of a whole line to a file opened for appending: a reader sees either nothing
    or the complete line (it ignores a last line without its newline)."""
    line = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = 0
        while written < len(line):
            written += os.write(fd, line[written:])
    finally:
        os.close(fd)


class SinkHandler:
    def __init__(self, spool, reject_domain, tempfail_count, data_reply_delay=0.0):
        self.data_reply_delay = data_reply_delay
        self.spool = spool
        self.reject_domain = reject_domain.lower() if reject_domain else None
        self.tempfail_remaining = tempfail_count
        self.sessions_seen = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rpartition("@")[2].lower()
        if self.reject_domain is not None and domain == self.reject_domain:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        append_line(self.spool + ".data-ends", "end of DATA\n")
        # Numbered at their first message: tells which messages shared one connection.
        if getattr(session, "evently_number", None) is None:
            self.sessions_seen += 1
            session.evently_number = self.sessions_seen
        if self.data_reply_delay > 0:
            await asyncio.sleep(self.data_reply_delay)
        if self.tempfail_remaining > 0:
            self.tempfail_remaining -= 1
            return "451 4.3.0 try again later"
        content = envelope.content
        if isinstance(content, bytes):
            content = content.decode("utf-8", errors="replace")
        auth_user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", errors="replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": content,
            "auth_user": auth_user,
            "session": session.evently_number,
        }
        append_line(self.spool, json.dumps(record, ensure_ascii=False) + "\n")
        return "250 2.0.0 Message accepted for delivery"


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode("utf-8")
            and auth_data.password == password.encode("utf-8")
        ):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    return authenticator


def parse_arguments():
    parser = argparse.ArgumentParser(description="SMTP sink for evently-jobs tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--auth-user")
    parser.add_argument("--auth-password")
    parser.add_argument("--reject-rcpt-domain")
    parser.add_argument("--tempfail-count", type=int, default=0)
    parser.add_argument("--data-reply-delay", type=float, default=0.0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--tls-mode", choices=["starttls", "implicit"])
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    arguments = parser.parse_args()
    if (arguments.auth_user is None) != (arguments.auth_password is None):
        parser.error("--auth-user and --auth-password go together")
    if (arguments.tls_mode is None) != (arguments.tls_cert is None) or (arguments.tls_cert is None) != (arguments.tls_key is None):
        parser.error("--tls-cert, --tls-key and --tls-mode go together")
    return arguments


async def serve(arguments):
    loop = asyncio.get_running_loop()
    handler = SinkHandler(arguments.spool, arguments.reject_rcpt_domain, arguments.tempfail_count,
                          arguments.data_reply_delay)
    options = {
        # A fixed name: the default, socket.getfqdn(), may wait on DNS.
        "hostname": "evently-smtp-sink",
        "ident": "evently smtp sink",
        "enable_SMTPUTF8": True,
    }
    if arguments.auth_user is not None:
        options.update(
            authenticator=make_authenticator(arguments.auth_user, arguments.auth_password),
            auth_required=True,
            auth_require_tls=False,
        )

    server_tls = None
    if arguments.tls_mode is not None:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
        if arguments.tls_mode == "starttls":
            # asyncio's server-side start_tls can lose the client's first command when it
            # arrives together with TLS 1.3's post-handshake tickets (seen here as "server
            # dropped connection" now and then); TLS 1.2 has no such tickets.
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            options.update(tls_context=context, require_starttls=True)
        else:
            server_tls = context

    def factory():
        return SMTP(handler, loop=loop, **options)

    server = await listen(loop, factory, arguments.port, server_tls)
    port = server.sockets[0].getsockname()[1]

    stopped = asyncio.Event()
    # A parent that spawned us from a thread blocking signals would pass that mask on.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    if arguments.exit_on_stdin_eof:
        def on_stdin():
            try:
                chunk = os.read(sys.stdin.fileno(), 4096)
            except OSError:
                chunk = b""
            if not chunk:
                loop.remove_reader(sys.stdin.fileno())
                stopped.set()

        loop.add_reader(sys.stdin.fileno(), on_stdin)

    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()

    await stopped.wait()
    server.close()
    # Do not wait for open client connections (wait_closed would, in newer Pythons).


def ephemeral_ports():
    """The range the kernel hands out as local ports of outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
            low, high = (int(part) for part in file.read().split())
            return range(low, high + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


async def listen(loop, factory, port, server_tls):
    """Listens on `port`, or with 0 on a free port outside the ephemeral range.

    Why not the kernel's pick for 0: tests stop the server and start it again on the same port
    (an outage), and a kernel-picked port is an ephemeral one that any outgoing connection of
    the busy test process may take as its local port meanwhile (seen in CI: "address already
    in use" on the restart).
    """
    if port != 0:
        return await loop.create_server(factory, host=HOST, port=port, reuse_address=True, ssl=server_tls)
    ephemeral = ephemeral_ports()
    candidates = [candidate for candidate in range(20000, 32768) if candidate not in ephemeral]
    last_error = None
    for candidate in random.sample(candidates, min(50, len(candidates))):
        try:
            return await loop.create_server(factory, host=HOST, port=candidate, reuse_address=True, ssl=server_tls)
        except OSError as error:
            last_error = error
    if last_error is None:
        return await loop.create_server(factory, host=HOST, port=0, reuse_address=True, ssl=server_tls)
    raise last_error


def main():
    arguments = parse_arguments()
    # aiosmtpd warns on every start when AUTH is allowed without TLS, and on every login
    # (deprecated Session.login_data); both are expected here.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="smtp_sink: %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    try:
        asyncio.run(serve(arguments))
    except OSError as error:
        print(f"smtp_sink: cannot listen on {HOST}:{arguments.port}: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
