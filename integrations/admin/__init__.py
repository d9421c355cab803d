"""The operator's admin, split by role; importing the package registers every admin.

- ``events``: the events list, its actions and one event's page (EventAdmin).
- ``views``: the delivery dashboard, the customer page, and the panes of an
  event's page (what was sent, what Seg answered, the history).
- ``records``: suppression rules, identities and aliases.
- ``erasure``: erasing or suppressing a customer, and the records requests leave.
- ``display``, ``lists``, ``forms``: status badges and JSON, the list's filters and
  paginator, and the suppress form.

Lists stay fast at a million rows: no full COUNT(*), filters with fixed
choices, and an index behind each. Actions are set-based and each is guarded
by its own permission.
"""

from . import erasure, events, records

__all__ = ["erasure", "events", "records"]
