"""DRF fields that take JSON types at their word.

DRF's primitive fields coerce: a CharField takes 0 and stores "0", a
BooleanField takes "yes", 1 or "on", an IntegerField takes "42". The OpenAPI
schema says "string", "boolean", "integer", so the API accepted what its own
schema refuses (schemathesis' negative tests found ``{"display_name": 0}`` and a
string ``do_not_disturb`` accepted). These fields accept exactly the JSON type
the schema documents. Multipart and form bodies carry only strings, so there
(file uploads) the usual string forms are still read.

Use them in every input serializer: ``from digis import fields`` and
``fields.CharField(...)``; ``fields.ModelSerializer`` maps model fields to them.
"""

from rest_framework import serializers


def _from_form(field) -> bool:
    request = field.context.get("request") if hasattr(field, "context") else None
    content_type = getattr(request, "content_type", "") or ""
    return content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded"))


class CharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be text."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class EmailField(serializers.EmailField):
    default_error_messages = {"invalid": "Enter a valid e-mail address."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SlugField(serializers.SlugField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or (not isinstance(data, str) and not all(isinstance(c, int) for c in self.choices)):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class BooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and _from_form(self) and data.lower() in ("true", "false"):
            return data.lower() == "true"
        self.fail("invalid", input=data)


class IntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and not _from_form(self):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(data)


class UUIDField(serializers.UUIDField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ListField(serializers.ListField):
    pass


class ModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose generated fields are the strict ones."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
    }


for _model_field, _serializer_field in list(ModelSerializer.serializer_field_mapping.items()):
    _strict = {
        serializers.CharField: CharField,
        serializers.EmailField: EmailField,
        serializers.SlugField: SlugField,
        serializers.BooleanField: BooleanField,
        serializers.IntegerField: IntegerField,
        serializers.UUIDField: UUIDField,
    }.get(_serializer_field)
    if _strict is not None:
        ModelSerializer.serializer_field_mapping[_model_field] = _strict
ModelSerializer.serializer_choice_field = ChoiceField
