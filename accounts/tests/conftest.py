import pytest
from django.test import Client


@pytest.fixture
def page():
    return Client()
