"""Every write to accounts: registration, sign-in, profile, blocks, bans, deletion.

Entry points open `transaction.atomic(durable=True)`; side effects (e-mail,
socket events, file deletion) run after commit.
"""

import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.auth import password_validation
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts import hooks, limits
from accounts.avatars import process_avatar
from accounts.exceptions import (
    AccountBanned,
    AlreadyCreator,
    CannotBlockSelf,
    InvalidCredentials,
    NotAllowed,
    OTPRequired,
    RegistrationInvalid,
    RoleCannotBecomeCreator,
    TokenInvalid,
)
from accounts.models import AuditEntry, Block, Role, User
from accounts.tokens import revoke_all_refresh_tokens
from digis.errors import InvalidInput
from digis.realtime.events import close_sockets_on_commit

logger = logging.getLogger(__name__)

VERIFY_SALT = "accounts.verify-email"


# --- audit -------------------------------------------------------------------

def record_audit(*, actor, action: str, target, reason: str, before: dict | None = None, after: dict | None = None) -> AuditEntry:
    """Append one audit row. Call inside the caller's transaction so both commit together.

    `target` is a model instance (type and id are taken from it). `actor` may
    be None for the system.
    """
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required.", fields={"reason": ["This field is required."]})
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        reason=reason.strip(),
        before=before or {},
        after=after or {},
    )


# --- registration and e-mail verification -----------------------------------

def _normalize_email(email: str) -> str:
    email = (email or "").strip()
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}" if local else email


def _taken_fields(*, username: str, email: str, exclude_pk=None) -> dict:
    users = User.objects.all()
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    errors = {}
    if email and users.filter(email__iexact=email).exists():
        errors["email"] = ["An account with this e-mail already exists."]
    if username and users.filter(username__iexact=username).exists():
        errors["username"] = ["This username is taken."]
    return errors


def register_user(*, username: str, email: str, password: str, display_name: str = "", send_verification: bool = True) -> User:
    """Create a fan account and open its wallet, in one transaction.

    Duplicate usernames/e-mails (case-insensitive) raise RegistrationInvalid
    with a field error, also when two sign-ups race (the unique indexes are
    the backstop; their IntegrityError is turned into the same error).
    """
    return _create_user(
        username=username, email=email, password=password, display_name=display_name,
        send_verification=send_verification, durable=True,
    )


def _create_user(*, username: str, email: str, password: str, display_name: str, send_verification: bool, durable: bool) -> User:
    from ledger.services import open_wallet

    username = (username or "").strip()
    email = _normalize_email(email)
    errors = {}
    try:
        User.username_validator(username)
    except ValidationError as exc:
        errors["username"] = list(exc.messages)
    if not username:
        errors["username"] = ["This field is required."]
    try:
        validate_email(email)
    except ValidationError as exc:
        errors["email"] = list(exc.messages)
    candidate = User(username=username, email=email, display_name=display_name)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if not errors:
        errors = _taken_fields(username=username, email=email)
    if errors:
        raise RegistrationInvalid(fields=errors)

    candidate.set_password(password)
    try:
        with transaction.atomic(durable=durable):
            candidate.save(force_insert=True)
            open_wallet(user=candidate)
            if send_verification:
                _queue_verification_email(candidate)
    except IntegrityError:
        # Lost a race with another sign-up: report which field collided.
        errors = _taken_fields(username=username, email=email) or {"username": ["This username is taken."]}
        raise RegistrationInvalid(fields=errors)
    return candidate


def make_verification_token(user) -> str:
    # The e-mail is part of the payload: a link sent to an old address does
    # not verify a new one.
    return signing.dumps({"u": str(user.pk), "e": user.email.lower()}, salt=VERIFY_SALT, compress=True)


def _queue_verification_email(user) -> None:
    from accounts.tasks import send_verification_email as task
    from digis.background import enqueue_on_commit

    enqueue_on_commit(task, str(user.pk))


def request_verification_email(*, user) -> None:
    """Send (by a worker, after commit) a fresh verification link, unless already verified."""
    if not user.email_verified:
        _queue_verification_email(user)


