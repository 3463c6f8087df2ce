"""Moderators (the `moderators` group from accounts) work the reports queue."""

from django.db import migrations


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_type, _ = ContentType.objects.get_or_create(app_label="moderation", model="report")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="moderate_report", defaults={"name": "Can work the reports queue and act on reports"}
    )
    group, _ = Group.objects.get_or_create(name="moderators")
    group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group").objects.filter(name="moderators").first()
    if group is not None:
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="moderation", codename="moderate_report"))


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0002_console_workflow"),
        ("accounts", "0003_moderators_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
