"""Demo reports for `manage.py seed_demo`: a few waiting in the queue (idempotent:
an open report by the same person on the same target is the same report)."""

from moderation.services import file_report

DEMO_REPORTS = [
    # (reporter, target, kind, reason, note)
    ("alice", "kai", "profile", "spam", "His bio links to a giveaway that asks for my card number."),
    ("luna", "kai", "profile", "impersonation", "Uses a photo of another streamer."),
    ("alice", "zara", "user", "harassment", "Kept messaging me after I said no."),
]


def seed(context):
    from accounts.models import User

    users = {u.username: u for u in User.objects.filter(username__in={name for row in DEMO_REPORTS for name in row[:2]})}
    for reporter, target, kind, reason, note in DEMO_REPORTS:
        if reporter in users and target in users:
            file_report(reporter=users[reporter], target_kind=kind, target_id=str(users[target].pk), reason=reason, note=note)