def send_verification_email(*, user) -> None:
    link = settings.SITE_URL.rstrip("/") + reverse("accounts:verify", args=[make_verification_token(user)])
    send_mail(
        "Confirm your e-mail for Digis",
        f"Hi {user.public_name},\n\nConfirm your e-mail address by opening this link:\n{link}\n\n"
        f"The link works for {settings.ACCOUNTS_VERIFY_MAX_AGE_S // 3600} hours.",
        None,
        [user.email],
    )


def request_password_reset(*, email: str) -> None:
    """Mail a reset link (by a worker, after commit) if an account has this address; says nothing either way."""
    from accounts.tasks import send_password_reset as task
    from digis.background import enqueue_on_commit

    enqueue_on_commit(task, email)


def verify_email(*, token: str) -> User:
    """Mark the e-mail in a signed link verified. Idempotent."""
    try:
        payload = signing.loads(token, salt=VERIFY_SALT, max_age=settings.ACCOUNTS_VERIFY_MAX_AGE_S)
    except signing.SignatureExpired:
        raise TokenInvalid("This link has expired. Ask for a new one.", code="link_expired")
    except signing.BadSignature:
        raise TokenInvalid("This link is not valid.", code="invalid_link")
    with transaction.atomic(durable=True):
        user = User.objects.select_for_update().filter(pk=payload.get("u"), is_active=True).first()
        if user is None or user.email.lower() != payload.get("e"):
            raise TokenInvalid("This link is not valid any more.", code="invalid_link")
        if not user.email_verified:
            User.objects.filter(pk=user.pk).update(email_verified=True)
            user.email_verified = True
    return user


# --- sign-in -----------------------------------------------------------------

def _find_login_user(identifier: str):
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    field = "email__iexact" if "@" in identifier else "username__iexact"
    return User.objects.filter(**{field: identifier}).first()


def _account_key(identifier: str, user) -> str:
    # Existing accounts are counted by id (username and e-mail share one
    # budget); unknown names by the name, so both lock out identically.
    return f"user:{user.pk}" if user is not None else f"name:{(identifier or '').strip().lower()}"


def authenticate_user(*, request, identifier: str, password: str, otp_token: str | None = None):
    """Check credentials (and the second factor when the account has one).

    Returns (user, otp_device or None). Raises TooManyAttempts after the
    configured failures per account and per IP, InvalidCredentials (same
    message whether or not the account exists), OTPRequired, AccountBanned.
    """
    from django_otp import devices_for_user, match_token

    user = _find_login_user(identifier)
    account_key = _account_key(identifier, user)
    # Units of the sign-in budgets are taken before the password is checked
    # (concurrent guesses cannot all slip through) and given back on success.
    attempt = limits.start_login_attempt(request, account_key=account_key, device=limits.trusted_device(request, user))

    if user is None or not user.is_active:
        # Spend the same hashing time as a real check, so timing does not tell.
        User().set_password(password or "")
        raise InvalidCredentials()
    if not user.check_password(password or ""):
        raise InvalidCredentials()

    device = None
    if any(True for _ in devices_for_user(user, confirmed=True)):
        if not otp_token:
            attempt.succeeded()  # the password was right: asking for the code is not a failure
            raise OTPRequired()
        device = match_token(user, str(otp_token).strip())
        if device is None:
            raise OTPRequired("That code is not valid.", code="otp_invalid")
    attempt.succeeded()
    if user.is_banned:
        raise AccountBanned(banned_until=user.banned_until.isoformat() if user.banned_until else None)
    return user, device


# --- roles ------------------------------------------------------------------

def become_creator(*, user) -> "object":
    """Turn a fan into a creator and create their creator profile. Idempotent.

    Returns the CreatorProfile. Staff (moderators/admins) cannot become creators.
    """
    from creators.services import ensure_creator_profile

    if user.is_banned or not user.is_active:
        raise NotAllowed("This account cannot become a creator.")
    if user.role in (Role.MODERATOR, Role.ADMIN):
        raise RoleCannotBecomeCreator()
    with transaction.atomic(durable=True):
        profile = ensure_creator_profile(user=user)
        # ensure_creator_profile sets the role; make sure our copy agrees.
        User.objects.filter(pk=user.pk, role=Role.FAN).update(role=Role.CREATOR)
        user.role = Role.CREATOR
    return profile


