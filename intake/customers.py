"""Customers and their entitlements: look-up by customer number, CSV import."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from db.base import table_of
from intake.catalog import Catalog
from intake.email_addresses import InvalidEmailAddress, normalized_email
from intake.models import Customer, Entitlement

CSV_HEADER = ("customer_number", "company", "product", "support_level", "email")


@dataclass(frozen=True)
class EntitlementView:
    """One product a customer may call about."""

    product: str
    product_line: str
    support_level: str


@dataclass(frozen=True)
class CustomerView:
    """A customer as the call flow sees it."""

    customer_number: str
    company: str
    email: str | None
    entitlements: tuple[EntitlementView, ...]

    @property
    def products(self) -> tuple[str, ...]:
        """Products in menu order."""
        return tuple(e.product for e in self.entitlements)


@cache
def _customer_query() -> Select[Any]:
    """A customer with their entitlements (built once: it runs on most calls)."""
    customers, entitlements = table_of(Customer), table_of(Entitlement)
    return (
        select(
            customers.c.company,
            customers.c.email,
            entitlements.c.product,
            entitlements.c.product_line,
            entitlements.c.support_level,
        )
        .select_from(
            customers.outerjoin(
                entitlements, entitlements.c.customer_number == customers.c.customer_number
            )
        )
        .where(customers.c.customer_number == bindparam("customer_number"))
    )


def find_customer(reader: Session | Connection, customer_number: str) -> CustomerView | None:
    """The customer with ``customer_number`` and their entitlements, or None."""
    rows = reader.execute(_customer_query(), {"customer_number": customer_number}).all()
    if not rows:
        return None
    # Sorted here, not in SQL: the product menu's keys must not depend on the database's
    # collation (SQLite sorts "Workstation" before "vSphere", most PostgreSQL locales after).
    products = sorted(
        (r for r in rows if r.product is not None),
        key=lambda row: (row.product.casefold(), row.product),
    )
    return CustomerView(
        customer_number=customer_number,
        company=rows[0].company,
        email=rows[0].email,
        entitlements=tuple(
            EntitlementView(r.product, r.product_line, r.support_level) for r in products
        ),
    )


def email_on_file(reader: Session | Connection, customer_number: str | None) -> str | None:
    """The e-mail address on file for ``customer_number`` (None: none, or no such customer)."""
    if customer_number is None:
        return None
    email: str | None = reader.execute(_email_query(), {"number": customer_number}).scalar()
    return email


@cache
def _email_query() -> Select[Any]:
    customers = table_of(Customer)
    return select(customers.c.email).where(customers.c.customer_number == bindparam("number"))


class ImportError_(Exception):
    """The CSV has problems; nothing was imported. ``problems`` name the lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    """How many customers and entitlements an import wrote."""

    customers: int
    entitlements: int


def import_customers_csv(
    session: Session, text: str, *, catalog: Catalog, now: datetime
) -> ImportResult:
    """Upsert customers and their entitlements from CSV; any bad row rejects the whole file."""
    reader = csv.reader(io.StringIO(text))
    problems: list[str] = []
    header = next(reader, None)
    if header is None:
        raise ImportError_(["line 1: the file is empty; expected header " + ",".join(CSV_HEADER)])
    if tuple(h.strip().lower() for h in header) != CSV_HEADER:
        raise ImportError_(
            [f"line 1: header must be {','.join(CSV_HEADER)}, got {','.join(header)}"]
        )
    companies: dict[str, str] = {}
    emails: dict[str, str | None] = {}
    entitlements: dict[tuple[str, str], tuple[str, str]] = {}
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CSV_HEADER):
            problems.append(f"line {line_no}: expected {len(CSV_HEADER)} fields, got {len(row)}")
            continue
        number, company, product, level, email = (cell.strip() for cell in row)
        row_problems = []
        if not number.isdigit():
            row_problems.append(f"customer_number {number!r} must be digits only")
        if not company:
            row_problems.append("company is empty")
        canonical = catalog.canonical_product(product)
        if canonical is None:
            known = ", ".join(p for line in catalog.product_lines for p in line.products)
            row_problems.append(f"product {product!r} is not configured (known: {known})")
        if level not in catalog.support_levels:
            row_problems.append(
                f"support_level {level!r} is not one of {', '.join(catalog.support_levels)}"
            )
        if email:
            try:
                email = normalized_email(email)
            except InvalidEmailAddress as exc:
                row_problems.append(f"email {exc}")
        if number in companies and companies[number] != company:
            row_problems.append(f"company differs from an earlier line for customer {number}")
        if row_problems:
            problems.extend(f"line {line_no}: {p}" for p in row_problems)
            continue
        assert canonical is not None
        companies[number] = company
        if email or number not in emails:
            emails[number] = email or None
        line = catalog.product_line_for(canonical)
        assert line is not None
        entitlements[(number, canonical)] = (line.key, level)
    if problems:
        raise ImportError_(problems)
    for number, company in companies.items():
        customer = session.get(Customer, number)
        if customer is None:
            session.add(
                Customer(
                    customer_number=number, company=company, email=emails[number], created_at=now
                )
            )
        else:
            customer.company = company
            customer.email = emails[number]
    session.flush()
    for (number, product), (line_key, level) in entitlements.items():
        session.execute(
            delete(Entitlement).where(
                Entitlement.customer_number == number, Entitlement.product == product
            )
        )
        session.add(
            Entitlement(
                customer_number=number, product=product, product_line=line_key, support_level=level
            )
        )
    return ImportResult(customers=len(companies), entitlements=len(entitlements))
