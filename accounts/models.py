import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


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
    """A person on Digis. UUID keys so ids in URLs reveal nothing about volume."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.FAN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DigisUserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
        ]

    def __str__(self):
        return self.username

    @property
    def is_creator(self) -> bool:
        return self.role == Role.CREATOR
