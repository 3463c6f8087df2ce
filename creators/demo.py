"""Demo creator profiles for `manage.py seed_demo`: rates, categories, avatars, some follows."""

from creators import services
from creators.avatars import initials_avatar
from creators.models import CreatorProfile

# username -> (categories, video rate, voice rate, message price, minimum minutes)
DEMO_PROFILES = {
    "luna": (["music", "art"], 80, 40, 15, 1),
    "kai": (["gaming", "tech"], 50, 25, 8, 1),
    "maya": (["yoga", "fitness", "spirituality"], 120, 60, 20, 5),
    "theo": (["cooking", "travel"], 70, 35, 10, 3),
    "zara": (["fashion", "beauty"], 90, 45, 12, 1),
    "noah": (["music", "education"], 60, 30, 10, 5),
    "ivy": (["spirituality", "dating"], 100, 50, 25, 1),
    "omar": (["fitness", "sports"], 75, 40, 10, 5),
}


def seed(context):
    bios = context.get("creator_bios", {})
    creators = context.get("creators", [])
    for user in creators:
        categories, video, voice, message, minutes = DEMO_PROFILES.get(user.username, (["music"], 60, 30, 10, 1))
        profile = services.ensure_creator_profile(user=user)
        changes = {}
        if not profile.avatar:
            changes["avatar"] = initials_avatar(name=user.get_full_name() or user.username, seed=f"demo-{user.username}")
        if not profile.bio:
            changes.update(
                display_name=user.get_full_name(),
                bio=bios.get(user.username, ""),
                video_call_rate=video,
                voice_call_rate=voice,
                message_price=message,
                min_call_minutes=minutes,
            )
        if changes or not profile.category_links.exists():
            services.update_creator_profile(user=user, categories=categories, **changes)
    fan = context.get("fan")
    if fan is not None:
        # The demo fan follows a few creators so "popular" has an order.
        for user in creators[:3]:
            services.follow_creator(follower=fan, creator_user_id=user.pk)
        for index, follower in enumerate(creators):
            for user in creators[: max(0, 4 - index)]:
                if user.pk != follower.pk:
                    services.follow_creator(follower=follower, creator_user_id=user.pk)
    if "stdout" in context:
        context["stdout"].write(f"creators: {CreatorProfile.objects.count()} creator profiles")
