"""Full-text search over published article translations.

One index table, ``kb_search``, holds a row per published translation (its
title and plain text), keyed by the translation's id. SQLite keeps it as an
FTS5 table (rowid = translation id, ranked by bm25 with the title weighing
more), PostgreSQL as a table with a weighted generated ``tsvector`` under a
GIN index (ranked by ts_rank); the migration creates whichever fits, as
migration 0001 does for the tickets' ``search_index``. Every word of a query
matches as a prefix, so "pass" finds "password".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, text

from helpdesk.extensions import db
from helpdesk.kb.render import excerpt, plain_text
from helpdesk.models.kb import Article, ArticleTranslation

#: Readers whose language has no translation of an article read it in this one.
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Hit:
    """An article found for a reader: what a list of suggestions shows."""

    id: int
    title: str
    url: str
    excerpt: str
    language: str
    slug: str

    @property
    def path(self) -> str:
        """Return the site-relative address of the article."""
        return f"/kb/{self.slug}"

    def as_dict(self) -> dict:
        """Return the JSON shape the suggestion endpoints answer with."""
        return {"id": self.id, "title": self.title, "url": self.url, "excerpt": self.excerpt}


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def article_url(slug: str) -> str:
    """Return the absolute public address of the translation with ``slug``."""
    return f"{current_app.config['BASE_URL']}/kb/{slug}"


def index_translation(translation: ArticleTranslation) -> None:
    """Put a translation in the index when it is published, take it out otherwise."""
    column = "translation_id" if _postgres() else "rowid"
    db.session.execute(text(f"DELETE FROM kb_search WHERE {column} = :id"), {"id": translation.id})
    if translation.published:
        db.session.execute(
            text(f"INSERT INTO kb_search ({column}, language, title, body) VALUES (:id, :language, :title, :body)"),
            {
                "id": translation.id,
                "language": translation.language,
                "title": translation.title,
                "body": plain_text(translation.body_html)[:200_000],
            },
        )


def unindex_translation(translation_id: int) -> None:
    """Take a translation out of the index (it is being deleted)."""
    column = "translation_id" if _postgres() else "rowid"
    db.session.execute(text(f"DELETE FROM kb_search WHERE {column} = :id"), {"id": translation_id})


def terms(query: str) -> list[str]:
    """Return the words of ``query`` that search looks for (at most eight)."""
    return re.findall(r"\w+", query or "")[:8]


def _language(language: str | None) -> str:
    return (str(language or FALLBACK_LANGUAGE).replace("-", "_").split("_")[0] or FALLBACK_LANGUAGE).lower()


#: A published translation in the reader's language, or the English one when theirs is missing.
_READABLE = (
    "t.state = 'published' AND (t.language = :lang OR (t.language = :fallback AND NOT EXISTS ("
    "SELECT 1 FROM kb_translation o WHERE o.article_id = t.article_id AND o.language = :lang"
    " AND o.state = 'published')))"
)


def _ranked(words: list[str], language: str, limit: int) -> list[tuple[int, str]]:
    params = {"lang": language, "fallback": FALLBACK_LANGUAGE, "limit": limit}
    if _postgres():
        params["q"] = " & ".join(f"{w}:*" for w in words)
        sql = (
            "SELECT t.id, s.body FROM kb_search s JOIN kb_translation t ON t.id = s.translation_id "
            "JOIN kb_article a ON a.id = t.article_id "
            f"WHERE s.tsv @@ to_tsquery('simple', :q) AND {_READABLE} "
            "ORDER BY ts_rank(s.tsv, to_tsquery('simple', :q)) DESC, a.helpful_yes DESC, a.view_count DESC, t.id "
            "LIMIT :limit"
        )
    else:
        params["q"] = " ".join('"{}"*'.format(w.replace('"', "")) for w in words)
        sql = (
            "SELECT t.id, s.body FROM kb_search s JOIN kb_translation t ON t.id = s.rowid "
            "JOIN kb_article a ON a.id = t.article_id "
            f"WHERE kb_search MATCH :q AND {_READABLE} "
            "ORDER BY bm25(kb_search, 0, 10.0, 1.0), a.helpful_yes DESC, a.view_count DESC, t.id "
            "LIMIT :limit"
        )
    return [(row[0], row[1]) for row in db.session.execute(text(sql), params)]


def search_articles(query: str, language: str, limit: int = 5) -> list[Hit]:
    """Return the published articles best matching ``query`` for a reader of ``language``, best first.

    Articles without a translation in ``language`` are found in English.
    """
    words = terms(query)
    limit = max(1, min(int(limit), 50))
    if not words:
        return []
    ranked = _ranked(words, _language(language), limit)
    if not ranked:
        return []
    rows = {t.id: t for t in db.session.scalars(
        select(ArticleTranslation).where(ArticleTranslation.id.in_([r[0] for r in ranked]))
    )}
    return [_hit(rows[tid], excerpt(body, words)) for tid, body in ranked if tid in rows]


def popular_articles(language: str, limit: int = 5) -> list[Hit]:
    """Return the most viewed and most helpful published articles for a reader of ``language``."""
    language = _language(language)
    limit = max(1, min(int(limit), 50))
    sql = (
        "SELECT t.id FROM kb_translation t JOIN kb_article a ON a.id = t.article_id "
        f"WHERE {_READABLE} "
        "ORDER BY a.view_count + 5 * (a.helpful_yes - a.helpful_no) DESC, a.view_count DESC, a.position, t.id "
        "LIMIT :limit"
    )
    ids = [r[0] for r in db.session.execute(
        text(sql), {"lang": language, "fallback": FALLBACK_LANGUAGE, "limit": limit}
    )]
    rows = {t.id: t for t in db.session.scalars(select(ArticleTranslation).where(ArticleTranslation.id.in_(ids)))}
    return [_hit(rows[i], excerpt(plain_text(rows[i].body_html))) for i in ids if i in rows]


def readable(articles: list[Article], language: str) -> list[tuple[Article, ArticleTranslation]]:
    """Return ``articles`` that a reader of ``language`` can open, each with the translation to show."""
    language = _language(language)
    shown = []
    for article in articles:
        found = article.translation(language)
        if found is None or not found.published:
            found = article.translation(FALLBACK_LANGUAGE)
        if found is not None and found.published:
            shown.append((article, found))
    return shown


def hit_for(translation: ArticleTranslation) -> Hit:
    """Return ``translation`` as a Hit with the start of its text as the excerpt."""
    return _hit(translation, excerpt(plain_text(translation.body_html)))


def _hit(translation: ArticleTranslation, summary: str) -> Hit:
    return Hit(
        id=translation.article_id,
        title=translation.title,
        url=article_url(translation.slug),
        excerpt=summary,
        language=translation.language,
        slug=translation.slug,
    )
