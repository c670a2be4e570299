"""WTForms forms: one base class that sets CSRF policy once, fixed forms, and chapter forms built from the model."""

from __future__ import annotations

import functools

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
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..answers import MAX_TEXT


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


class CommentForm(BaseForm):
    comment = TextAreaField("Comment to the State", validators=[Optional(), Length(max=20_000)])


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


@functools.lru_cache(maxsize=512)
def chapter_form_class(questionnaire, chapter_key: str):
    """A form class for one chapter, built once per questionnaire version (the model is immutable).

    Pages render these fields with lean templates rather than WTForms widgets: a chapter can hold
    hundreds of inputs and widget rendering would dominate the page time.
    """
    chapter = questionnaire.chapters[chapter_key]
    attrs = {}
    for provision in chapter.provisions:
        for question in provision.questions:
            name = field_name(provision.id, question.name)
            choices = (
                [SelectChoice(c.name, c.label.en) for c in question.choices.choices]
                if question.choices
                else []
            )
            if question.type in ("select_one", "yes_no"):
                field = _LenientRadio(question.label.en, choices=choices, validators=[Optional()])
            elif question.type == "select_multiple":
                field = _LenientMulti(question.label.en, choices=choices, validators=[Optional()])
            else:
                field = TextAreaField(
                    question.label.en, validators=[Optional(), Length(max=MAX_TEXT)]
                )
            attrs[name] = field
            attrs[version_name(provision.id, question.name)] = HiddenField()
    return type(f"ChapterForm_{chapter_key.replace('/', '_')}", (BaseForm,), attrs)
