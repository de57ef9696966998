"""The MLLP listener: HL7 v2 messages over TCP, each framed as <SB> message <EB><CR>.

asyncio holds the connections (an interface engine keeps one open and sends message after
message, waiting for each ACK); each message is applied in a small thread pool, because
Django's ORM is synchronous. Messages on one connection are answered in the order they
came, as HL7's original acknowledgement mode requires.

Nothing a peer sends can stop the listener: bytes outside a frame close that connection,
a frame without its end block is dropped when the next frame starts or the connection
goes quiet, a frame over MAX_MESSAGE_BYTES is discarded as it streams (only its first
bytes are kept, to name its MSH-10 in the AR), and any error in one message is answered
AR and logged, never raised.
"""

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import signal
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections

from ehr.hl7v2.messages import (
    APPLICATION_INTERNAL_ERROR,
    MAX_MESSAGE_BYTES,
    ack_for_unreadable,
)

logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
BLANKS = b"\r\n\t "
HEAD_BYTES = 2048  # what is kept of an oversized frame: enough to read its MSH
READ_BYTES = 64 * 1024


class FrameReader:
    """MLLP framing without I/O: feed() the bytes as they come, get back what they make.

    Events: ("frame", message bytes); ("oversized", the frame's first bytes) once an
    oversized frame has ended; ("truncated", first bytes) for a frame cut short by the
    next start block; ("junk", bytes) for bytes outside any frame (the caller closes).
    """

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES):
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._scanned = 0  # how much of the frame in _buffer holds no end block
        self._oversized_head: bytes | None = None
        self.in_frame = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self._buffer += data
        events = []
        while True:
            if not self.in_frame:
                start = self._buffer.find(START_BLOCK)
                before = self._buffer if start < 0 else self._buffer[:start]
                if before.strip(BLANKS):
                    events.append(("junk", bytes(before[:200])))
                    self._buffer.clear()
                    return events
                if start < 0:
                    self._buffer.clear()
                    return events
                del self._buffer[:start + 1]
                self.in_frame, self._scanned = True, 0
            end = self._buffer.find(END_BLOCK, max(0, self._scanned - 1))
            restart = self._buffer.find(START_BLOCK, self._scanned,
                                        end if end >= 0 else len(self._buffer))
            if restart >= 0:
                # A new frame began before this one ended: this one is lost.
                head = self._oversized_head or bytes(self._buffer[:min(restart, HEAD_BYTES)])
                events.append(("truncated", head))
                del self._buffer[:restart]
                self.in_frame, self._oversized_head = False, None
                continue
            if end < 0:
                self._scanned = len(self._buffer)
                if self._scanned > self.max_bytes or self._oversized_head is not None:
                    # Keep the head to answer with, and the last byte (half an end block?).
                    if self._oversized_head is None:
                        self._oversized_head = bytes(self._buffer[:HEAD_BYTES])
                    del self._buffer[:-1]
                    self._scanned = 1
                return events
            frame = bytes(self._buffer[:end])
            del self._buffer[:end + len(END_BLOCK)]
            self.in_frame = False
            if self._oversized_head is not None or len(frame) > self.max_bytes:
                events.append(("oversized", self._oversized_head or frame[:HEAD_BYTES]))
                self._oversized_head = None
            else:
                events.append(("frame", frame))


def _allowed(address: str) -> bool:
    """Anyone when HL7_ALLOWED_NETWORKS is empty; else those networks and this machine
    (the container's health check connects from loopback)."""
    networks = settings.HL7_ALLOWED_NETWORKS
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback or any(ip in network for network in networks)


