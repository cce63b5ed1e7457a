"""The agents' knowledge base categories and the Markdown preview."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.kb import console_bp as bp
from helpdesk.kb import service
from helpdesk.kb.console import refuse
from helpdesk.kb.forms import CategoryForm
from helpdesk.kb.render import render_markdown
from helpdesk.models.kb import Category


@bp.route("/categories", methods=["GET", "POST"])
def categories():
    """List categories and add one."""
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            category = service.save_category(form.name.data, form.slug.data or "", form.position.data or 0)
        except service.KbError as exc:
            refuse(form, exc, "name")
        else:
            db.session.commit()
            flash(f"Category {category.name} added.")
            return redirect(url_for("kb_console.categories"))
    rows = db.session.scalars(select(Category).order_by(Category.position, Category.name)).all()
    status = 400 if form.errors else 200
    return render_template("kb/console/categories.html", form=form, rows=rows), status


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
def category(category_id: int):
    """Rename or reorder a category."""
    row = db.get_or_404(Category, category_id)
    form = CategoryForm(obj=row)
    if form.validate_on_submit():
        try:
            service.save_category(form.name.data, form.slug.data or "", form.position.data or 0, category=row)
        except service.KbError as exc:
            refuse(form, exc, "name")
        else:
            db.session.commit()
            flash(f"Category {row.name} saved.")
            return redirect(url_for("kb_console.categories"))
    status = 400 if form.errors else 200
    return render_template("kb/console/category.html", form=form, row=row), status


@bp.post("/categories/<int:category_id>/delete")
def delete_category(category_id: int):
    """Delete an empty category."""
    row = db.get_or_404(Category, category_id)
    try:
        service.delete_category(row)
    except service.KbError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"Category {row.name} deleted.")
    return redirect(url_for("kb_console.categories"))


@bp.post("/preview")
def preview():
    """Return the Markdown in the request rendered and sanitised, as customers will see it."""
    source = request.form.get("body", "")[:200_000]
    return jsonify({"html": render_markdown(source)})
