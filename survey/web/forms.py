"""WTForms forms: one base class that sets CSRF policy once, fixed forms, and chapter forms built from the model."""

from __future__ import annotations

import functools

from flask_babel import format_decimal, gettext
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

COMMENT_MAX = 20_000


class BaseForm(FlaskForm):
    """Every form posts with a CSRF token (Flask-WTF); a missing or wrong token fails validation."""


class LoginForm(BaseForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()
    replay = HiddenField()


class InviteForm(BaseForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=10, max=1024)])
    confirm = PasswordField(
        "Repeat the password", validators=[EqualTo("password", "The two passwords differ.")]
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
        "Comment to the State", validators=[Optional(), MaxCharacters(COMMENT_MAX)]
    )


class UserForm(BaseForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("respondent", "Respondent"),
            SelectChoice("analyst", "Analyst"),
            SelectChoice("admin", "Admin"),
        ],
    )
    state = SelectField("State (respondents only)", choices=[], validate_choice=False)


class RoundForm(BaseForm):
    round_id = StringField("Round id", validators=[DataRequired(), Length(max=40)])
    title = StringField("Title", validators=[Optional(), Length(max=200)])
    previous = SelectField("Pre-fill from", choices=[], validate_choice=False)


class UploadForm(BaseForm):
    pass


def field_name(provision_id: str, question: str) -> str:
    """Form field name for one question of one provision: 'UNCAC-15.compliance'."""
    return f"{provision_id}.{question}"


def version_name(provision_id: str, question: str) -> str:
    return f"{provision_id}.{question}.v"


class _LenientRadio(RadioField):
    """Choice membership is checked by survey.answers.clean_value, which names the field."""

    def pre_validate(self, form):
        pass


class _LenientMulti(SelectMultipleField):
    def pre_validate(self, form):
        pass


@functools.lru_cache(maxsize=2048)
def provision_form_class(questionnaire, provision_id: str):
    """A WTForms form class for one provision's questions, built once per questionnaire version.

    Field names are '<provision id>.<question>'. The CSRF token is checked once per post by
    BaseForm, so these forms have CSRF off; a save processes only the provisions that were posted
    (autosave sends just the sections that changed). Pages render the inputs with
    survey.web.widgets rather than WTForms widgets, which would dominate the page time.
    """
    from wtforms import Form

    provision = questionnaire.provisions[provision_id]
    attrs = {}
    for question in provision.questions:
        name = field_name(provision.id, question.name)
        choices = (
            [SelectChoice(c.name, c.label.en) for c in question.choices.choices]
            if question.choices
            else []
        )
        if question.type in ("select_one", "yes_no"):
            attrs[name] = _LenientRadio(question.label.en, choices=choices, validators=[Optional()])
        elif question.type == "select_multiple":
            attrs[name] = _LenientMulti(question.label.en, choices=choices, validators=[Optional()])
        else:
            attrs[name] = TextAreaField(question.label.en, validators=[Optional()])
        attrs[version_name(provision.id, question.name)] = HiddenField()
    return type(f"ProvisionForm_{provision_id.replace('-', '_')}", (Form,), attrs)