# --- profile ----------------------------------------------------------------

def _creator_card_changed(user) -> None:
    """Name, avatar, ban and deletion show on creator cards: drop the cached card."""
    from creators.services import invalidate_creator_cache

    invalidate_creator_cache(user_id=user.pk)


def update_profile(*, user, display_name: str | None = None) -> User:
    changes = {}
    if display_name is not None:
        display_name = display_name.strip()
        if len(display_name) > 80:
            raise InvalidInput(fields={"display_name": ["At most 80 characters."]})
        changes["display_name"] = display_name
    if changes:
        User.objects.filter(pk=user.pk).update(**changes, updated_at=timezone.now())
        for key, value in changes.items():
            setattr(user, key, value)
        _creator_card_changed(user)
    return user


def _delete_file_on_commit(storage, name: str) -> None:
    if name:
        transaction.on_commit(lambda: storage.delete(name))


def set_avatar(*, user, upload) -> User:
    """Validate, re-encode and store a new avatar through the storage API; drop the old file."""
    content = process_avatar(upload)
    field = User._meta.get_field("avatar")
    storage = field.storage
    name = storage.save(f"avatars/{user.pk.hex}/{content.name}", content)
    try:
        with transaction.atomic(durable=True):
            old = User.objects.select_for_update().values_list("avatar", flat=True).get(pk=user.pk)
            User.objects.filter(pk=user.pk).update(avatar=name, updated_at=timezone.now())
            _delete_file_on_commit(storage, old)
            _creator_card_changed(user)
    except Exception:
        storage.delete(name)
        raise
    user.avatar.name = name
    return user


def remove_avatar(*, user) -> User:
    storage = User._meta.get_field("avatar").storage
    with transaction.atomic(durable=True):
        old = User.objects.select_for_update().values_list("avatar", flat=True).get(pk=user.pk)
        User.objects.filter(pk=user.pk).update(avatar="", updated_at=timezone.now())
        _delete_file_on_commit(storage, old)
        _creator_card_changed(user)
    user.avatar.name = ""
    return user


def _require_password(user, password: str, field: str = "password") -> None:
    if not user.check_password(password or ""):
        raise InvalidInput("The password is wrong.", fields={field: ["The password is wrong."]}, code="wrong_password")


def change_email(*, user, password: str, new_email: str) -> User:
    """Change the e-mail after re-checking the password; the new address must be verified again."""
    _require_password(user, password)
    new_email = _normalize_email(new_email)
    try:
        validate_email(new_email)
    except ValidationError as exc:
        raise InvalidInput(fields={"email": list(exc.messages)})
    if new_email.lower() == user.email.lower():
        return user
    errors = _taken_fields(username="", email=new_email, exclude_pk=user.pk)
    if errors:
        raise InvalidInput(fields=errors)
    try:
        with transaction.atomic(durable=True):
            User.objects.filter(pk=user.pk).update(email=new_email, email_verified=False, updated_at=timezone.now())
            user.email, user.email_verified = new_email, False
            _queue_verification_email(user)
    except IntegrityError:
        raise InvalidInput(fields={"email": ["An account with this e-mail already exists."]})
    return user


def _bump_auth_version(user) -> None:
    User.objects.filter(pk=user.pk).update(auth_version=F("auth_version") + 1)
    user.refresh_from_db(fields=["auth_version"])


def set_new_password(*, user, new_password: str) -> User:
    """Set a password (change or reset) and sign out every session and token of the user."""
    try:
        password_validation.validate_password(new_password, user=user)
    except ValidationError as exc:
        raise InvalidInput(fields={"new_password": list(exc.messages)})
    with transaction.atomic(durable=True):
        user.set_password(new_password)
        User.objects.filter(pk=user.pk).update(password=user.password, updated_at=timezone.now())
        _bump_auth_version(user)
        revoke_all_refresh_tokens(user=user)
    return user


