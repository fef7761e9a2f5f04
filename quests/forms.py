"""Forms of the game's pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.validators import MaxLengthValidator

from quests.models import Player
from quests.services.callsigns import RULES, InvalidCallsign, callsign_clean
from quests.services.players import UNAVAILABLE, CallsignTaken, callsign_check
from quests.services.signup import challenge_problem, challenge_token


class AnswerForm(forms.Form):
    """One radio group per question. The options' texts come from the run; the correct index
    is never part of the form."""

    def __init__(self, *args, questions: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        for i, question in enumerate(questions, start=1):
            self.fields[f"q{i}"] = forms.TypedChoiceField(
                label=question["prompt"],
                choices=[(str(j), option) for j, option in enumerate(question["options"])],
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": f"Choose an answer for question {i}."},
            )

    def tampered(self) -> bool:
        """A value that no honest form can send: an option that does not exist, or a field
        the form never had."""
        if not self.is_bound:
            return False
        known = set(self.fields) | {"csrfmiddlewaretoken"}
        if any(name not in known for name in self.data):
            return True
        if any(len(self.data.getlist(name)) > 1 for name in self.fields if hasattr(self.data, "getlist")):
            return True
        for name, field in self.fields.items():
            value = self.data.get(name)
            if value not in (None, "") and value not in {key for key, _ in field.choices}:
                return True
        return False

    def answers(self) -> list[int]:
        return [self.cleaned_data[name] for name in self.fields]


class CallsignForm(forms.Form):
    # Room for the input before normalization; callsign_clean holds the real limit.
    callsign = forms.CharField(max_length=64, label="Callsign", help_text="3 to 24 characters.")

    def clean_callsign(self) -> str:
        try:
            return callsign_clean(self.cleaned_data["callsign"])
        except InvalidCallsign as exc:
            raise forms.ValidationError(str(exc)) from None


class SignupForm(UserCreationForm):
    """The username becomes the pilot's callsign, so it follows the callsign rules: valid, and
    not the same as (or a look-alike of) another pilot's callsign or another account's username.
    The guest signing up may keep their own.

    A name that cannot be had gets one message, whatever the reason (an account's username, a
    pilot's callsign, a look-alike, a reserved staff name), so sign-up does not tell which
    usernames exist; `name_refused` lets the view count such an answer like a failed login.
    The form also carries the person check of services.signup (a time token and a honeypot).
    """

    flight_plan = forms.CharField(required=False, label="Leave this field empty")
    form_token = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, player: Player | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.player = player
        self.name_refused = False
        self.fields["username"].help_text = f"Your callsign on the leaderboard. {RULES}"
        self.fields["username"].max_length = 64
        self.fields["username"].validators.append(MaxLengthValidator(64))

    def _get_validation_exclusions(self):
        # The callsign rules (clean_username) replace the User model's username validator,
        # which refuses the spaces a callsign may hold; uniqueness is still checked (case
        # aside, here and by callsign_check) and held by the unique column.
        return super()._get_validation_exclusions() | {"username"}

    @property
    def fresh_token(self) -> str:
        """A new token each time the form is shown (a used or stale one is never shown again)."""
        return challenge_token()

    def clean_username(self) -> str | None:
        username = self.cleaned_data.get("username")
        if not username:
            return username
        model = self._meta.model
        try:
            if model.objects.filter(**{f"{model.USERNAME_FIELD}__iexact": username}).exists():
                raise CallsignTaken(UNAVAILABLE)
            return callsign_check(callsign=username, player=self.player)
        except CallsignTaken:
            self.name_refused = True
            raise forms.ValidationError(UNAVAILABLE) from None
        except InvalidCallsign as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        problem = challenge_problem(token=self.data.get("form_token", ""), honeypot=self.data.get("flight_plan", ""))
        if problem:
            raise forms.ValidationError(problem)
        return cleaned
