import pytest
from django.test import Client


@pytest.fixture
def page():
    return Client()


@pytest.fixture
def moderator(db):
    from django.contrib.auth.models import Group

    from accounts.models import Role
    from accounts.tests.factories import make_user

    user = make_user("mod", role=Role.MODERATOR, is_staff=True)
    user.groups.add(Group.objects.get(name="moderators"))
    return user
