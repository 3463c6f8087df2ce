"""Every model change has its migration (ours, and dj-stripe's, whose migrations live in digis/)."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_a_migration(capsys):
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    except SystemExit as exit:
        pytest.fail(f"makemigrations --check found changes without migrations:\n{capsys.readouterr().out}")
