"""Service requests with queued confirmations, made the way a finished call makes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callbacks.services import CallbackQueue
from db.work import WorkItem
from intake.catalog import Catalog
from intake.models import Confirmation, Message
from intake.service_requests import submit_message

GERMAN_MOBILE = "+4915112345678"
US_MOBILE = "+12025550143"
# Demo customers (config/demo/customers.csv) with an e-mail address on file.
GERMAN_CUSTOMER = "4711001"
US_CUSTOMER = "5550001"


def submit_request(
    session: Session,
    *,
    catalog: Catalog,
    now: datetime,
    region: str = "de",
    callback_number: str | None = GERMAN_MOBILE,
    customer_number: str | None = None,
    description: str = "Server startet nicht",
    caller_id: str | None = None,
) -> str:
    """A complete message turned into an SR (confirmations and callback queued); its number."""
    language = catalog.region(region).language
    message = Message(
        kind="new",
        region=region,
        language=language,
        customer_number=customer_number,
        is_identified=customer_number is not None,
        product="vSphere",
        product_line="datacenter",
        contact_name="Erika Mustermann",
        company="Muster Maschinenbau GmbH",
        callback_number=callback_number,
        callback_number_source="caller_id",
        description=description,
        answer_channel="phone",
        requested_at=now,
        created_at=now,
        updated_at=now,
        is_complete=True,
    )
    session.add(message)
    session.flush()
    result = submit_message(
        session,
        message,
        catalog=catalog,
        scheduler=CallbackQueue(catalog),
        now=now,
        caller_id=caller_id,
    )
    return result.sr_number


def confirmation(session: Session, sr_number: str, channel: str = "sms") -> Confirmation:
    """The SR's confirmation on ``channel``."""
    found = session.scalar(
        select(Confirmation).where(
            Confirmation.sr_number == sr_number, Confirmation.channel == channel
        )
    )
    assert found is not None, f"no {channel} confirmation for SR {sr_number}"
    return found


def work_for(session: Session, key: str) -> WorkItem:
    """The work row with ``key``."""
    found = session.scalar(select(WorkItem).where(WorkItem.key == key))
    assert found is not None, f"no work row {key}"
    return found
