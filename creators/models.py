"""Creator profiles, the curated category list and follows.

Invariants the database enforces (Python gives the friendly message first):
- rates are whole tokens > 0, a message price >= 0 (0: free), a call lasts at least a minute;
- a creator has at most MAX_CATEGORIES categories: each pick takes one of the
  positions 1..5, unique per profile, so a sixth row has nowhere to go (this
  holds on SQLite too, and under concurrent writers);
- a fan follows a creator at most once, and never themself.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

MAX_CATEGORIES = 5


class MessagePolicy(models.TextChoices):
    ANYONE = "anyone", "Anyone"
    FOLLOWERS = "followers", "Followers only"
    PAYING_FANS = "paying_fans", "Paying fans only"


class Category(models.Model):
    """A curated topic (#gaming). Managed in the admin, seeded by a data migration."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first in lists.")

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class CreatorProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="creator_profile"
    )
    display_name = models.CharField(max_length=80, blank=True)
    bio = models.TextField(max_length=1000, blank=True)
    avatar = models.ImageField(upload_to="creators/avatars/", blank=True)
    cover = models.ImageField(upload_to="creators/covers/", blank=True)
    # Whole tokens. Calls are billed per minute of these rates.
    video_call_rate = models.PositiveIntegerField(default=60, help_text="Tokens per minute of video call.")
    voice_call_rate = models.PositiveIntegerField(default=30, help_text="Tokens per minute of voice call.")
    message_price = models.PositiveIntegerField(default=10, help_text="Tokens per fan message (0: free).")
    # With the paying_fans policy: the tokens a fan must have spent with this
    # creator before writing (at least 1, whatever this says).
    message_min_spend = models.PositiveIntegerField(default=0, help_text="Tokens a fan must have spent to write (paying fans only).")
    min_call_minutes = models.PositiveSmallIntegerField(default=1)
    do_not_disturb = models.BooleanField(default=False)
    message_policy = models.CharField(max_length=16, choices=MessagePolicy.choices, default=MessagePolicy.ANYONE)
    # Denormalised for the "popular" sort; only creators.services.follow/unfollow
    # change it, in the same transaction as the Follow row.
    follower_count = models.PositiveIntegerField(default=0)
    # Set while moderation hides the profile (reported by several people and
    # waiting for review, or taken down): it is then listed nowhere public.
    # Only creators.services.set_profile_hidden changes it.
    hidden_at = models.DateTimeField(null=True, blank=True)
    categories = models.ManyToManyField(Category, through="CreatorCategory", related_name="creators", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(video_call_rate__gt=0), name="creators_video_call_rate_positive"),
            models.CheckConstraint(condition=Q(voice_call_rate__gt=0), name="creators_voice_call_rate_positive"),
            models.CheckConstraint(condition=Q(message_price__gte=0), name="creators_message_price_non_negative"),
            models.CheckConstraint(condition=Q(min_call_minutes__gte=1), name="creators_min_call_minutes_gte_1"),
            models.CheckConstraint(
                condition=Q(message_policy__in=MessagePolicy.values), name="creators_message_policy_valid"
            ),
        ]
        indexes = [
            # Keyset pagination walks these backwards: (sort key, pk) < cursor.
            models.Index(fields=["follower_count", "user"], name="creators_popular_idx"),
            models.Index(fields=["created_at", "user"], name="creators_new_idx"),
        ]

    def __str__(self):
        return self.display_name or str(self.user_id)

    @property
    def name(self) -> str:
        return self.display_name or self.user.get_full_name() or self.user.username


class CreatorCategory(models.Model):
    """One of a creator's (at most five) categories, in the order they chose."""

    profile = models.ForeignKey(CreatorProfile, on_delete=models.CASCADE, related_name="category_links")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="creator_links")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "category"], name="creators_category_once"),
            # The five-category limit as a constraint: positions are 1..5 and unique.
            models.UniqueConstraint(fields=["profile", "position"], name="creators_category_position_unique"),
            models.CheckConstraint(
                condition=Q(position__gte=1) & Q(position__lte=MAX_CATEGORIES), name="creators_category_position_1_5"
            ),
        ]
        indexes = [models.Index(fields=["category", "profile"], name="creators_by_category_idx")]


class Follow(models.Model):
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following")
    creator = models.ForeignKey(CreatorProfile, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "creator"], name="creators_follow_once"),
            models.CheckConstraint(condition=~Q(follower=F("creator")), name="creators_no_self_follow"),
        ]
        indexes = [models.Index(fields=["creator", "created_at"], name="creators_followers_idx")]
