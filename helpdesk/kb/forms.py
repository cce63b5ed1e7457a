"""The knowledge base editor's forms (Flask-WTF: CSRF on every one)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

_STATES = [("draft", "Draft: only agents see it"), ("published", "Published: customers can read it")]


class TranslationForm(FlaskForm):
    """Write an article's text in one language."""

    title = StringField("Title", validators=[DataRequired("Give the article a title."), Length(max=200)])
    slug = StringField("Address (slug)", validators=[Optional(), Length(max=80)])
    body = TextAreaField("Text (Markdown)", validators=[DataRequired("Write the article's text."),
                                                        Length(max=200_000)])
    state = SelectField("State", choices=_STATES)


class NewArticleForm(TranslationForm):
    """Start an article: where it goes and its first language."""

    category = SelectField("Category", coerce=int, validators=[DataRequired("Choose a category.")])
    language = SelectField("Language")
    position = IntegerField("Position", default=0, validators=[Optional(), NumberRange(min=0, max=10_000)])


class ArticleSettingsForm(FlaskForm):
    """Move an article to another category or position."""

    category = SelectField("Category", coerce=int, validators=[DataRequired("Choose a category.")])
    position = IntegerField("Position", default=0, validators=[Optional(), NumberRange(min=0, max=10_000)])


class RelatedForm(FlaskForm):
    """Choose the articles shown as related."""

    related = SelectMultipleField("Related articles", coerce=int)


class FileForm(FlaskForm):
    """Upload the article's downloadable file."""

    file = FileField("Downloadable file (a manual)")


class CategoryForm(FlaskForm):
    """Create or edit a category."""

    name = StringField("Name", validators=[DataRequired("Give the category a name."), Length(max=120)])
    slug = StringField("Address (slug)", validators=[Optional(), Length(max=120)])
    position = IntegerField("Position", default=0, validators=[Optional(), NumberRange(min=0, max=10_000)])
