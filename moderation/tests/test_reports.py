import pytest

from moderation.exceptions import InvalidReport, UnknownTarget
from moderation.models import Report
from moderation.services import file_report

pytestmark = pytest.mark.django_db


def test_a_second_report_of_the_same_target_is_the_first(alice, mallory):
    first = file_report(reporter=alice, target_kind="user", target_id=str(mallory.pk), reason="spam")
    again = file_report(reporter=alice, target_kind="user", target_id=mallory.username, reason="spam")
    assert first.pk == again.pk
    assert first.target_user == mallory
    assert Report.objects.count() == 1


def test_unknown_targets_reasons_and_self_reports_are_refused(alice):
    with pytest.raises(UnknownTarget):
        file_report(reporter=alice, target_kind="user", target_id="nobody", reason="spam")
    with pytest.raises(UnknownTarget):
        file_report(reporter=alice, target_kind="user", target_id=str(alice.pk), reason="spam")
    with pytest.raises(InvalidReport):
        file_report(reporter=alice, target_kind="user", target_id="alice", reason="because")
    assert not Report.objects.exists()
