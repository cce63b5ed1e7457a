"""The agents' article editor under /console/kb: write, translate, publish, file and relate articles."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from helpdesk.extensions import db, login_manager
from helpdesk.kb import console_bp as bp
from helpdesk.kb import search, service
from helpdesk.kb.forms import ArticleSettingsForm, FileForm, NewArticleForm, RelatedForm, TranslationForm
from helpdesk.models.kb import Article, Category


@bp.before_request
def _agents_only():
    if not current_user.is_authenticated:
        if request.endpoint in ("kb_console.lookup", "kb_console.preview"):
            return jsonify({"error": {"code": "unauthorized", "message": "Sign in to the console."}}), 401
        return login_manager.unauthorized()
    return None




def refuse(form, exc: service.KbError, fallback: str) -> None:
    """Undo the attempt and show the refusal beside its field."""
    db.session.rollback()
    field = getattr(form, exc.field or "", None) or getattr(form, fallback)
    field.errors = [*field.errors, str(exc)]


def _categories(form) -> list[Category]:
    categories = db.session.scalars(select(Category).order_by(Category.position, Category.name)).all()
    form.category.choices = [(c.id, c.name) for c in categories]
    return categories


@bp.get("/")
def articles():
    """List every article with its languages and states."""
    categories = db.session.scalars(select(Category).order_by(Category.position, Category.name)).all()
    return render_template("kb/console/articles.html", categories=categories, languages=service.LANGUAGES)


@bp.route("/new", methods=["GET", "POST"])
def new_article():
    """Start an article in one language."""
    form = NewArticleForm()
    form.language.choices = list(service.LANGUAGES.items())
    categories = _categories(form)
    if not categories:
        flash("Add a category first: every article sits in one.")
        return redirect(url_for("kb_console.categories"))
    if form.validate_on_submit():
        try:
            article = service.create_article(db.session.get(Category, form.category.data), form.position.data or 0)
            translation = service.save_translation(article, form.language.data, form.title.data, form.body.data,
                                                   form.slug.data or "", form.state.data)
        except service.KbError as exc:
            refuse(form, exc, "title")
        else:
            db.session.commit()
            flash(f"“{translation.title}” saved as {translation.state}.")
            return redirect(url_for("kb_console.edit", article_id=article.id, language=translation.language))
    status = 400 if form.errors else 200
    return render_template("kb/console/new.html", form=form), status


@bp.get("/<int:article_id>")
def article(article_id: int):
    """Open an article's editor in its first language."""
    item = db.get_or_404(Article, article_id)
    first = item.translation("en") or (item.translations[0] if item.translations else None)
    return redirect(url_for("kb_console.edit", article_id=item.id, language=first.language if first else "en"))


def label(item: Article) -> str:
    """Return the title agents know an article by (English first)."""
    shown = item.best("en", published_only=False)
    return shown.title if shown else f"Article #{item.id}"


def _side_forms(item: Article) -> dict:
    settings = ArticleSettingsForm(obj=item, prefix="settings")
    if not settings.is_submitted():
        settings.category.data = item.category_id
    _categories(settings)
    related = RelatedForm(prefix="related")
    others = db.session.scalars(select(Article).where(Article.id != item.id).order_by(Article.id)).all()
    related.related.choices = [(a.id, label(a)) for a in others]
    if not related.is_submitted():
        related.related.data = [a.id for a in item.related]
    return {"settings": settings, "related_form": related, "file_form": FileForm(prefix="file")}


@bp.route("/<int:article_id>/<language>", methods=["GET", "POST"])
def edit(article_id: int, language: str):
    """Write or revise an article's text in ``language``."""
    item = db.get_or_404(Article, article_id)
    if language not in service.LANGUAGES:
        abort(404)
    translation = item.translation(language)
    form = TranslationForm(obj=translation)
    if translation is not None and not form.is_submitted():
        form.body.data = translation.body_markdown
    if form.validate_on_submit():
        try:
            translation = service.save_translation(item, language, form.title.data, form.body.data,
                                                   form.slug.data or "", form.state.data)
        except service.KbError as exc:
            refuse(form, exc, "title")
        else:
            db.session.commit()
            flash(f"“{translation.title}” saved ({translation.state}).")
            return redirect(url_for("kb_console.edit", article_id=item.id, language=language))
    status = 400 if form.errors else 200
    return render_template("kb/console/edit.html", form=form, article=item, translation=translation,
                           language=language, languages=service.LANGUAGES, **_side_forms(item)), status


