"""The public knowledge base: browse, search, read, vote, download."""

from __future__ import annotations

from flask import abort, current_app, jsonify, redirect, render_template, request, send_file, session, url_for
from flask_login import current_user
from sqlalchemy import select

from helpdesk import storage
from helpdesk.channels.chat.routes import allow_chat_sites
from helpdesk.channels.web import errors as public_errors
from helpdesk.extensions import db, limiter
from helpdesk.i18n import current_language
from helpdesk.kb import bp, search, service
from helpdesk.models.kb import Article, ArticleTranslation, Category

#: The cookie remembering which articles this browser has voted on.
VOTE_COOKIE = "kb_votes"
_REMEMBERED = 200


def reader_language() -> str:
    """Return the language the public site is showing (the same choice as every public page)."""
    return current_language()


def _is_agent() -> bool:
    return bool(getattr(current_user, "is_authenticated", False))


@bp.errorhandler(404)
def not_found(exc):
    """Show the knowledge base's own 404 page (with its search box)."""
    return render_template("kb/404.html"), 404


@bp.errorhandler(429)
def too_many(exc):
    """Answer the suggestion endpoint's callers in JSON when they ask too often."""
    if request.endpoint == "kb.suggest":
        body = {"error": {"code": "rate_limited", "message": "Too many requests; try again in a minute."}, "items": []}
        return jsonify(body), 429
    return public_errors.page(429)


@bp.get("")
def index():
    """List categories with their articles, and the most useful ones (a query goes to the search page)."""
    if (request.args.get("q") or "").strip():
        return redirect(url_for("kb.search_page", q=request.args["q"].strip()[:200]))
    language = reader_language()
    categories = db.session.scalars(select(Category).order_by(Category.position, Category.name)).all()
    shelves = [(c, search.readable(c.articles, language)) for c in categories]
    return render_template(
        "kb/index.html",
        shelves=[(c, items) for c, items in shelves if items],
        popular=search.popular_articles(language, 5),
    )


@bp.get("/search")
def search_page():
    """Show the articles matching ``q``."""
    q = (request.args.get("q") or "").strip()[:200]
    hits = search.search_articles(q, reader_language(), 20) if q else []
    return render_template("kb/search.html", q=q, hits=hits)


@bp.get("/suggest")
@limiter.limit("60 per minute")
def suggest():
    """Return up to five articles matching ``q`` as JSON (the contact form and chat pre-form ask as people type)."""
    q = (request.args.get("q") or "").strip()[:200]
    language = (request.args.get("lang") or reader_language())[:8]
    try:
        limit = min(max(int(request.args.get("limit", 5)), 1), 10)
    except ValueError:
        limit = 5
    hits = search.search_articles(q, language, limit) if len(q) >= 2 else []
    response = jsonify({"items": [h.as_dict() for h in hits]})
    response.headers["Cache-Control"] = "public, max-age=60"
    return allow_chat_sites(response)


def _translation(slug: str) -> ArticleTranslation:
    translation = db.session.scalar(select(ArticleTranslation).where(ArticleTranslation.slug == slug))
    if translation is None or (not translation.published and not _is_agent()):
        abort(404)
    return translation


def voted_ids() -> set[int]:
    """Return the ids of the articles this browser has voted on."""
    raw = request.cookies.get(VOTE_COOKIE, "")
    return {int(part) for part in raw.split(".") if part.isdigit()}


@bp.get("/<slug>")
def article(slug: str):
    """Show an article, counting the reader once per session."""
    translation = _translation(slug)
    item = translation.article
    language = reader_language()
    if translation.published:
        seen = session.get("kb_seen", [])
        if item.id not in seen:
            service.record_view(item)
            db.session.commit()
            session["kb_seen"] = (seen + [item.id])[-_REMEMBERED:]
    others = [t for t in item.translations if t.published and t.id != translation.id]
    related = search.readable(service.related_articles(item), language)
    return render_template(
        "kb/article.html",
        article=item,
        translation=translation,
        others=others,
        related=related,
        voted=item.id in voted_ids(),
        languages=service.LANGUAGES,
    )


@bp.post("/<slug>/vote")
def vote(slug: str):
    """Record whether the article helped, once per browser."""
    translation = _translation(slug)
    if not translation.published:
        abort(404)
    answer = request.form.get("helpful")
    if answer not in ("yes", "no"):
        abort(400)
    voted = voted_ids()
    response = redirect(url_for("kb.article", slug=slug, _anchor="helpful"))
    if translation.article_id not in voted:
        service.record_vote(translation.article, answer == "yes")
        db.session.commit()
        remembered = sorted(voted)[-_REMEMBERED + 1 :] + [translation.article_id]
        response.set_cookie(
            VOTE_COOKIE, ".".join(map(str, remembered)), max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
    return response


@bp.get("/<slug>/download")
def download(slug: str):
    """Send the article's file as a download (never shown inline, never sniffed)."""
    translation = _translation(slug)
    item: Article = translation.article
    if not item.attachment_sha256:
        abort(404)
    response = send_file(
        storage.path_for(item.attachment_sha256),
        mimetype=service.download_type(item),
        as_attachment=True,
        download_name=item.attachment_filename,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
