"""Demo users for `manage.py seed_demo`."""

from django.contrib.auth import get_user_model

from accounts.models import Role

DEMO_PASSWORD = "digis-demo-pass"

DEMO_CREATORS = [
    ("luna", "Luna Park", "Late-night lo-fi producer. Ask me about synths."),
    ("kai", "Kai Moreno", "Speedrunner and streamer. Tips on routing, gear and grit."),
    ("maya", "Maya Chen", "Yoga teacher. Private 1:1 sessions and breathing coaching."),
    ("theo", "Theo Brandt", "Chef. I'll cook along with you over video."),
    ("zara", "Zara Okafor", "Stylist and thrift-hunter. Send me your outfit."),
    ("noah", "Noah Silva", "Guitar lessons for every level, voice or video."),
    ("ivy", "Ivy Laurent", "Tarot, astrology and good conversation."),
    ("omar", "Omar Haddad", "Personal trainer. Form checks on call."),
]


def _user(username, *, email, first_name="", last_name="", role=Role.FAN, is_staff=False, is_superuser=False):
    User = get_user_model()
    user = User.objects.filter(username__iexact=username).first()
    if user is None:
        user = User(username=username, email=email, first_name=first_name, last_name=last_name, role=role,
                    is_staff=is_staff, is_superuser=is_superuser)
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def seed(context):
    creators = []
    for username, name, bio in DEMO_CREATORS:
        first, _, last = name.partition(" ")
        creators.append(_user(username, email=f"{username}@demo.digis.local", first_name=first, last_name=last, role=Role.CREATOR))
    context["creators"] = creators
    context["creator_bios"] = {username: bio for username, _, bio in DEMO_CREATORS}
    context["fan"] = _user("alice", email="alice@demo.digis.local", first_name="Alice", last_name="Fan")
    context["admin"] = _user("admin", email="admin@demo.digis.local", role=Role.ADMIN, is_staff=True, is_superuser=True)
    context["moderator"] = moderator = _user("mod", email="mod@demo.digis.local", first_name="Morgan", last_name="Moderator",
                                            role=Role.MODERATOR, is_staff=True)
    from django.contrib.auth.models import Group

    moderators = Group.objects.filter(name="moderators").first()  # accounts migration 0003
    if moderators is not None:
        moderator.groups.add(moderators)
    admin_codes = _admin_backup_codes(context["admin"])
    moderator_codes = _admin_backup_codes(moderator)
    context["logins"] += [
        ("alice", DEMO_PASSWORD, "fan"),
        ("luna", DEMO_PASSWORD, "creator"),
        ("mod", f"{DEMO_PASSWORD}  + one-time code, one of: {' '.join(moderator_codes)}", "moderator"),
        ("admin", f"{DEMO_PASSWORD}  + one-time code, one of: {' '.join(admin_codes)}", "admin"),
    ]


def _admin_backup_codes(admin_user) -> list[str]:
    """Staff need a second factor for /admin/: a static backup-code device.

    Each code works once; re-running seed_demo (`python manage.py seed_demo`)
    tops the list up again and prints the codes.
    """
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    device, _ = StaticDevice.objects.get_or_create(user=admin_user, name="Demo backup codes", defaults={"confirmed": True})
    while device.token_set.count() < 5:
        device.token_set.create(token=StaticToken.random_token())
    return list(device.token_set.values_list("token", flat=True))
