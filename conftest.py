"""Fixtures every app's tests share.

Named actors keep access rules readable: alice is a fan, bob a creator,
mallory tries what she must not.
"""

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tests.factories import make_creator, make_user
from creators.services import LOCAL_ANONYMOUS_RESPONSES


@pytest.fixture(autouse=True)
def _clean_cache():
    # Rate-limit counters and presence live in the cache (Redis under
    # `make test`); every test starts from nothing, with Redis believed up.
    from digis import cache as digis_cache

    digis_cache.availability.__init__()
    cache.clear()
    LOCAL_ANONYMOUS_RESPONSES.clear()  # this process's copies of shared Explore responses
    yield


def pytest_collection_modifyitems(config, items):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL: run `make test`")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_creator("bob")


@pytest.fixture
def mallory(db):
    return make_user("mallory")


@pytest.fixture
def moderator(db):
    """A moderator as the platform makes one: role, admin access, the moderators group."""
    from importlib import import_module

    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import Role

    # The group comes from a data migration, which a transactional test's flush removes:
    # rebuilt here from the same migration when missing.
    group, created = Group.objects.get_or_create(name="moderators")
    if created:
        for app_label, model, codename, name in import_module("accounts.migrations.0003_moderators_group").MODERATOR_PERMISSIONS:
            content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
            permission, _ = Permission.objects.get_or_create(content_type=content_type, codename=codename, defaults={"name": name})
            group.permissions.add(permission)
    user = make_user("mod", role=Role.MODERATOR, is_staff=True)
    user.groups.add(group)
    return user


@pytest.fixture
def api():
    """An API client; `api.force_authenticate(user)` to act as someone."""
    return APIClient()


@pytest.fixture
def api_as():
    """api_as(user) -> an APIClient authenticated as that user."""

    def build(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return build


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker consuming from the test broker, in a thread.

    Use with `transaction=True` tests: the worker reads committed rows.
    """
    from celery.contrib.testing.worker import start_worker

    from digis.celery import app

    if app.conf.task_always_eager:
        pytest.skip("needs a broker: run `make test` (REDIS_URL)")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process when they are queued (as the embedded default does).

    Under `make test` tasks go to the Redis broker, where no worker listens
    unless a test starts one; tests that need a task's effect (an e-mail sent)
    and do not test the worker itself use this.
    """
    from digis.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
