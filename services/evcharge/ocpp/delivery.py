"""One attempt to deliver the head of the offline queue, for both protocols' senders.

The sender calls the CSMS with the queued message and this turns what happened into the
queue's bookkeeping and the sender's next step:

| what happened | queue | next step |
|---|---|---|
| answered | left to the caller, which acts on the answer and then removes it | `Delivered` |
| the library cannot build the payload (TypeError / ValueError) | removed: it never becomes sendable | go on |
| the connection closed, before or while waiting for the answer | untouched: not an attempt | wait for the next connection |
| no answer in time or a CALLERROR | attempt counted; removed when `RetryPolicy` gives up | retry after the policy's wait |

The answered message stays queued until the caller removes it, so that state derived from the
answer (1.6's transactionId) is stored first: a crash in between resends the message
(at-least-once) rather than forgetting the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import websockets
from ocpp.exceptions import OCPPError

from .queue import MessageQueue, Queued, RetryPolicy

log = logging.getLogger("evcharge.ocpp")


@dataclass(frozen=True)
class Delivered:
    response: Any


@dataclass(frozen=True)
class NotDelivered:
    connection_closed: bool = False  # wait for the next connection: the message keeps its attempts
    retry_in_s: float = 0.0          # seconds before the next attempt (0: go on with the queue)


async def attempt(queue: MessageQueue, head: Queued, send: Callable[[], Awaitable[Any]], policy: RetryPolicy,
                  still_connected: Callable[[], bool]) -> Delivered | NotDelivered:
    """Send `head` once with `send()` and store the outcome (see the module's table).

    `still_connected()` tells a timeout on the live connection (an attempt) from one caused by the
    connection going away while the call waited (not an attempt)."""
    try:
        response = await send()
    except (TypeError, ValueError) as e:
        log.error("%s %s cannot be sent, dropped: %s", head.action, head.id, e)
        queue.remove(head.id)
        return NotDelivered()
    except websockets.ConnectionClosed:
        return NotDelivered(connection_closed=True)
    except (TimeoutError, OCPPError) as e:
        if not still_connected():
            return NotDelivered(connection_closed=True)
        attempts = queue.count_attempt(head.id)
        wait = policy.after_failure(attempts)
        if wait is None:
            log.error("%s %s given up after %d attempts: %s", head.action, head.id, attempts, e)
            queue.remove(head.id)
            return NotDelivered()
        log.warning("%s %s not accepted (%s); attempt %d, retry in %.1f s", head.action, head.id, e, attempts, wait)
        return NotDelivered(retry_in_s=wait)
    return Delivered(response)
