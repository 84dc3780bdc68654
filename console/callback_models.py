"""The callback queue's API bodies as pydantic models (requests and responses)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from callbacks.lifecycle import Disposition
from callbacks.models import CallbackStatus
from callbacks.queries import CallbackView, EventView


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallbackPath(BaseModel):
    """Which callback."""

    callback_id: int = Field(description="the callback's id, as listed")


class CallbackListQuery(BaseModel):
    """Which callbacks to list."""

    status: CallbackStatus | None = Field(
        default=None, description="only callbacks in this state; without it the open ones"
    )
    region: str | None = Field(default=None, max_length=40, description="only this region's")


class ClaimNextBody(_Body):
    """Which region's queue to take from."""

    region: str | None = Field(
        default=None, max_length=40, description="default: the agent's own region"
    )


class ReleaseBody(_Body):
    """Why the callback goes back to the queue."""

    reason: str | None = Field(default=None, max_length=400)


class DispositionBody(_Body):
    """How the call to the customer went."""

    disposition: Disposition
    note: str | None = Field(default=None, max_length=400)
    call_again_at: AwareDatetime | None = Field(
        default=None, description="required for another_time: when the customer asked to be called"
    )


class RescheduleBody(_Body):
    """When to call the customer instead, and why."""

    at: AwareDatetime = Field(description="the new promise; must lie in the future")
    reason: str | None = Field(default=None, max_length=400)


class Callback(BaseModel):
    """A callback owed to a customer, with the time left to its promise."""

    id: int
    sr_number: str
    status: CallbackStatus
    region: str
    language: str
    product_line: str
    callback_number: str
    contact_name: str | None
    company: str | None
    description: str | None = Field(description="what the caller said")
    requested_at: AwareDatetime = Field(description="when the caller first called")
    due_at: AwareDatetime = Field(description="when the callback is promised by")
    time_left_seconds: int = Field(description="to the promise; negative once it is broken")
    claimed_by: str | None
    claim_expires_at: AwareDatetime | None
    not_before: AwareDatetime | None = Field(description="a retry or a time asked for")
    attempts: int = Field(description="calls that reached the customer's phone")
    disposition: Disposition | None
    closed_at: AwareDatetime | None
    created_at: AwareDatetime

    @classmethod
    def of(cls, view: CallbackView) -> Callback:
        return cls(
            id=view.id,
            sr_number=view.sr_number,
            status=CallbackStatus(view.status),
            region=view.region,
            language=view.language,
            product_line=view.product_line,
            callback_number=view.callback_number,
            contact_name=view.contact_name,
            company=view.company,
            description=view.description,
            requested_at=view.requested_at,
            due_at=view.due_at,
            time_left_seconds=int(view.time_left.total_seconds()),
            claimed_by=view.claimed_by,
            claim_expires_at=view.claim_expires_at,
            not_before=view.not_before,
            attempts=view.attempts,
            disposition=None if view.disposition is None else Disposition(view.disposition),
            closed_at=view.closed_at,
            created_at=view.created_at,
        )


class CallbackEvent(BaseModel):
    """One move of a callback."""

    at: AwareDatetime
    actor: str = Field(description="a user's name, 'system' or 'twilio'")
    action: str
    from_status: CallbackStatus
    to_status: CallbackStatus
    reason: str | None

    @classmethod
    def of(cls, event: EventView) -> CallbackEvent:
        return cls(
            at=event.at,
            actor=event.actor,
            action=event.action,
            from_status=CallbackStatus(event.from_status),
            to_status=CallbackStatus(event.to_status),
            reason=event.reason,
        )


class CallbackWithHistory(Callback):
    """A callback and every move it made."""

    history: list[CallbackEvent]


class CallbackList(BaseModel):
    """Callbacks in queue order: earliest promise first, then the first caller."""

    callbacks: list[Callback]


class ClaimedNext(BaseModel):
    """The callback just claimed, or null when nobody is waiting."""

    callback: Callback | None
