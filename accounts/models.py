import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac


class Role(models.TextChoices):
    FAN = "fan", "Fan"
    CREATOR = "creator", "Creator"
    MODERATOR = "moderator", "Moderator"
    ADMIN = "admin", "Admin"


class DigisUserManager(UserManager):
    def get_by_natural_key(self, username):
        # Sign-in by username is case-insensitive, like the unique index.
        return self.get(username__iexact=username)


class User(AbstractUser):
    """A person on Digis. UUID keys so ids in URLs reveal nothing about volume.

    A deleted account stays as a tombstone (is_active False, deleted_at set,
    personal data scrubbed) because ledger rows keep pointing at it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.FAN, db_index=True)
    display_name = models.CharField(max_length=80, blank=True)
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    email_verified = models.BooleanField(default=False)
    # Bumped whenever every credential must stop at once (ban, deletion,
    # password change, "sign out everywhere"). Access tokens carry it as a
    # claim and session hashes mix it in, so a bump revokes both.
    auth_version = models.PositiveIntegerField(default=0)
    banned_at = models.DateTimeField(null=True, blank=True)
    # None with banned_at set: banned for good. A date: suspended until then.
    banned_until = models.DateTimeField(null=True, blank=True)
    ban_reason = models.CharField(max_length=500, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DigisUserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.CheckConstraint(
                condition=Q(banned_until__isnull=True) | Q(banned_at__isnull=False),
                name="accounts_user_suspension_has_ban",
            ),
        ]
        permissions = [("ban_user", "Can ban, suspend and unban users")]

    def __str__(self):
        return self.username

    @property
    def is_creator(self) -> bool:
        return self.role == Role.CREATOR

    @property
    def is_banned(self) -> bool:
        """Banned for good, or suspended and the suspension has not run out."""
        if self.banned_at is None:
            return False
        return self.banned_until is None or self.banned_until > timezone.now()

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def public_name(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    def _get_session_auth_hash(self, secret=None):
        # Django checks this hash on every request of a session. Mixing in
        # auth_version makes a ban or a deletion end every session at once,
        # not only a password change.
        key_salt = "accounts.User.session_auth_hash"
        return salted_hmac(
            key_salt, f"{self.password}:{self.auth_version}", secret=secret, algorithm="sha256"
        ).hexdigest()


class Block(models.Model):
    """`blocker` does not want any contact with `blocked` (works both ways in selectors)."""

    id = models.BigAutoField(primary_key=True)
    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="accounts_block_unique_pair"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="accounts_block_not_self"),
        ]
        indexes = [models.Index(fields=["blocked"], name="accounts_block_blocked_idx")]

    def __str__(self):
        return f"{self.blocker_id} blocks {self.blocked_id}"


class AuditEntry(models.Model):
    """What a moderator, an admin or the system did to whom, and why. Append-only."""

    id = models.BigAutoField(primary_key=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    reason = models.TextField()
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="accounts_audit_target_idx")]

    def __str__(self):
        return f"{self.action} {self.target_type}:{self.target_id}"


class RefreshToken(models.Model):
    """One issued refresh token. Tokens descend from a sign-in in a family.

    A refresh token is good for exactly one refresh. Presenting it again
    means it was copied: the whole family is revoked (OAuth 2.0 Security
    BCP, refresh token rotation with reuse detection).
    """

    jti = models.CharField(max_length=64, primary_key=True)
    family = models.UUIDField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user"], condition=Q(revoked_at__isnull=True), name="accounts_refresh_live_idx"),
        ]

    def __str__(self):
        return self.jti
