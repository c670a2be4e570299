"""WTForms forms: one base class that sets CSRF policy once, and the fixed forms (chapter posts are read by survey.responding.read_chapter_post).

Labels, choices and messages are lazy gettext strings, translated when a page renders them:
templates show `form.<field>.label`, so each label has one source.
"""

from __future__ import annotations

from flask_babel import format_decimal, gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from ..i18n import LANGUAGES
from ..storage.rounds import TITLE_MAX, RoundTitleError, clean_title

COMMENT_MAX = 20_000


class BaseForm(FlaskForm):
    """Every form posts with a CSRF token (Flask-WTF); a missing or wrong token fails validation."""


# WTForms formats these with the limit (%(max)d); the same message serves every field.
TOO_LONG = lazy_gettext("This is too long: at most %(max)d characters.")


class LoginForm(BaseForm):
    email = EmailField(
        lazy_gettext("Email"),
        validators=[
            DataRequired(lazy_gettext("Enter your email address.")),
            Length(max=254, message=TOO_LONG),
        ],
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[
            DataRequired(lazy_gettext("Enter your password.")),
            Length(max=1024, message=TOO_LONG),
        ],
    )
    next = HiddenField()
    replay = HiddenField()


class InviteForm(BaseForm):
    password = PasswordField(
        lazy_gettext("New password (at least 10 characters)"),
        validators=[
            DataRequired(lazy_gettext("Choose a password.")),
            Length(
                min=10,
                max=1024,
                message=lazy_gettext(
                    "The password must have at least %(min)d characters and at most %(max)d."
                ),
            ),
        ],
    )
    confirm = PasswordField(
        lazy_gettext("Repeat the password"),
        validators=[EqualTo("password", lazy_gettext("The two passwords differ."))],
    )


class MaxCharacters:
    """At most `limit` characters; the error says how many were typed, in the page's number format."""

    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, form, field):
        if field.data and len(field.data) > self.limit:
            raise ValidationError(
                gettext(
                    "This text has %(length)s characters; the limit is %(limit)s. Shorten it and send it again.",
                    length=format_decimal(len(field.data)),
                    limit=format_decimal(self.limit),
                )
            )


class CommentForm(BaseForm):
    comment = TextAreaField(
        lazy_gettext("Comment to the State (required to return)"),
        validators=[Optional(), MaxCharacters(COMMENT_MAX)],
    )


class UserForm(BaseForm):
    email = EmailField(
        lazy_gettext("Email"),
        validators=[
            DataRequired(lazy_gettext("Enter the user's email address.")),
            Length(max=254, message=TOO_LONG),
        ],
    )
    name = StringField(
        lazy_gettext("Name"), validators=[Optional(), Length(max=200, message=TOO_LONG)]
    )
    role = SelectField(
        lazy_gettext("Role"),
        choices=[
            SelectChoice("respondent", lazy_gettext("Respondent")),
            SelectChoice("analyst", lazy_gettext("Analyst")),
            SelectChoice("admin", lazy_gettext("Administrator")),
        ],
    )
    state = SelectField(lazy_gettext("State (respondents only)"), choices=[], validate_choice=False)


class RoundTitle:
    """A round title the storage accepts (no control characters, at most TITLE_MAX characters)."""

    def __init__(self, lang: str):
        self.lang = lang

    def __call__(self, form, field):
        try:
            clean_title(field.data, self.lang)
        except RoundTitleError as exc:
            raise ValidationError(str(exc)) from None


def _title_field(lang: str, *validators) -> StringField:
    return StringField(
        lazy_gettext("Title (%(language)s)", language=LANGUAGES[lang]),
        validators=[*validators, MaxCharacters(TITLE_MAX), RoundTitle(lang)],
    )


class RoundForm(BaseForm):
    round_id = StringField(
        lazy_gettext("Round id (e.g. 2027)"),
        validators=[
            DataRequired(lazy_gettext("Enter the round id.")),
            Length(max=40, message=TOO_LONG),
        ],
    )
    title = StringField(
        lazy_gettext("Title"), validators=[Optional(), Length(max=200, message=TOO_LONG)]
    )
    previous = SelectField(
        lazy_gettext("States may pre-fill from"), choices=[], validate_choice=False
    )
    # The title in the other languages (`title` is the English one), as in RoundTitlesForm.
    title_ar = _title_field("ar", Optional())
    title_es = _title_field("es", Optional())
    title_fr = _title_field("fr", Optional())
    title_ru = _title_field("ru", Optional())
    title_zh = _title_field("zh", Optional())

    def validate_title(self, field):
        if not field.errors:  # a title too long already says so
            RoundTitle("en")(self, field)


class RoundTitlesForm(BaseForm):
    """A round's titles: English is required, since it is shown where a language has none."""

    title = _title_field(
        "en",
        DataRequired(
            lazy_gettext(
                "The English title cannot be empty: it is shown in every language that has no "
                "title of its own."
            )
        ),
    )
    title_ar = _title_field("ar", Optional())
    title_es = _title_field("es", Optional())
    title_fr = _title_field("fr", Optional())
    title_ru = _title_field("ru", Optional())
    title_zh = _title_field("zh", Optional())


class UploadForm(BaseForm):
    pass
