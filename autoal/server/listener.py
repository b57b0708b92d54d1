"""The labelling server's HTTP listener: waitress, guarded against connections that hold it without asking anything.

waitress reads requests on one thread (an ``asyncore`` loop) and runs the app on a pool of threads, so an
idle connection costs a socket, not a thread. Its own defences are not enough on a hostile network
(benchmarks/RESULTS.md, "The labelling server against idle, trickling connections"): a connection that sends
one byte every few seconds never times out (``channel_timeout`` counts from the last byte), and once
``connection_limit`` connections are open waitress stops accepting, so about a hundred such connections
lock everybody out. :func:`create_listener` makes a waitress server that adds, in waitress's own loop:

- a deadline per request: a request (head and body) must arrive whole within :data:`REQUEST_SECONDS` of
  its first byte, however slowly it trickles, or the connection is closed;
- eviction at the limit: when the open connections reach the limit, the connections that have no request
  being served are closed, those waiting longest first, so that a new person always gets in;
- ``poll`` instead of ``select`` (no 1,024-descriptor ceiling) and a limit set from the process's file
  descriptor allowance;
- body and header size limits enforced by waitress while reading, before the app sees the request and
  before any token is checked: a 300 MB upload is refused (413) from its ``Content-Length`` without
  reading it.
"""

from __future__ import annotations

import time

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

__all__ = ["create_listener", "GuardedServer", "REQUEST_SECONDS", "IDLE_SECONDS", "MAX_HEADER_BYTES",
           "connection_limit"]

#: Seconds a request may take to arrive, from its first byte to its last.
REQUEST_SECONDS = 15
#: Seconds a connection may stay open with no request in progress (waitress's ``channel_timeout``).
IDLE_SECONDS = 60
#: The largest request head (request line, headers and cookies) accepted.
MAX_HEADER_BYTES = 32 * 1024
#: How often (seconds) the loop looks for connections past their deadline.
CHECK_EVERY = 1
#: Connections at most (fewer when the process may open fewer files, see :func:`connection_limit`).
MOST_CONNECTIONS = 1000


def connection_limit() -> int:
    """:data:`MOST_CONNECTIONS`, or less: half of the file descriptors this process may open, so that a full
    house of connections still leaves room for the run store, images and logs."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):  # pragma: no cover - no resource module (Windows)
        return 200
    if soft == resource.RLIM_INFINITY:
        return MOST_CONNECTIONS
    return max(20, min(MOST_CONNECTIONS, soft // 2))


class _Channel(HTTPChannel):
    """waitress's connection, remembering when the request it is receiving began."""

    request_began = None  # time.time() of the first byte of the request being received; None between requests

    def received(self, data):
        """waitress's parsing of ``data``, noting when a request's first byte arrived (reset once it is whole)."""
        if data and self.request is None and self.request_began is None:
            self.request_began = time.time()
        result = super().received(data)
        if self.request is None:  # every byte received so far belongs to whole requests
            self.request_began = None
        return result


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server with a per-request deadline and eviction at the connection limit (see the module)."""

    channel_class = _Channel
    request_seconds = REQUEST_SECONDS

    def maintenance(self, now):
        """waitress's idle check, then close connections whose request began over ``request_seconds`` ago and is
        still not whole (never one whose request is being served)."""
        super().maintenance(now)  # idle connections: closed after channel_timeout
        cutoff = now - self.request_seconds
        for channel in list(self.active_channels.values()):
            began = channel.request_began
            if began is not None and began < cutoff and not channel.requests:
                channel.will_close = True

    def readable(self):
        """Evict waiting connections when the limit is reached (see :meth:`_evict`), then waitress's check."""
        if self.accepting and len(self._map) >= self.adj.connection_limit:
            self._evict(len(self._map) - self.adj.connection_limit + max(1, self.adj.connection_limit // 20))
        return super().readable()

    def _evict(self, n) -> None:
        """Close ``n`` connections that have no request being served and nothing left to send, those waiting
        longest first (a request begun long ago, else the oldest activity)."""
        waiting = [c for c in self.active_channels.values()
                   if not c.requests and not c.total_outbufs_len and not c.will_close]
        waiting.sort(key=lambda c: c.request_began if c.request_began is not None else c.last_activity)
        for channel in waiting[:n]:
            channel.will_close = True


def create_listener(app, *, host, port, threads, max_body, request_seconds=REQUEST_SECONDS,
                    idle_seconds=IDLE_SECONDS, limit=None):
    """A started (listening) waitress server for ``app`` with the guards of the module; ``.run()`` serves.

    Parameters
    ----------
    app : WSGI application
    host, port : str, int
        Where to listen (port 0: a free one, see the server's ``effective_port``).
    threads : int
        Request threads.
    max_body : int
        The largest request body accepted, in bytes (larger ones get 413 before they are read).
    request_seconds, idle_seconds : float
        Deadlines per request and per idle connection.
    limit : int, optional
        Open connections at most (default :func:`connection_limit`).
    """
    adj = Adjustments(host=host, port=port, threads=threads, ident="autoal", clear_untrusted_proxy_headers=True,
                      channel_timeout=int(idle_seconds), cleanup_interval=CHECK_EVERY,
                      connection_limit=limit or connection_limit(), asyncore_use_poll=True,
                      max_request_body_size=max_body, max_request_header_size=MAX_HEADER_BYTES)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict = {}
    servers = []
    for sockinfo in adj.listen:  # as waitress.create_server does, with the guarded server class
        server = GuardedServer(app, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
        server.request_seconds = request_seconds
        servers.append(server)
    if len(servers) == 1:
        return servers[0]
    listening = [(s.effective_host, s.effective_port) for s in servers]
    multi = MultiSocketServer(socket_map, adj, listening, dispatcher, servers[-1].log_info)
    multi.effective_port = servers[0].effective_port
    return multi
