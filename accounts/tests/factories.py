"""Test factories for accounts. Other apps' factories build on make_user."""

import itertools

from django.contrib.auth import get_user_model

from accounts.models import Role

PASSWORD = "correct-horse-battery-staple"
_sequence = itertools.count(1)


def make_user(username: str | None = None, *, role: str = Role.FAN, password: str = PASSWORD, **fields):
    n = next(_sequence)
    username = username or f"user{n}"
    fields.setdefault("email", f"{username}@example.test")
    user = get_user_model()(username=username, role=role, **fields)
    user.set_password(password)
    user.save()
    return user


def make_creator(username: str | None = None, **fields):
    return make_user(username, role=Role.CREATOR, **fields)
