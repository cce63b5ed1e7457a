"""The knowledge base: Markdown made safe, drafts, search on both databases, votes, views, files, the editor."""

from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.kb import service
from helpdesk.kb.search import popular_articles, search_articles
from helpdesk.models.kb import Article, ArticleTranslation


@pytest.fixture
def category(app):
    """Return a category to file articles in."""
    row = service.save_category("Account and sign-in")
    db.session.commit()
    return row


@pytest.fixture
def write(category):
    """Return a factory: write(title, body, language="en", state="published", article=None) -> translation."""

    def factory(title: str, body: str = "Some helpful text.", language: str = "en", state: str = "published",
                article: Article | None = None, in_category=None) -> ArticleTranslation:
        article = article or service.create_article(in_category or category)
        translation = service.save_translation(article, language, title, body, state=state)
        db.session.commit()
        return translation

    return factory


def sign_in(client, agent, password: str = "correct horse battery"):
    """Sign ``agent`` in to the console."""
    response = client.post("/console/login", data={"email": agent.email, "password": password})
    assert response.status_code == 302


# Markdown ---------------------------------------------------------------------------------------------------------


HOSTILE = """# Reset

<script>alert('xss')</script>

<img src="x" onerror="alert(1)">

[click me](javascript:alert(2)) and [fine](https://example.com/help)

<a href="JaVaScRiPt:alert(3)">upper</a> <iframe src="https://evil.example"></iframe>

| a | b |
|---|---|
| 1 | 2 |

```
code <b>here</b>
```
"""


def test_markdown_is_rendered_and_script_never_reaches_the_page(client, write):
    translation = write("Reset your password", HOSTILE)
    html = translation.body_html
    assert "<h1>Reset</h1>" in html and "<table>" in html and "<pre><code>" in html
    assert 'href="https://example.com/help"' in html
    page = client.get(f"/kb/{translation.slug}").get_data(as_text=True)
    body = page[page.index('class="kb-body"'):page.index("</article>")]
    assert page.count("<script") == page.count('<script src="/static/')  # only the layout's own files
    for bad in ("<script", "onerror", "javascript:", "JaVaScRiPt", "<iframe", "alert(1)"):
        assert bad not in body
    assert "code &lt;b&gt;here&lt;/b&gt;" in body


def test_preview_returns_sanitised_html_to_agents_only(client, agent):
    assert client.post("/console/kb/preview", data={"body": "**hi**"}).status_code == 401
    sign_in(client, agent)
    hostile = "**hi** <script>x()</script> <a href='javascript:y()'>l</a>"
    response = client.post("/console/kb/preview", data={"body": hostile})
    html = response.get_json()["html"]
    assert "<strong>hi</strong>" in html and "<script" not in html and "javascript:" not in html


# Drafts -----------------------------------------------------------------------------------------------------------


def test_drafts_are_404_publicly_but_agents_see_them(client, write, agent):
    draft = write("Secret upcoming feature", state="draft")
    assert client.get(f"/kb/{draft.slug}").status_code == 404
    assert "Secret upcoming feature" not in client.get("/kb").get_data(as_text=True)
    assert client.post(f"/kb/{draft.slug}/vote", data={"helpful": "yes"}).status_code == 404
    sign_in(client, agent)
    page = client.get(f"/kb/{draft.slug}")
    assert page.status_code == 200 and "only agents can see" in page.get_data(as_text=True)
    assert db.session.get(Article, draft.article_id).view_count == 0
    assert client.get(f"/console/kb/{draft.article_id}/en").status_code == 200


def test_index_lists_published_articles_by_category(client, write):
    write("Reset your password")
    write("Unfinished", state="draft")
    page = client.get("/kb").get_data(as_text=True)
    assert "Account and sign-in" in page and "Reset your password" in page and "Unfinished" not in page
    assert 'action="/kb/search"' in page
    assert client.get("/kb?q=password").headers["Location"].endswith("/kb/search?q=password")


# Search -----------------------------------------------------------------------------------------------------------


