"""The `staff` group: who sees the operations dashboard (users, revenue, calls,
API performance) at /staff/. Moderators are not in it: they see the reports
queue, not revenue. Superusers see everything."""

from django.db import migrations


def create_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_type, _ = ContentType.objects.get_or_create(app_label="analytics", model="hourlycount")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="view_dashboard",
        defaults={"name": "Can see the operations dashboard (users, revenue, calls, API performance)"},
    )
    group, _ = Group.objects.get_or_create(name="staff")
    group.permissions.add(permission)


def drop_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="staff").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, drop_group)]
