"""Department discovery from environment variables: pure functions, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from departments.config import (
    DepartmentConfigError,
    databases_from_environment,
    department_databases,
    derive_code,
    derive_label,
)

SYSTEM = {"ENGINE": "django.db.backends.postgresql", "NAME": "helpdesk", "HOST": "db", "PORT": 5432}


def discover(environ, embedded_dir=None):
    return department_databases(environ, system_database=SYSTEM, embedded_dir=embedded_dir)


def test_each_url_variable_becomes_a_department_alias():
    found = discover(
        {
            "ACCOUNT_BILLING_DEPARTMENT_DATABASE_URL": "postgres://u:p@db:5432/billing",
            "SHIPPING_DEPARTMENT_DATABASE_URL": "mysql://root@mysql:3306/shipping",
            "UNRELATED_URL": "postgres://db/other",
        }
    )
    assert list(found.databases) == ["account_billing_department", "shipping_department"]
    billing = found.databases["account_billing_department"]
    assert billing["ENGINE"] == "django.db.backends.postgresql"
    assert (billing["NAME"], billing["HOST"], billing["PORT"]) == ("billing", "db", 5432)
    shipping = found.databases["shipping_department"]
    assert shipping["ENGINE"] == "django.db.backends.mysql"
    assert shipping["OPTIONS"]["charset"] == "utf8mb4"


def test_seed_departments_keep_their_real_names_and_others_derive_one():
    found = discover(
        {
            "ACCOUNT_BILLING_DEPARTMENT_DATABASE_URL": "postgres://db/billing",
            "FIELD_SERVICE_DEPARTMENT_DATABASE_URL": "postgres://db/field",
            "VIP_DEPARTMENT_DATABASE_URL": "postgres://db/vip",
            "VIP_DEPARTMENT_LABEL": "VIP Customers",
            "VIP_DEPARTMENT_CODE": "vip",
            "VIP_DEPARTMENT_EMAIL": " vip@support.example ",
        }
    )
    meta = found.metadata
    assert meta["account_billing_department"] == {
        "label": "Account & Billing",
        "code": "BIL",
        "variable": "ACCOUNT_BILLING_DEPARTMENT_DATABASE_URL",
        "email": "",
    }
    assert meta["vip_department"]["email"] == "vip@support.example"
    assert meta["field_service_department"]["label"] == "Field Service"
    assert meta["field_service_department"]["code"] == "FIE"
    assert meta["vip_department"]["label"] == "VIP Customers"
    assert meta["vip_department"]["code"] == "VIP"


def test_embedded_default_gives_five_sqlite_departments_and_creates_the_folder(tmp_path):
    data_dir = tmp_path / "not" / "there" / "yet"
    databases, metadata = databases_from_environment({}, data_dir=data_dir, embedded=True)
    assert data_dir.is_dir()
    assert list(databases) == [
        "default",
        "technical_issues_department",
        "account_billing_department",
        "product_service_department",
        "general_inquiry_department",
        "feedback_suggestions_department",
    ]
    assert all(db["ENGINE"] == "django.db.backends.sqlite3" for db in databases.values())
    assert Path(databases["default"]["NAME"]).parent == data_dir
    labels = [m["label"] for m in metadata.values()]
    assert labels == [
        "Technical Issues",
        "Account & Billing",
        "Product & Service",
        "General Inquiry",
        "Feedback & Suggestions",
    ]


def test_embedded_default_plus_one_variable_adds_a_sixth_department(tmp_path):
    _databases, metadata = databases_from_environment(
        {"SHIPPING_DEPARTMENT_DATABASE_URL": f"sqlite:///{tmp_path}/shipping.sqlite3"},
        data_dir=tmp_path,
        embedded=True,
    )
    assert len(metadata) == 6
    assert metadata["shipping_department"]["label"] == "Shipping"


def test_without_embedded_mode_only_configured_departments_exist(tmp_path):
    databases, _metadata = databases_from_environment(
        {
            "DATABASE_URL": "postgres://db/system",
            "GENERAL_INQUIRY_DEPARTMENT_DATABASE_URL": "postgres://db/general",
        },
        data_dir=tmp_path,
        embedded=False,
    )
    assert list(databases) == ["default", "general_inquiry_department"]


def test_production_without_system_database_url_names_the_variable(tmp_path):
    with pytest.raises(DepartmentConfigError, match=r"^DATABASE_URL is not set"):
        databases_from_environment({}, data_dir=tmp_path, embedded=False)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"BILLING_DEPARTMENT_DATABASE_URL": "not a url"},
            r"^BILLING_DEPARTMENT_DATABASE_URL is not a database URL",
        ),
        (
            {"BILLING_DEPARTMENT_DATABASE_URL": "oracle2://db/billing"},
            r"^BILLING_DEPARTMENT_DATABASE_URL (uses an unknown database scheme|cannot be parsed)",
        ),
        (
            {"BILLING_DEPARTMENT_DATABASE_URL": "postgres://db:notaport/billing"},
            r"^BILLING_DEPARTMENT_DATABASE_URL cannot be parsed",
        ),
        (
            {"BILLING_DEPARTMENT_DATABASE_URL": "postgres://db:5432"},
            r"^BILLING_DEPARTMENT_DATABASE_URL names no database",
        ),
        (
            {
                "BILLING_DEPARTMENT_DATABASE_URL": "postgres://db/a",
                "BILLS_DEPARTMENT_DATABASE_URL": "postgres://db/b",
            },
            r"^BILLS_DEPARTMENT_CODE: code 'BIL' is already used by BILLING",
        ),
        (
            {
                "SALES_DEPARTMENT_DATABASE_URL": "postgres://db/sales",
                "SALES_DEPARTMENT_CODE": "BIL",
                "ACCOUNT_BILLING_DEPARTMENT_DATABASE_URL": "postgres://db/billing",
            },
            r"^SALES_DEPARTMENT_CODE: code 'BIL' is already used by ACCOUNT_BILLING",
        ),
        (
            {"SALES_DEPARTMENT_DATABASE_URL": "postgres://db/sales", "SALES_DEPARTMENT_CODE": "1x"},
            r"^SALES_DEPARTMENT_CODE: '1X' is not a valid reference code",
        ),
        (
            {"SALES_DEPARTMENT_DATABASE_URL": "postgres://db:5432/helpdesk"},
            r"^SALES_DEPARTMENT_DATABASE_URL points at the system database",
        ),
        (
            {
                "SALES_DEPARTMENT_DATABASE_URL": "postgres://db/shared",
                "SUPPORT_DEPARTMENT_DATABASE_URL": "postgres://db/shared",
            },
            r"^SUPPORT_DEPARTMENT_DATABASE_URL points at the same database as SALES_",
        ),
        (
            {"sales_DEPARTMENT_DATABASE_URL": "postgres://db/sales"},
            r"^sales_DEPARTMENT_DATABASE_URL: department names use capital letters",
        ),
    ],
)
def test_bad_configuration_is_one_line_naming_the_variable(environ, message):
    with pytest.raises(DepartmentConfigError, match=message) as excinfo:
        discover(environ)
    assert "\n" not in str(excinfo.value)


def test_a_sqlite_department_on_the_system_file_is_refused(tmp_path):
    with pytest.raises(DepartmentConfigError, match="points at the system database"):
        databases_from_environment(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/system.sqlite3",
                "SALES_DEPARTMENT_DATABASE_URL": f"sqlite:///{tmp_path}/../{tmp_path.name}/"
                "system.sqlite3",
            },
            data_dir=tmp_path,
            embedded=False,
        )


@pytest.mark.parametrize(
    ("name", "label", "code"),
    [("ACCOUNT_BILLING", "Account Billing", "ACC"), ("R2_D2", "R2 D2", "R2D"), ("X", "X", "X")],
)
def test_derived_names(name, label, code):
    assert derive_label(name) == label
    assert derive_code(name) == code


def test_postgres_departments_may_be_schemas_of_one_database():
    from departments.config import postgres_schema

    databases = discover(
        {
            "SALES_DEPARTMENT_DATABASE_URL": "postgres://db/shared",
            "SALES_DEPARTMENT_SCHEMA": "sales",
            "SUPPORT_DEPARTMENT_DATABASE_URL": (
                "postgres://db/shared?options=-c search_path=support"
            ),
        }
    ).databases
    assert postgres_schema(databases["sales_department"]) == "sales"
    assert postgres_schema(databases["support_department"]) == "support"
    assert databases["sales_department"]["OPTIONS"]["options"] == "-c search_path=sales"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {
                "SALES_DEPARTMENT_DATABASE_URL": "mysql://db/sales",
                "SALES_DEPARTMENT_SCHEMA": "sales",
            },
            r"^SALES_DEPARTMENT_SCHEMA: schemas are a PostgreSQL feature",
        ),
        (
            {
                "SALES_DEPARTMENT_DATABASE_URL": "postgres://db/shared",
                "SALES_DEPARTMENT_SCHEMA": "sales; drop",
            },
            r"^SALES_DEPARTMENT_SCHEMA: 'sales; drop' is not a valid schema name",
        ),
        (
            {
                "SALES_DEPARTMENT_DATABASE_URL": "postgres://db/shared",
                "SALES_DEPARTMENT_SCHEMA": "same",
                "SUPPORT_DEPARTMENT_DATABASE_URL": "postgres://db/shared",
                "SUPPORT_DEPARTMENT_SCHEMA": "same",
            },
            r"^SUPPORT_DEPARTMENT_DATABASE_URL points at the same database as SALES_",
        ),
    ],
)
def test_bad_schema_configuration(environ, message):
    with pytest.raises(DepartmentConfigError, match=message):
        discover(environ)