def test_search_matches_prefixes_ranks_titles_first_and_skips_drafts(write):
    write("Billing cycles", "Your invoice arrives monthly. The password is not needed here.")
    write("Reset your password", "Choose Forgot password and follow the link.")
    write("Password rules for admins", "Draft text", state="draft")
    hits = search_articles("passw", "en")
    assert [h.title for h in hits] == ["Reset your password", "Billing cycles"]
    assert all(h.url.startswith("http://") and h.url.endswith(f"/kb/{h.slug}") for h in hits)
    assert "password" in hits[1].excerpt.lower()
    assert search_articles("reset pass", "en")[0].title == "Reset your password"
    assert search_articles("", "en") == [] and search_articles("zzzz", "en") == []


def test_search_falls_back_to_english_when_the_language_has_no_translation(write):
    both = write("Reset your password", "Follow the reset link.")
    write("Réinitialiser votre mot de passe", "Suivez le lien de réinitialisation.", language="fr",
          article=both.article)
    damaged = write("Damaged parcel", "Send us photos of the damaged parcel.")
    french = search_articles("reset", "fr")
    assert french == []  # the French reader finds the French text, not the English one
    assert [h.title for h in search_articles("réinit", "fr")] == ["Réinitialiser votre mot de passe"]
    assert [(h.title, h.language) for h in search_articles("damaged", "fr")] == [("Damaged parcel", "en")]
    assert [h.title for h in search_articles("reinitialiser", "fr_CA")] in (
        ["Réinitialiser votre mot de passe"], [])  # PostgreSQL's 'simple' config keeps accents
    # A French draft does not hide the published English text.
    write("Colis endommagé", "Brouillon", language="fr", state="draft", article=damaged.article)
    assert [h.language for h in search_articles("damaged", "fr")] == ["en"]


def test_unpublishing_and_deleting_take_articles_out_of_search(write):
    translation = write("Export orders to CSV", "Use the export button.")
    assert search_articles("export", "en")
    service.set_state(translation, "draft")
    db.session.commit()
    assert search_articles("export", "en") == []
    service.set_state(translation, "published")
    db.session.commit()
    service.delete_article(translation.article)
    db.session.commit()
    assert search_articles("export", "en") == []


def test_popular_articles_prefer_viewed_and_helpful(write):
    quiet = write("Quiet article")
    loud = write("Loud article")
    write("Hidden article", state="draft")
    loud.article.view_count = 50
    db.session.commit()
    assert [h.title for h in popular_articles("en", 5)] == ["Loud article", "Quiet article"]
    quiet.article.helpful_yes = 20
    db.session.commit()
    assert popular_articles("fr", 1)[0].title == "Quiet article"


def test_suggest_returns_json_items(client, write):
    translation = write("Reset your password", "Choose Forgot password.")
    body = client.get("/kb/suggest?q=pass").get_json()
    assert body == {"items": [{"id": translation.article_id, "title": "Reset your password",
                               "url": f"http://127.0.0.1:5000/kb/{translation.slug}",
                               "excerpt": "Choose Forgot password."}]}
    assert client.get("/kb/suggest?q=p").get_json() == {"items": []}
    assert client.get("/kb/suggest").get_json() == {"items": []}


