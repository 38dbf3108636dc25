"""factory-boy factories. Tickets are made through the services so counts and events stay true."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.models import DepartmentMembership, Role, User
from departments.registry import all_departments
from tickets.models import Priority
from tickets.services import CUSTOMER, ticket_create


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"agent{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.AGENT
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def departments(self, create, extracted, **kwargs):
        """``UserFactory(departments=[dept, ...])`` makes the user a member of those."""
        if create and extracted:
            for department in extracted:
                DepartmentMembership.objects.create(user=self, department=department.slug)


class SuperadminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"super{n}")
    role = Role.SUPERADMIN


class TicketFactory(factory.Factory):
    """``TicketFactory(department=dept, ...)``: a ticket created by ``ticket_create``."""

    class Meta:
        model = dict

    department = factory.LazyFunction(lambda: all_departments()[0])
    customer_name = factory.Faker("name")
    customer_email = factory.Faker("email")
    customer_phone = ""
    subject = factory.Faker("sentence", nb_words=6)
    message = factory.Faker("paragraph")
    priority = Priority.NORMAL
    actor = CUSTOMER

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return ticket_create(**kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("Tickets only exist in a department database: use create().")
