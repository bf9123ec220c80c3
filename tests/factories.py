"""factory_boy factories for the rows most tests start from: a user, and a bank account linked to one.

Tests reach them through tests/conftest.py's fixtures (`user`, `other_user`, `make_account`,
`account`, `payload_account`); call a factory directly for a row the fixtures do not cover.
"""

import factory
from factory.django import DjangoModelFactory, Password

from accounts.models import LinkedAccount, User

DEFAULT_PASSWORD = "pw-user-12345"


class UserFactory(DjangoModelFactory):
    """A signed-up user. `password` is hashed as `create_user` would (with the test settings' fast
    hasher), a given one too: UserFactory(password="pw-…") can sign in with "pw-…"."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = Password(DEFAULT_PASSWORD)


class LinkedAccountFactory(DjangoModelFactory):
    """A working GTBank link: a Mono-looking id and a masked number, both numbered by the sequence.

    conftest's `make_account` restarts the sequence at 1 in every test, so a test's accounts are
    numbered 0001, 0002, … whichever tests ran before it: ids and numbers a failure report can name.
    """

    class Meta:
        model = LinkedAccount

    user = factory.SubFactory(UserFactory)
    mono_account_id = factory.Sequence(lambda n: f"5f171a530295e231abca{n:04d}")
    institution_name = "GTBank"
    account_number_masked = factory.Sequence(lambda n: f"******{n:04d}")
