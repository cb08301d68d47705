"""PutEvents in the local AWS: entries go to the local event bus, which matches moto's rules
and delivers to their targets (:class:`bastion.local.eventbridge.EventBus`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bastion.local.active import current
from bastion.local.eventbridge import EventBus, event_time
from bastion.local.patching import replace_attribute

#: PutEvents takes at most this many entries.
_MAX_PUT_EVENTS = 10


def put_events_entries(bus: EventBus, backend: Any, entries: list[dict[str, Any]]) -> list[Any]:
    """``PutEvents``: check each entry as moto does, then put it on ``bus`` (not moto's)."""
    results: list[dict[str, Any]] = []
    for entry in entries:
        problem = _entry_problem(entry)
        if problem is not None:
            results.append(problem)
            continue
        event_id = str(uuid.uuid4())
        when = entry.get("Time")
        event = {
            "version": "0",
            "id": event_id,
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": backend.account_id,
            "time": event_time(when if isinstance(when, datetime) else None),
            "region": backend.region_name,
            "resources": list(entry.get("Resources") or []),
            "detail": json.loads(entry["Detail"]),
        }
        bus_name = str(entry.get("EventBusName") or "default").rsplit("/", 1)[-1]
        bus.put(event, bus_name)
        results.append({"EventId": event_id})
    return results


def _entry_problem(entry: Mapping[str, Any]) -> dict[str, str] | None:
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            return {
                "ErrorCode": "InvalidArgument",
                "ErrorMessage": f"Parameter {key} is not valid. Reason: {key} is a required "
                "argument.",
            }
    try:
        json.loads(entry["Detail"])
    except ValueError:
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    return None


def _put_events(original: Any) -> Any:
    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        controls = current()
        if controls is None or len(events) > _MAX_PUT_EVENTS:
            return original(self, events)  # moto's own checks (and errors) for the rest
        return put_events_entries(controls.events, self, events)

    return put_events


def install() -> None:
    """Route PutEvents to the local event bus (rules, patterns, targets done here)."""
    from moto.events.models import EventsBackend

    replace_attribute(EventsBackend, "put_events", _put_events)
