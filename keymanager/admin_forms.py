"""Forms of the key admin. The secret is a password input, validated by the key service."""

from __future__ import annotations

from django import forms

from keymanager.models import Key, Provider
from keymanager.services.keys import validate_secret


class KeyAddForm(forms.ModelForm):
    secret = forms.CharField(
        label="API key",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Shown once here and never again: the pool stores it encrypted and shows only its tail.",
    )

    class Meta:
        model = Key
        fields = ["provider", "name", "organization", "order"]
        help_texts = {"name": "A label for people, e.g. 'team account #2'. Searchable; never the key itself."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order"].required = False
        self.fields["order"].help_text = "Position for quest-based rotation. Blank: after the last key."
        # Blank, as its help says, not the model's default 0, which would make the new key first.
        self.initial["order"] = None
        self.fields["name"].required = False

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider") or Provider.GROQ
        if "secret" in cleaned:
            try:
                cleaned["secret"] = validate_secret(provider=provider, secret=cleaned["secret"])
            except forms.ValidationError as exc:
                self.add_error("secret", exc)
        return cleaned


class KeyChangeForm(forms.ModelForm):
    class Meta:
        model = Key
        fields = ["name", "organization", "order"]
