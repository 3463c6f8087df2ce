"""The `moderators` group with exactly what moderators need.

They may look at users, blocks and the audit trail, and ban/suspend/unban
(through the admin actions, which call accounts.services). They get no
change/delete rights on users and nothing at all on the ledger: money is
corrected only by admins, through ledger services.
"""

from django.db import migrations

MODERATOR_PERMISSIONS = [
    # (app_label, model, codename, name)
    ("accounts", "user", "view_user", "Can view user"),
    ("accounts", "user", "ban_user", "Can ban, suspend and unban users"),
    ("accounts", "block", "view_block", "Can view block"),
    ("accounts", "auditentry", "view_auditentry", "Can view audit entry"),
]


def create_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    group, _ = Group.objects.get_or_create(name="moderators")
    permissions = []
    for app_label, model, codename, name in MODERATOR_PERMISSIONS:
        # Permissions are normally created after migrate (post_migrate); on a
        # fresh database they do not exist yet, so make them here.
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        permissions.append(permission)
    group.permissions.set(permissions)


def drop_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="moderators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_profile_blocks_audit_refresh_tokens"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, drop_group)]