def mllp_wrap(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


class Listener:
    """Serves MLLP until stop(). `handle(raw=..., peer=...)` returns the ACK text."""

    def __init__(self, host: str, port: int, *, handle: Callable[..., str] | None = None,
                 idle_seconds: float = 300, max_connections: int = 50, workers: int = 4):
        if handle is None:
            from ehr.hl7v2.services import hl7_message_receive

            handle = hl7_message_receive
        self.host, self.port = host, port
        self.handle = handle
        self.idle_seconds = idle_seconds
        self.max_connections = max_connections
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="hl7")
        self._connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._stopped: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, *, ready: Callable[[int], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, self.host, self.port,
                                                  limit=READ_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("HL7 MLLP listener on %s:%s", self.host, self.port)
        if ready is not None:
            ready(self.port)
        try:
            await self._stopped.wait()
        finally:
            self._server.close()
            await self._server.wait_closed()
            # Messages being applied finish; their ACKs may no longer reach the sender,
            # who sends them again (and the repeat is acknowledged, not applied twice).
            await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)
            logger.info("HL7 MLLP listener stopped")

    def stop(self) -> None:
        """From any thread."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{peername[0]}:{peername[1]}"
        if self._connections >= self.max_connections:
            logger.warning("HL7: refused a connection from %s (already %d open)", peer,
                           self._connections)
            writer.close()
            return
        if not _allowed(peername[0]):
            logger.warning("HL7: refused a connection from %s (not in HL7_ALLOWED_NETWORKS)",
                           peer)
            writer.close()
            return
        self._connections += 1
        frames = FrameReader()
        try:
            await self._converse(reader, writer, frames, peer)
        except (ConnectionError, OSError):
            pass  # the peer went away; nothing of theirs is half-applied
        except Exception:  # noqa: BLE001
            logger.exception("HL7: connection from %s failed; closed", peer)
        finally:
            self._connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _converse(self, reader, writer, frames: FrameReader, peer: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await asyncio.wait_for(reader.read(READ_BYTES), self.idle_seconds)
            except TimeoutError:
                if frames.in_frame:
                    logger.warning("HL7 from %s: a frame without its end block; closed", peer)
                return
            if not data:
                if frames.in_frame:
                    logger.warning("HL7 from %s: connection closed inside a frame; dropped",
                                   peer)
                return
            for kind, payload in frames.feed(data):
                if kind == "frame":
                    ack = await loop.run_in_executor(self._pool, self._apply, payload, peer)
                elif kind == "oversized":
                    logger.warning("HL7 from %s: message over %d bytes refused (AR)", peer,
                                   MAX_MESSAGE_BYTES)
                    ack = ack_for_unreadable(
                        payload, f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
                elif kind == "truncated":
                    logger.warning("HL7 from %s: a frame without its end block; dropped", peer)
                    continue
                else:
                    logger.warning("HL7 from %s: %d bytes outside an MLLP frame; closed", peer,
                                   len(payload))
                    return
                writer.write(mllp_wrap(ack.encode(settings.HL7_ENCODING, errors="replace")))
                await writer.drain()

    def _apply(self, raw: bytes, peer: str) -> str:
        close_old_connections()
        try:
            return self.handle(raw=raw, peer=peer)
        except Exception:  # noqa: BLE001
            logger.exception("HL7 from %s: a message could not be applied (AR, not kept)", peer)
            return ack_for_unreadable(raw, "the waitlist filler could not apply the message "
                                      "now; send it again later",
                                      code=APPLICATION_INTERNAL_ERROR)
        finally:
            # Worker threads outlive messages; a connection left open would pin the
            # database (and a test database's teardown) for nothing.
            connections.close_all()


def serve_forever(host: str, port: int, *, ready: Callable[[int], None] | None = None) -> None:
    """Run a Listener until SIGTERM or SIGINT (the management command)."""

    async def main():
        listener = Listener(host, port)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, listener.stop)
        await listener.serve(ready=ready)

    asyncio.run(main())


class ListenerThread:
    """A Listener on its own event loop in a thread (tests, and anything embedding one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options):
        self.listener = Listener(host, port, **options)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hl7-listener", daemon=True)
        self.error: BaseException | None = None

    def _run(self):
        try:
            asyncio.run(self.listener.serve(ready=lambda port: self._ready.set()))
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            self._ready.set()

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        if self.error is not None:
            raise self.error
        return self.listener.port

    def stop(self) -> None:
        self.listener.stop()
        self._thread.join(10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