def change_password(*, user, current_password: str, new_password: str) -> User:
    _require_password(user, current_password, field="current_password")
    return set_new_password(user=user, new_password=new_password)


# --- blocking -----------------------------------------------------------------

def block_user(*, blocker, blocked) -> Block:
    """`blocker` blocks `blocked`. Idempotent: blocking twice returns the first Block.

    A new block calls the ``accounts.hooks.user_blocked`` receivers in the same
    transaction (messaging refunds held paid messages between the two).
    """
    if blocker.pk == blocked.pk:
        raise CannotBlockSelf()
    with transaction.atomic(durable=True):
        block, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
        if created:
            _blocks_changed(blocker.pk, blocked.pk)
            hooks.user_blocked(blocker=blocker, blocked=blocked)
    return block


def unblock_user(*, blocker, blocked) -> bool:
    """Remove the block if there is one. Idempotent; returns whether one was removed."""
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
        if deleted:
            _blocks_changed(blocker.pk, blocked.pk)
    return bool(deleted)


def _blocks_changed(*user_ids) -> None:
    """The block sets of these users changed: drop their cached copies
    (``selectors.blocked_user_ids_cached``) now and again after commit. The
    second one is what makes the cache exact: a reader that read the rows
    before the commit stored them under a version this replaces."""
    from accounts.selectors import forget_cached_blocks

    forget_cached_blocks(user_ids)
    transaction.on_commit(lambda: forget_cached_blocks(user_ids))


# --- moderation ----------------------------------------------------------------

def _ban_snapshot(user) -> dict:
    return {
        "banned_at": user.banned_at.isoformat() if user.banned_at else None,
        "banned_until": user.banned_until.isoformat() if user.banned_until else None,
        "ban_reason": user.ban_reason,
        "auth_version": user.auth_version,
    }


def _check_may_moderate(actor, user) -> None:
    if actor is None or not actor.has_perm("accounts.ban_user"):
        raise NotAllowed("You may not ban users.")
    if actor.pk == user.pk:
        raise NotAllowed("You cannot ban yourself.")
    if (user.is_staff or user.is_superuser or user.role in (Role.MODERATOR, Role.ADMIN)) and not actor.is_superuser:
        raise NotAllowed("Only an administrator may ban staff.")


def revoke_all_credentials(*, user, reason: str) -> None:
    """Every session, access token, refresh token and socket of the user stops now.

    Call inside the caller's transaction.
    """
    _bump_auth_version(user)
    revoke_all_refresh_tokens(user=user)
    close_sockets_on_commit([user.pk], reason=reason)


def ban_user(*, actor, user, reason: str, until: datetime | None = None, notice: str | None = None) -> User:
    """Ban for good (until=None) or suspend until a date. Atomic, audited; ends all sessions at once.

    Calls the ``accounts.hooks.user_banned`` receivers inside the transaction.
    """
    _check_may_moderate(actor, user)
    with transaction.atomic(durable=True):
        return apply_ban(actor=actor, user=user, reason=reason, until=until, notice=notice)


def apply_ban(*, actor, user, reason: str, until: datetime | None = None, notice: str | None = None) -> User:
    """``ban_user`` as a step of the caller's transaction (moderation's report
    actions ban and resolve the report together). Same checks, same audit.
    ``notice``: the words the person is told (the ``user_banned`` hook), when
    the audit ``reason`` is not meant for them."""
    _check_may_moderate(actor, user)
    if until is not None and until <= timezone.now():
        raise InvalidInput("The suspension must end in the future.", fields={"until": ["Must be in the future."]})
    with transaction.atomic(savepoint=False):
        user = User.objects.select_for_update().get(pk=user.pk)
        before = _ban_snapshot(user)
        now = timezone.now()
        User.objects.filter(pk=user.pk).update(banned_at=now, banned_until=until, ban_reason=reason.strip()[:500])
        user.banned_at, user.banned_until, user.ban_reason = now, until, reason.strip()[:500]
        revoke_all_credentials(user=user, reason="banned" if until is None else "suspended")
        record_audit(
            actor=actor, action="user.suspend" if until else "user.ban", target=user,
            reason=reason, before=before, after=_ban_snapshot(user),
        )
        _creator_card_changed(user)
        hooks.user_banned(user=user, actor=actor, reason=reason.strip(), until=until, notice=notice)
    return user


