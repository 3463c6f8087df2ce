"""Django's ASGI handler: one thread hop per request, on reused request threads.

One hop. Django 5.2's ASGI handler builds its middleware chain in async mode.
With any sync-only middleware (ours, WhiteNoise) that chain runs the
middleware in the request's thread, hops back to the event loop for URL
resolution (``async_to_sync`` around ``_get_response_async``), hops to the
thread again for each ``process_view`` and for the view, and back for every
return: about eight handoffs between the loop and the request thread per
request, each a GIL handoff that waits behind whatever else holds the GIL.
``ReusedThreadASGIHandler`` builds the chain in sync mode, as WSGI does, and
runs it (middleware, view middleware, view) in ONE ``sync_to_async`` call on
the request's thread. The same code runs on the same thread in the same
order; only the round trips go away (daphne CPU per request of a minimal view
1.29 -> 0.96 ms, bench/RESULTS.md "Creators: Explore"). An async view (e.g.
``/readyz``) still works: Django's sync ``_get_response`` runs it through
``async_to_sync``, on the process's event loop.

Making the chain async instead would be slower: every ``MiddlewareMixin``
middleware (Django's own, django-csp) then runs ``process_request`` and
``process_response`` through ``sync_to_async``, two hops each.

Reused threads. Django 5.2's ``ASGIHandler.__call__`` wraps every request in
``async with ThreadSensitiveContext():``, so asgiref starts a new
one-thread executor for the request's sync code (middleware, view, signal
receivers) and joins it afterwards: about a sixth of a daphne process's
time under load (bench/RESULTS.md, "Creators: Explore").

``ReusedThreadASGIHandler`` also gives each request an idle one-thread executor
from a small stack instead (asgiref >= 3.13's
``ThreadSensitiveContext(executor=...)``). A request still has its thread to
itself for its whole life; only the thread's creation and join go away.

What a reused thread could carry from one request to the next, and why it
does not:

- Django's database connections are per-thread (``Local(thread_critical=True)``).
  ``request_finished`` runs ``close_old_connections`` on the request's
  thread, and with ``CONN_MAX_AGE = 0`` (required by the pool) that closes
  the connection, i.e. returns it to the pool. A retired thread closes its
  connections as its last job, for requests that never reached
  ``request_finished``.
- Translation, timezone, URL prefix/urlconf and our request id are
  ContextVars or ``Local()`` (context-local), so they belong to the
  request's context, not to the thread; ``sync_to_async`` runs each call in
  a copy of the request's context.
- Nothing on the HTTP path (our middleware, Django, DRF, django-otp, csp,
  corsheaders, whitenoise, django-ratelimit) keeps request state in a
  ``threading.local``.

A thread goes back on the stack only when the request returned normally and
no work is still queued on it. A request that was cancelled (daphne's
``application_close_timeout`` after a disconnect) or that raised out of the
handler may leave its view running: the thread is then retired, finishing
that work, closing its database connections and exiting. Tasks a view
spawns must finish within the request: after it, their thread-sensitive
calls raise ``RuntimeError`` (asgiref refuses to move them to another thread).
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

logger = logging.getLogger(__name__)


def _close_thread_connections() -> None:
    """Close (return to the pool) the calling thread's database connections."""
    try:
        connections.close_all()
    except Exception:  # a broken connection must not stop the thread from retiring
        logger.warning("closing a retired request thread's connections failed", exc_info=True)


class RequestThread(ThreadPoolExecutor):
    """A one-thread executor that knows whether work is still queued on it."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="asgi-request")
        self._pending = 0
        self._pending_lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        with self._pending_lock:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._one_done()
            raise
        # Added before run_in_executor chains the asyncio future, so it runs
        # first: by the time the awaiting request resumes, the count is down.
        future.add_done_callback(self._one_done)
        return future

    def _one_done(self, _future=None) -> None:
        with self._pending_lock:
            self._pending -= 1

    @property
    def idle(self) -> bool:
        with self._pending_lock:
            return self._pending == 0

    def retire(self) -> None:
        """Finish queued work, close this thread's DB connections, then let the thread exit."""
        try:
            self.submit(_close_thread_connections)
        except RuntimeError:  # already shut down
            return
        self.shutdown(wait=False)


class ReusedThreadASGIHandler(ASGIHandler):
    """ASGIHandler whose requests run their sync chain in one hop, on reused (not new) one-thread executors.

    At most ``max_idle_threads`` idle threads are kept per process; under
    load there is one thread per request in flight, as with Django's own
    handler, and threads beyond the bound are retired when their request ends.
    """

    max_idle_threads = 32

    def __init__(self):
        super().__init__()
        # Touched only from the event loop's thread; LIFO keeps warm threads warm.
        self._idle: list[RequestThread] = []

    def load_middleware(self, is_async=False):
        # ASGIHandler.__init__ asks for the async chain; build the sync one (see the module docstring).
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        # BaseHandler.get_response (sync: URL conf, the chain, closing and
        # logging the response) in one hop to the request's thread.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope, receive, send):
        # Same as ASGIHandler.__call__ but for the executor passed to the context.
        if scope["type"] != "http":
            raise ValueError("Django can only handle ASGI/HTTP connections, not %s." % scope["type"])
        thread = self._idle.pop() if self._idle else RequestThread()
        returned = False
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
            returned = True
        finally:
            self._release(thread, returned)

    def _release(self, thread: RequestThread, returned: bool) -> None:
        if returned and thread.idle and len(self._idle) < self.max_idle_threads:
            self._idle.append(thread)
        else:
            thread.retire()

    @property
    def idle_threads(self) -> int:
        return len(self._idle)

    def close_idle_threads(self) -> None:
        """Retire every idle thread (tests; a process winding down)."""
        while self._idle:
            self._idle.pop().retire()


def get_asgi_application() -> ReusedThreadASGIHandler:
    """django.core.asgi.get_asgi_application, returning the reusing handler."""
    import django

    django.setup(set_prefix=False)
    return ReusedThreadASGIHandler()
