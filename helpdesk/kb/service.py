"""The knowledge base's verbs: write, translate, publish, file, relate, count and vote.

Views call these, then commit. A refusal raises KbError naming the form field
it belongs beside.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from helpdesk import storage
from helpdesk.extensions import db
from helpdesk.kb import search
from helpdesk.kb.render import RESERVED_SLUGS, render_markdown, slugify
from helpdesk.models.base import utcnow
from helpdesk.models.kb import STATES, Article, ArticleTranslation, Category

#: Languages an article can be written in, in the order the console offers them.
LANGUAGES = {"en": "English", "fr": "Français"}
#: Content types a downloaded manual keeps; anything else is sent as plain bytes.
_KEPT_TYPES = {"application/pdf", "application/zip", "text/plain", "text/csv", "image/png", "image/jpeg"}


class KbError(ValueError):
    """A change the knowledge base refuses; ``field`` names the form field it concerns."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# Categories -----------------------------------------------------------------------------------------------------


def save_category(name: str, slug: str = "", position: int = 0, category: Category | None = None) -> Category:
    """Create or rename a category."""
    name = (name or "").strip()
    if not name:
        raise KbError("Give the category a name.", "name")
    slug = slugify(slug or name, "category")
    others = select(Category).where(Category.id != (category.id if category else -1))
    if db.session.scalar(others.where(func.lower(Category.name) == name.lower())):
        raise KbError(f"There is already a category called {name}.", "name")
    if db.session.scalar(others.where(Category.slug == slug)):
        raise KbError(f"Another category already uses the address {slug}.", "slug")
    category = category or Category()
    category.name, category.slug, category.position = name, slug, position
    db.session.add(category)
    db.session.flush()
    return category


def delete_category(category: Category) -> None:
    """Delete an empty category."""
    if category.articles:
        raise KbError(f"{category.name} still holds {len(category.articles)} article(s); move or delete them first.")
    db.session.delete(category)


# Articles and translations --------------------------------------------------------------------------------------


def create_article(category: Category, position: int = 0) -> Article:
    """Create an article (with no text yet) in ``category``."""
    article = Article(category=category, position=position)
    db.session.add(article)
    return article


def update_article(article: Article, category: Category, position: int) -> None:
    """Move an article to another category or position."""
    article.category, article.position = category, position
    article.updated_at = utcnow()


def _free_slug(wanted: str, translation: ArticleTranslation | None, explicit: bool) -> str:
    taken = select(ArticleTranslation.id).where(ArticleTranslation.id != (translation.id if translation else -1))
    if wanted in RESERVED_SLUGS:
        if explicit:
            raise KbError(f"{wanted} is reserved; choose another address.", "slug")
        wanted = f"{wanted}-article"
    if not db.session.scalar(taken.where(ArticleTranslation.slug == wanted)):
        return wanted
    if explicit:
        raise KbError(f"Another article already uses the address {wanted}.", "slug")
    n = 2
    while db.session.scalar(taken.where(ArticleTranslation.slug == f"{wanted}-{n}")):
        n += 1
    return f"{wanted}-{n}"


def save_translation(
    article: Article, language: str, title: str, body_markdown: str, slug: str = "", state: str | None = None
) -> ArticleTranslation:
    """Write an article's text in ``language`` (creating that translation if needed) and re-index it."""
    if language not in LANGUAGES:
        raise KbError(f"Articles can be written in {', '.join(LANGUAGES)}, not {language}.", "language")
    title = (title or "").strip()
    if not title:
        raise KbError("Give the article a title.", "title")
    if not (body_markdown or "").strip():
        raise KbError("Write the article's text.", "body")
    translation = article.translation(language)
    explicit = bool((slug or "").strip())
    wanted = slugify(slug if explicit else title)
    if explicit and wanted != slug.strip():
        raise KbError(f"Use lower-case letters, digits and hyphens only, e.g. {wanted}.", "slug")
    if translation is not None and not explicit:
        wanted = translation.slug  # keep a published address stable when the title changes
    with db.session.no_autoflush:
        slug = _free_slug(wanted, translation, explicit)
    if translation is None:
        translation = ArticleTranslation(article=article, language=language, state="draft")
        db.session.add(translation)
    translation.slug = slug
    translation.title = title
    translation.body_markdown = body_markdown
    translation.body_html = render_markdown(body_markdown)
    translation.updated_at = article.updated_at = utcnow()
    if state is not None:
        _set_state(translation, state)
    db.session.flush()
    search.index_translation(translation)
    return translation


def _set_state(translation: ArticleTranslation, state: str) -> None:
    if state not in STATES:
        raise KbError(f"The state must be one of {', '.join(STATES)}.", "state")
    if state == "published" and translation.state != "published":
        translation.published_at = utcnow()
    translation.state = state


def set_state(translation: ArticleTranslation, state: str) -> None:
    """Publish or unpublish a translation."""
    _set_state(translation, state)
    translation.updated_at = utcnow()
    db.session.flush()
    search.index_translation(translation)


def delete_translation(translation: ArticleTranslation) -> None:
    """Delete one language of an article."""
    search.unindex_translation(translation.id)
    translation.article.translations.remove(translation)
    db.session.flush()


def delete_article(article: Article) -> None:
    """Delete an article with all its translations."""
    for translation in article.translations:
        search.unindex_translation(translation.id)
    db.session.delete(article)
    db.session.flush()


def set_related(article: Article, related_ids: list[int]) -> None:
    """Replace the articles shown as related to ``article``."""
    wanted = {i for i in related_ids if i != article.id}
    article.related = list(db.session.scalars(select(Article).where(Article.id.in_(wanted)))) if wanted else []


def related_articles(article: Article, limit: int = 5) -> list[Article]:
    """Return the related articles to show: the chosen ones, else more from the same category."""
    chosen = [a for a in article.related if a.published]
    if chosen:
        return chosen[:limit]
    same = select(Article).where(Article.category_id == article.category_id, Article.id != article.id)
    return [a for a in db.session.scalars(same.order_by(Article.position, Article.id)) if a.published][:limit]


# Manuals --------------------------------------------------------------------------------------------------------


def attach_file(article: Article, filename: str, data: bytes, content_type: str | None) -> None:
    """Store ``data`` as the article's downloadable file, replacing any earlier one."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:255]
    if not name or not data:
        raise KbError("Choose a file to upload.", "file")
    try:
        digest = storage.store(data)
    except storage.AttachmentTooLarge as exc:
        raise KbError(f"That file is too large: {exc}.", "file") from None
    article.attachment_filename = name
    article.attachment_content_type = (content_type or "application/octet-stream").split(";")[0].strip()[:120]
    article.attachment_size = len(data)
    article.attachment_sha256 = digest


def remove_file(article: Article) -> None:
    """Drop the article's downloadable file (its bytes may be shared, so they stay)."""
    article.attachment_filename = article.attachment_content_type = article.attachment_sha256 = None
    article.attachment_size = None


def download_type(article: Article) -> str:
    """Return the content type to send the article's file with (never one a browser would render as a page)."""
    kept = article.attachment_content_type or ""
    return kept if kept in _KEPT_TYPES else "application/octet-stream"


# Readers --------------------------------------------------------------------------------------------------------


def record_view(article: Article) -> None:
    """Count one more reader of ``article``."""
    db.session.execute(update(Article).where(Article.id == article.id).values(view_count=Article.view_count + 1))


def record_vote(article: Article, helpful: bool) -> None:
    """Count a "was this helpful?" answer."""
    column = Article.helpful_yes if helpful else Article.helpful_no
    db.session.execute(update(Article).where(Article.id == article.id).values({column.key: column + 1}))