def unban_user(*, actor, user, reason: str) -> User:
    """Lift a ban or suspension. Atomic, audited. Idempotent on an unbanned user (still audited)."""
    _check_may_moderate(actor, user)
    with transaction.atomic(durable=True):
        user = User.objects.select_for_update().get(pk=user.pk)
        before = _ban_snapshot(user)
        User.objects.filter(pk=user.pk).update(banned_at=None, banned_until=None, ban_reason="")
        user.banned_at, user.banned_until, user.ban_reason = None, None, ""
        record_audit(actor=actor, action="user.unban", target=user, reason=reason, before=before, after=_ban_snapshot(user))
        _creator_card_changed(user)
        if before["banned_at"] is not None:
            hooks.user_unbanned(user=user, actor=actor, reason=reason.strip())
    return user


# --- the admin's user forms -----------------------------------------------------
#
# Django's UserAdmin saves the model directly: a password set there left every
# API token working, and role, staff, e-mail and name changes skipped the audit
# log and the creator-card cache. accounts/admin.py sends its forms here.

ADMIN_EDITABLE = ("username", "first_name", "last_name", "display_name", "email", "email_verified", "role",
                  "is_active", "is_staff", "is_superuser")
# Changing these takes effect at once: every session, token and socket ends.
_REVOKING = ("is_active", "is_staff", "is_superuser", "role", "email")
_SUPERUSER_ONLY = ("is_staff", "is_superuser")


def _admin_snapshot(user, groups=None, permissions=None) -> dict:
    snapshot = {field: getattr(user, field) for field in ADMIN_EDITABLE}
    if groups is not None:
        snapshot["groups"] = sorted(groups)
    if permissions is not None:
        snapshot["permissions"] = sorted(permissions)
    return snapshot


def _check_may_administer(actor, user, fields) -> None:
    if actor is None or not actor.is_staff or not actor.has_perm("accounts.change_user"):
        raise NotAllowed("You may not change users.")
    privileged = set(fields) & {*_SUPERUSER_ONLY, "groups", "permissions"}
    if privileged and not actor.is_superuser:
        raise NotAllowed("Only an administrator may change staff status, groups or permissions.")
    if (user.is_superuser or user.is_staff) and not actor.is_superuser and actor.pk != user.pk:
        raise NotAllowed("Only an administrator may change staff accounts.")


def update_user_as_admin(*, actor, user, changes: dict, reason: str, groups=None, permissions=None) -> User:
    """Apply an admin's edit of a user: audited, caches dropped, credentials revoked when it matters.

    ``changes`` holds fields of ADMIN_EDITABLE; ``groups``/``permissions``
    (iterables of ids), when given, replace the user's. Atomic, but not
    durable: the admin's change view already runs inside a transaction.
    """
    unknown = set(changes) - set(ADMIN_EDITABLE)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    touched = [*changes, *(["groups"] if groups is not None else []), *(["permissions"] if permissions is not None else [])]
    _check_may_administer(actor, user, touched)
    if "email" in changes:
        changes["email"] = _normalize_email(changes["email"])
        try:
            validate_email(changes["email"])
        except ValidationError as exc:
            raise InvalidInput(fields={"email": list(exc.messages)})
    if "username" in changes or "email" in changes:
        errors = _taken_fields(username=changes.get("username", ""), email=changes.get("email", ""), exclude_pk=user.pk)
        if errors:
            raise InvalidInput(fields=errors)
    if "role" in changes and changes["role"] not in Role.values:
        raise InvalidInput(fields={"role": ["Unknown role."]})
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before = _admin_snapshot(
            user,
            groups=list(user.groups.values_list("pk", flat=True)) if groups is not None else None,
            permissions=list(user.user_permissions.values_list("pk", flat=True)) if permissions is not None else None,
        )
        changed = {field: value for field, value in changes.items() if getattr(user, field) != value}
        if "email" in changed and "email_verified" not in changes:
            changed["email_verified"] = False  # a new address is unproven
        if changed:
            try:
                User.objects.filter(pk=user.pk).update(**changed, updated_at=timezone.now())
            except IntegrityError:
                raise InvalidInput("That username or e-mail is taken.")
            for field, value in changed.items():
                setattr(user, field, value)
        if groups is not None:
            user.groups.set(groups)
        if permissions is not None:
            user.user_permissions.set(permissions)
        after = _admin_snapshot(
            user,
            groups=list(groups) if groups is not None else None,
            permissions=list(permissions) if permissions is not None else None,
        )
        if before == after:
            return user
        if set(changed) & set(_REVOKING) or before.get("groups") != after.get("groups") or before.get("permissions") != after.get("permissions"):
            revoke_all_credentials(user=user, reason="account changed by an administrator")
        record_audit(actor=actor, action="user.admin_edit", target=user, reason=reason, before=before, after=after)
        _creator_card_changed(user)
    return user


