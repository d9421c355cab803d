"""Row to Seg: claim, post, record the outcome, give back; and the sweeper.

``claims`` locks and leases due rows; ``loop`` posts them in order; ``outcomes`` decides and
stores what each attempt comes to (through ``lifecycle.send_finish``);
``tracker`` is the HTTP client for Seg, with ``deadline``'s watchdog;
``throttle`` shares back-pressure through Redis; ``outbox`` sweeps what has
no live wake-up and purges what retention allows; ``stopping`` lets a cancelled
task finish its post on the wire.
"""

from .loop import deliver, deliver_many
from .outbox import purge, sweep
from .stopping import deferred as stop_deferred
from .throttle import is_open as circuit_open
from .throttle import open_websites
from .throttle import standing as throttle_standing
from .tracker import endpoint

__all__ = [
    "circuit_open",
    "deliver",
    "deliver_many",
    "endpoint",
    "open_websites",
    "purge",
    "stop_deferred",
    "sweep",
    "throttle_standing",
]
