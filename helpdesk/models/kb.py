"""The knowledge base: categories, articles and their translations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.base import UTCDateTime, utcnow

#: The states a translation moves between; only published ones are public and searchable.
STATES = ("draft", "published")

#: Explicit "see also" links, one way: article_id shows related_id.
kb_related = Table(
    "kb_related",
    db.metadata,
    Column("article_id", Integer, ForeignKey("kb_article.id", ondelete="CASCADE"), primary_key=True),
    Column("related_id", Integer, ForeignKey("kb_article.id", ondelete="CASCADE"), primary_key=True),
)


class Category(db.Model):
    """A shelf of articles, shown in ``position`` order."""

    __tablename__ = "kb_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    articles: Mapped[list[Article]] = relationship(back_populates="category", order_by="Article.position")


class Article(db.Model):
    """One piece of help, written in one or more languages."""

    __tablename__ = "kb_article"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("kb_category.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    #: Counted once per visitor session.
    view_count: Mapped[int] = mapped_column(default=0)
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    #: An optional downloadable file (a manual), stored by digest in helpdesk.storage.
    attachment_filename: Mapped[str | None] = mapped_column(String(255))
    attachment_content_type: Mapped[str | None] = mapped_column(String(120))
    attachment_size: Mapped[int | None]
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    category: Mapped[Category] = relationship(back_populates="articles")
    translations: Mapped[list[ArticleTranslation]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="ArticleTranslation.language"
    )
    related: Mapped[list[Article]] = relationship(
        secondary=kb_related,
        primaryjoin=lambda: Article.id == kb_related.c.article_id,
        secondaryjoin=lambda: Article.id == kb_related.c.related_id,
    )

    def translation(self, language: str) -> ArticleTranslation | None:
        """Return the translation in ``language``, or None."""
        return next((t for t in self.translations if t.language == language), None)

    def best(self, language: str, published_only: bool = True) -> ArticleTranslation | None:
        """Return the translation to show a reader of ``language``: theirs, else English, else any."""
        pool = [t for t in self.translations if t.published or not published_only]
        for wanted in (language, "en"):
            found = next((t for t in pool if t.language == wanted), None)
            if found:
                return found
        return pool[0] if pool else None

    @property
    def published(self) -> bool:
        """Return whether any translation is public."""
        return any(t.published for t in self.translations)


class ArticleTranslation(db.Model):
    """An article's text in one language; its slug is its public address."""

    __tablename__ = "kb_translation"
    __table_args__ = (UniqueConstraint("article_id", "language", name="uq_kb_translation_article_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    #: Unique across languages: /kb/<slug> names one translation.
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    #: The Markdown rendered and sanitised, cached at save time.
    body_html: Mapped[str] = mapped_column(Text, default="")
    #: ``draft`` or ``published``.
    state: Mapped[str] = mapped_column(String(16), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    article: Mapped[Article] = relationship(back_populates="translations")

    @property
    def published(self) -> bool:
        """Return whether readers can see this translation."""
        return self.state == "published"
