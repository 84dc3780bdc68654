"""Customer CSV import: all or nothing, problems named by line, re-import updates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.transaction import transaction
from intake.customers import ImportError_, find_customer, import_customers_csv
from intake.models import Customer, Entitlement

HEADER = "customer_number,company,product,support_level,email\n"


def run_import(session_factory, catalog, clock, text):
    with transaction(session_factory) as session:
        return import_customers_csv(session, text, catalog=catalog, now=clock.now())


def counts(session_factory):
    with transaction(session_factory) as session:
        return (
            session.scalar(select(func.count()).select_from(Customer)),
            session.scalar(select(func.count()).select_from(Entitlement)),
        )


def test_a_good_file_imports_customers_with_their_entitlements(session_factory, catalog, clock):
    result = run_import(
        session_factory,
        catalog,
        clock,
        HEADER
        + "4711001,Muster GmbH,vSphere,production,it@muster.example\n"
        + "4711001,Muster GmbH,workstation,basic,\n"
        + "4711002,Beispiel AG,NSX,production,\n",
    )
    assert (result.customers, result.entitlements) == (2, 3)
    with transaction(session_factory) as session:
        muster = find_customer(session, "4711001")
        beispiel = find_customer(session, "4711002")
    assert muster is not None
    assert beispiel is not None
    assert muster.company == "Muster GmbH"
    assert muster.email == "it@muster.example"
    assert [(e.product, e.product_line, e.support_level) for e in muster.entitlements] == [
        ("vSphere", "datacenter", "production"),
        ("Workstation", "desktop", "basic"),
    ]
    assert beispiel.email is None


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(session_factory, catalog, clock):
    text = (
        HEADER
        + "4711001,Muster GmbH,vSphere,production,\n"
        + "47-11,Muster GmbH,vSphere,production,\n"
        + "4711003,,Quake,gold,not-an-address\n"
        + "4711004,Too,Few\n"
    )
    with pytest.raises(ImportError_) as caught:
        run_import(session_factory, catalog, clock, text)
    problems = caught.value.problems
    assert problems[0] == "line 3: customer_number '47-11' must be digits only"
    assert "line 4: company is empty" in problems
    assert any(p.startswith("line 4: product 'Quake' is not configured") for p in problems)
    assert "line 4: support_level 'gold' is not one of basic, production, per-incident" in problems
    assert (
        "line 4: email 'not-an-address' is not an e-mail address: An email address must have"
        " an @-sign." in problems
    )
    assert "line 5: expected 5 fields, got 3" in problems
    assert not any(p.startswith("line 2") for p in problems)
    assert counts(session_factory) == (0, 0)


@pytest.mark.parametrize(
    "address",
    ["ops@@acme.example", "ops@acme", "ops@acme..example", "o p@acme.example", "@acme.example"],
)
def test_an_address_with_an_at_sign_that_mail_cannot_reach_is_refused(
    session_factory, catalog, clock, address
):
    text = HEADER + f"4711001,Muster GmbH,vSphere,production,{address}\n"
    with pytest.raises(ImportError_) as caught:
        run_import(session_factory, catalog, clock, text)
    [problem] = caught.value.problems
    assert problem.startswith(f"line 2: email {address!r} is not an e-mail address: ")


def test_an_address_is_stored_with_its_domain_in_lower_case(session_factory, catalog, clock):
    run_import(
        session_factory,
        catalog,
        clock,
        HEADER + "4711001,Muster GmbH,vSphere,production,IT@Muster.Example\n",
    )
    with transaction(session_factory) as session:
        customer = find_customer(session, "4711001")
    assert customer is not None
    assert customer.email == "IT@muster.example"


def test_a_wrong_header_is_refused(session_factory, catalog, clock):
    with pytest.raises(ImportError_) as caught:
        run_import(session_factory, catalog, clock, "number,company\n1,A\n")
    assert caught.value.problems[0].startswith("line 1: header must be customer_number,")


def test_an_empty_file_is_refused(session_factory, catalog, clock):
    with pytest.raises(ImportError_) as caught:
        run_import(session_factory, catalog, clock, "")
    assert caught.value.problems[0].startswith("line 1: the file is empty")


def test_one_customer_with_two_company_names_is_refused(session_factory, catalog, clock):
    with pytest.raises(ImportError_) as caught:
        run_import(
            session_factory,
            catalog,
            clock,
            HEADER + "1,Alpha,vSphere,basic,\n1,Beta,NSX,basic,\n",
        )
    assert caught.value.problems == ["line 3: company differs from an earlier line for customer 1"]


def test_a_re_import_updates_customers_and_support_levels(session_factory, catalog, clock):
    run_import(session_factory, catalog, clock, HEADER + "4711001,Muster GmbH,vSphere,basic,\n")
    run_import(
        session_factory,
        catalog,
        clock,
        HEADER + "4711001,Muster Maschinenbau GmbH,vSphere,production,ops@muster.example\n",
    )
    with transaction(session_factory) as session:
        customer = find_customer(session, "4711001")
    assert customer is not None
    assert customer.company == "Muster Maschinenbau GmbH"
    assert customer.email == "ops@muster.example"
    assert [(e.product, e.support_level) for e in customer.entitlements] == [
        ("vSphere", "production")
    ]
    assert counts(session_factory) == (1, 1)


def test_products_come_in_the_same_order_on_every_database(session_factory, catalog, clock):
    run_import(
        session_factory,
        catalog,
        clock,
        HEADER + "1,A,Workstation,basic,\n1,A,vSphere,basic,\n1,A,Fusion,basic,\n",
    )
    with transaction(session_factory) as session:
        customer = find_customer(session, "1")
    assert customer is not None
    assert customer.products == ("Fusion", "vSphere", "Workstation")


def test_an_unknown_customer_number_finds_nobody(session_factory):
    with transaction(session_factory) as session:
        assert find_customer(session, "999") is None