def test_suggest_is_rate_limited_per_ip(client, write):
    codes = [client.get("/kb/suggest?q=abc").status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429
    assert client.get("/kb/suggest?q=abc").get_json()["error"]["code"] == "rate_limited"


def test_search_page_escapes_the_query(client, write):
    write("Reset your password")
    page = client.get("/kb/search?q=<script>alert(1)</script>password").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


# Readers: views, votes, related, files ------------------------------------------------------------------------------


def test_views_count_once_per_session(app, client, write):
    translation = write("Reset your password")
    for _ in range(3):
        assert client.get(f"/kb/{translation.slug}").status_code == 200
    app.test_client().get(f"/kb/{translation.slug}")
    db.session.expire_all()
    assert db.session.get(Article, translation.article_id).view_count == 2


def test_helpful_votes_count_once_per_browser(app, client, write):
    translation = write("Reset your password")
    first = client.post(f"/kb/{translation.slug}/vote", data={"helpful": "yes"})
    assert first.status_code == 302 and "kb_votes=" in first.headers["Set-Cookie"]
    client.post(f"/kb/{translation.slug}/vote", data={"helpful": "no"})
    app.test_client().post(f"/kb/{translation.slug}/vote", data={"helpful": "no"})
    assert client.post(f"/kb/{translation.slug}/vote", data={"helpful": "maybe"}).status_code == 400
    db.session.expire_all()
    article = db.session.get(Article, translation.article_id)
    assert (article.helpful_yes, article.helpful_no) == (1, 1)
    assert "Thanks for your feedback" in client.get(f"/kb/{translation.slug}").get_data(as_text=True)


def test_related_articles_explicit_then_same_category(client, write, category):
    main = write("Reset your password")
    sibling = write("Two-factor codes")
    other_category = service.save_category("Billing")
    chosen = write("Understanding your invoice", in_category=other_category)
    draft = write("Unpublished neighbour", state="draft")
    page = client.get(f"/kb/{main.slug}").get_data(as_text=True)
    assert "Two-factor codes" in page and "Understanding your invoice" not in page and draft.title not in page
    service.set_related(main.article, [chosen.article_id, main.article_id])
    db.session.commit()
    page = client.get(f"/kb/{main.slug}").get_data(as_text=True)
    assert "Understanding your invoice" in page and sibling.title not in page
    assert [a.id for a in main.article.related] == [chosen.article_id]


def test_attachment_downloads_as_attachment_with_nosniff(client, write):
    translation = write("Router manual")
    service.attach_file(translation.article, "../../manual <v2>.html", b"<script>alert(1)</script>", "text/html")
    db.session.commit()
    page = client.get(f"/kb/{translation.slug}").get_data(as_text=True)
    assert f"/kb/{translation.slug}/download" in page
    response = client.get(f"/kb/{translation.slug}/download")
    assert response.status_code == 200 and response.data == b"<script>alert(1)</script>"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/octet-stream"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    no_file = write("No manual here")
    assert client.get(f"/kb/{no_file.slug}/download").status_code == 404


def test_pdf_manual_keeps_its_type(client, write):
    translation = write("Printer guide")
    service.attach_file(translation.article, "guide.pdf", b"%PDF-1.4 fake", "application/pdf")
    db.session.commit()
    response = client.get(f"/kb/{translation.slug}/download")
    assert response.mimetype == "application/pdf" and 'filename=guide.pdf' in response.headers["Content-Disposition"]


# Console ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/kb/", "/console/kb/new", "/console/kb/categories", "/console/kb/1/en"])
def test_console_pages_send_strangers_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_lookup_is_for_agents_only(client, agent, write):
    translation = write("Reset your password")
    assert client.get("/console/kb/lookup?q=reset").status_code == 401
    sign_in(client, agent)
    items = client.get("/console/kb/lookup?q=reset").get_json()["items"]
    assert items == [{"id": translation.article_id, "title": "Reset your password", "language": "en",
                      "url": f"http://127.0.0.1:5000/kb/{translation.slug}", "excerpt": "Some helpful text."}]


def test_console_category_crud_with_messages_beside_fields(client, agent):
    sign_in(client, agent)
    assert "Add a category first" in client.get("/console/kb/new", follow_redirects=True).get_data(as_text=True)
    empty = client.post("/console/kb/categories", data={"name": ""})
    assert empty.status_code == 400 and 'id="name-error"' in empty.get_data(as_text=True)
    assert client.post("/console/kb/categories", data={"name": "Billing", "position": "1"}).status_code == 302
    twice = client.post("/console/kb/categories", data={"name": "billing"})
    assert twice.status_code == 400 and "already a category called" in twice.get_data(as_text=True)
    from helpdesk.models.kb import Category

    row = db.session.scalar(select(Category))
    assert row.slug == "billing"
    renamed = client.post(f"/console/kb/categories/{row.id}", data={"name": "Invoices", "slug": "invoices"})
    assert renamed.status_code == 302
    db.session.expire_all()
    assert db.session.get(Category, row.id).name == "Invoices"
    assert client.post(f"/console/kb/categories/{row.id}/delete").status_code == 302
    assert db.session.scalar(select(Category)) is None


def test_console_article_lifecycle(app, client, agent, category):
    sign_in(client, agent)
    missing = client.post("/console/kb/new", data={"category": category.id, "language": "en", "title": "",
                                                   "body": "", "state": "draft"})
    text = missing.get_data(as_text=True)
    assert missing.status_code == 400 and 'id="title-error"' in text and 'id="body-error"' in text
    created = client.post("/console/kb/new", data={"category": category.id, "language": "en", "position": "0",
                                                   "title": "Reset your password", "body": "Use the **link**.",
                                                   "state": "draft"})
    assert created.status_code == 302
    article = db.session.scalar(select(Article))
    translation = article.translation("en")
    assert translation.slug == "reset-your-password" and translation.state == "draft"
    assert client.get("/kb/reset-your-password").status_code == 200  # the agent previews the draft

    bad_slug = client.post(f"/console/kb/{article.id}/fr", data={"title": "Réinitialiser", "body": "Texte",
                                                                  "slug": "Pas Bon", "state": "draft"})
    assert bad_slug.status_code == 400 and 'id="slug-error"' in bad_slug.get_data(as_text=True)
    taken = client.post(f"/console/kb/{article.id}/fr", data={"title": "Réinitialiser", "body": "Texte",
                                                               "slug": "reset-your-password", "state": "draft"})
    assert "already uses the address" in taken.get_data(as_text=True)
    french = client.post(f"/console/kb/{article.id}/fr", data={"title": "Réinitialiser le mot de passe",
                                                                "body": "Suivez le lien.", "state": "published"})
    assert french.status_code == 302
    db.session.expire_all()
    assert article.translation("fr").slug == "reinitialiser-le-mot-de-passe"

    assert client.post(f"/console/kb/{article.id}/en/state", data={"state": "published"}).status_code == 302
    db.session.expire_all()
    assert article.translation("en").published and search_articles("link", "en")

    listing = client.get("/console/kb/").get_data(as_text=True)
    assert "Reset your password" in listing and "EN published" in listing and "FR published" in listing

    assert client.post(f"/console/kb/{article.id}/file", data={"file-file": (__import__("io").BytesIO(b"PDF"),
                                                               "manual.pdf", "application/pdf")},
                       content_type="multipart/form-data").status_code == 302
    db.session.expire_all()
    assert article.attachment_filename == "manual.pdf" and article.attachment_size == 3

    other = service.create_article(category)
    service.save_translation(other, "en", "Two-factor codes", "Codes by SMS.", state="published")
    db.session.commit()
    chosen = client.post(f"/console/kb/{article.id}/related", data={"related-related": [str(other.id)]})
    assert chosen.status_code == 302
    db.session.expire_all()
    assert [a.id for a in article.related] == [other.id]

    assert client.post(f"/console/kb/{article.id}/en/state", data={"state": "draft"}).status_code == 302
    db.session.expire_all()
    assert article.translation("en").state == "draft"
    g.pop("_login_user", None)  # the test app context outlives requests; forget the signed-in agent
    assert app.test_client().get("/kb/reset-your-password").status_code == 404
    sign_in(client, agent)
    assert client.post(f"/console/kb/{article.id}/fr/delete").status_code == 302
    assert client.post(f"/console/kb/{article.id}/en/delete").status_code == 302
    assert db.session.get(Article, article.id) is None


def test_ticket_page_offers_the_article_lookup(client, agent, make_ticket):
    ticket = make_ticket(subject="Cannot sign in")
    sign_in(client, agent)
    page = client.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)
    assert 'data-kb-lookup="/console/kb/lookup"' in page and "js/kb-insert.js" in page
    assert 'href="/console/kb/"' in page  # the console's navigation


def test_demo_articles_seed_once(app):
    from helpdesk.kb.demo import seed_kb_demo

    assert "articles" in seed_kb_demo()
    db.session.commit()
    assert "nothing added" in seed_kb_demo()
    assert search_articles("facture", "fr")[0].language == "fr"
    assert search_articles("damaged", "fr")[0].language == "en"
