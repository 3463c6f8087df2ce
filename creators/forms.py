"""The creator studio form (/settings/creator/)."""

from django import forms

from creators.models import MAX_CATEGORIES, Category, MessagePolicy
from creators.services import MAX_CALL_MINUTES, MAX_TOKENS


class CreatorProfileForm(forms.Form):
    display_name = forms.CharField(max_length=80, required=False)
    bio = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 4}))
    avatar = forms.ImageField(required=False, help_text="Square images look best.")
    cover = forms.ImageField(required=False)
    video_call_rate = forms.IntegerField(min_value=1, max_value=MAX_TOKENS, label="Video call (tokens per minute)")
    voice_call_rate = forms.IntegerField(min_value=1, max_value=MAX_TOKENS, label="Voice call (tokens per minute)")
    message_price = forms.IntegerField(
        min_value=0, max_value=MAX_TOKENS, label="Price of a fan's message (tokens)",
        help_text="0 makes messages free. A paid message is held until you reply and refunded if you don't.",
    )
    min_call_minutes = forms.IntegerField(min_value=1, max_value=MAX_CALL_MINUTES, label="Minimum call length (minutes)")
    message_policy = forms.ChoiceField(choices=MessagePolicy.choices, label="Who may message you")
    message_min_spend = forms.IntegerField(
        min_value=0, max_value=MAX_TOKENS, required=False, initial=0, label="Paying fans: tokens spent with you at least",
        help_text="With \u201cPaying fans only\u201d: what a fan must have spent with you (calls, tips, answered messages) to write.",
    )
    do_not_disturb = forms.BooleanField(required=False, label="Don't disturb (no incoming calls)")
    categories = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text=f"Up to {MAX_CATEGORIES}."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = [(c.slug, f"#{c.slug} · {c.name}") for c in Category.objects.all()]

    def clean_categories(self):
        picked = self.cleaned_data["categories"]
        if len(picked) > MAX_CATEGORIES:
            raise forms.ValidationError(
                f"Pick at most {MAX_CATEGORIES} categories (you picked {len(picked)}).", code="too_many_categories"
            )
        return picked

    def changes(self) -> dict:
        """Cleaned data as keyword arguments for services.update_creator_profile."""
        data = dict(self.cleaned_data)
        if data.get("message_min_spend") is None:
            data["message_min_spend"] = 0
        for image in ("avatar", "cover"):
            if not data.get(image):
                data.pop(image, None)  # no upload: keep the current picture
        return data


def initial_for(profile) -> dict:
    return {
        "display_name": profile.display_name,
        "bio": profile.bio,
        "video_call_rate": profile.video_call_rate,
        "voice_call_rate": profile.voice_call_rate,
        "message_price": profile.message_price,
        "min_call_minutes": profile.min_call_minutes,
        "message_policy": profile.message_policy,
        "message_min_spend": profile.message_min_spend,
        "do_not_disturb": profile.do_not_disturb,
        "categories": [link.category.slug for link in profile.category_links.all()],
    }