@bp.post("/<int:article_id>/<language>/state")
def set_state(article_id: int, language: str):
    """Publish or unpublish one language of an article."""
    item = db.get_or_404(Article, article_id)
    translation = item.translation(language)
    if translation is None:
        abort(404)
    state = request.form.get("state", "")
    try:
        service.set_state(translation, state)
    except service.KbError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"“{translation.title}” is now {'published' if translation.published else 'a draft'}.")
    return redirect(url_for("kb_console.edit", article_id=item.id, language=language))


@bp.post("/<int:article_id>/<language>/delete")
def delete_translation(article_id: int, language: str):
    """Delete one language of an article (the whole article when it was the last)."""
    item = db.get_or_404(Article, article_id)
    translation = item.translation(language)
    if translation is None:
        abort(404)
    if len(item.translations) == 1:
        service.delete_article(item)
        db.session.commit()
        flash(f"“{translation.title}” deleted.")
        return redirect(url_for("kb_console.articles"))
    service.delete_translation(translation)
    db.session.commit()
    flash(f"The {service.LANGUAGES[language]} version of this article is deleted.")
    return redirect(url_for("kb_console.article", article_id=item.id))


@bp.post("/<int:article_id>/delete")
def delete_article(article_id: int):
    """Delete an article in every language."""
    item = db.get_or_404(Article, article_id)
    service.delete_article(item)
    db.session.commit()
    flash("Article deleted.")
    return redirect(url_for("kb_console.articles"))


def _back(item: Article):
    return redirect(request.form.get("back") if (request.form.get("back") or "").startswith("/console/kb/")
                    else url_for("kb_console.article", article_id=item.id))


@bp.post("/<int:article_id>/settings")
def settings(article_id: int):
    """Move an article to another category or position."""
    item = db.get_or_404(Article, article_id)
    form = ArticleSettingsForm(prefix="settings")
    _categories(form)
    if form.validate_on_submit():
        service.update_article(item, db.session.get(Category, form.category.data), form.position.data or 0)
        db.session.commit()
        flash("Article settings saved.")
    else:
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
    return _back(item)


@bp.post("/<int:article_id>/related")
def related(article_id: int):
    """Choose the articles shown as related."""
    item = db.get_or_404(Article, article_id)
    ids = [int(v) for v in request.form.getlist("related-related") if v.isdigit()]
    service.set_related(item, ids)
    db.session.commit()
    flash(f"{len(item.related)} related article(s) saved.")
    return _back(item)


@bp.post("/<int:article_id>/file")
def upload(article_id: int):
    """Attach a downloadable file to the article, replacing any earlier one."""
    item = db.get_or_404(Article, article_id)
    upload = request.files.get("file-file")
    try:
        service.attach_file(item, upload.filename if upload else "", upload.read() if upload else b"",
                            upload.mimetype if upload else None)
    except service.KbError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{item.attachment_filename} attached.")
    return _back(item)


@bp.post("/<int:article_id>/file/delete")
def remove_file(article_id: int):
    """Remove the article's downloadable file."""
    item = db.get_or_404(Article, article_id)
    service.remove_file(item)
    db.session.commit()
    flash("File removed.")
    return _back(item)


@bp.get("/lookup")
def lookup():
    """Return articles matching ``q`` (title and public address) for an agent's reply."""
    q = (request.args.get("q") or "").strip()[:200]
    language = (request.args.get("lang") or "en")[:8]
    hits = search.search_articles(q, language, 8) if q else []
    return jsonify({"items": [{**h.as_dict(), "language": h.language} for h in hits]})