def set_password_as_admin(*, actor, user, new_password: str | None, reason: str) -> User:
    """An admin sets (or, with None, disables) a user's password: every session and token of the user ends; audited."""
    _check_may_administer(actor, user, ["password"])
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if new_password is None:
            user.set_unusable_password()
        else:
            user.set_password(new_password)
        User.objects.filter(pk=user.pk).update(password=user.password, updated_at=timezone.now())
        revoke_all_credentials(user=user, reason="password changed by an administrator")
        record_audit(actor=actor, action="user.admin_set_password", target=user, reason=reason,
                     before={}, after={"password": "changed"})
    return user


def create_user_as_admin(*, actor, username: str, email: str, password: str, reason: str) -> User:
    """An admin adds an account: the same checks as sign-up (wallet included), audited."""
    _check_may_administer(actor, User(), ["username", "email"])
    with transaction.atomic():
        user = _create_user(username=username, email=email, password=password, display_name="",
                            send_verification=False, durable=False)
        record_audit(actor=actor, action="user.admin_create", target=user, reason=reason, before={},
                     after={"username": user.username, "email": user.email})
    return user


# --- deletion ------------------------------------------------------------------

def delete_account(*, user, actor=None, reason: str = "Deleted by the account holder.") -> User:
    """Scrub personal data and keep the row as a tombstone (ledger rows point at it).

    Ends every session, token and socket at once. Idempotent.
    """
    from django_otp import devices_for_user

    storage = User._meta.get_field("avatar").storage
    with transaction.atomic(durable=True):
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.deleted_at is not None:
            return user
        before = {"role": user.role, "was_active": user.is_active}
        tag = uuid.uuid4().hex[:12]
        old_avatar = user.avatar.name
        user.set_unusable_password()
        User.objects.filter(pk=user.pk).update(
            username=f"deleted-{tag}",
            email=f"deleted-{tag}@deleted.invalid",
            first_name="", last_name="", display_name="", avatar="",
            password=user.password,
            email_verified=False,
            is_active=False,
            is_staff=False,
            deleted_at=timezone.now(),
            updated_at=timezone.now(),
        )
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        blocks = Block.objects.filter(Q(blocker=user) | Q(blocked=user))
        others = {other for pair in blocks.values_list("blocker_id", "blocked_id") for other in pair}
        if blocks.delete()[0]:
            _blocks_changed(user.pk, *others)
        user.groups.clear()
        user.user_permissions.clear()
        revoke_all_credentials(user=user, reason="deleted")
        _delete_file_on_commit(storage, old_avatar)
        record_audit(actor=actor or user, action="user.delete", target=user, reason=reason, before=before, after={"deleted": True})
        hooks.user_deleted(user=user)
        _creator_card_changed(user)
    user.refresh_from_db()
    return user


def delete_account_with_password(*, user, password: str) -> User:
    """Self-service deletion: the password is asked again so a stolen session alone cannot do it."""
    _require_password(user, password)
    return delete_account(user=user)


def sign_out_everywhere(*, user) -> None:
    """End every session, token and socket of the user (they sign in again)."""
    with transaction.atomic(durable=True):
        revoke_all_credentials(user=user, reason="signed_out")
