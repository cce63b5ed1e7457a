"""Admin pages for SLA policies and the business calendar."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from helpdesk.auth import admin_required
from helpdesk.console import bp
from helpdesk.console.forms import ConfirmForm
from helpdesk.console.sla_forms import (
    DURATION_HINT,
    CalendarForm,
    ClosureForm,
    PolicyForm,
    format_duration,
    parse_duration,
)
from helpdesk.extensions import db
from helpdesk.models import Closure, SlaPolicy
from helpdesk.models.base import utcnow
from helpdesk.sla import policies, settings
from helpdesk.sla.hours import DAYS, parse_hours
from helpdesk.sla.policies import PolicyError

TARGET_FIELDS = ("first_response", "next_response", "resolution")
#: Where a service error about a field shows on the form.
_POLICY_FIELD = {"match": "match_priority", "policy": "name", "position": "name",
                 **{f"{t}_minutes": t for t in TARGET_FIELDS}}


def _day_minutes(business: bool) -> int:
    return policies.minutes_per_business_day(policies.business_calendar()) if business else 24 * 60


def _fill_form(form: PolicyForm, policy: SlaPolicy) -> None:
    form.name.data = policy.name
    form.match_priority.data = policy.match_priority or ""
    form.match_channel.data = policy.match_channel or ""
    form.match_vip.data = "" if policy.match_vip is None else ("yes" if policy.match_vip else "no")
    form.business_hours.data = "business" if policy.business_hours else "always"
    form.escalation.data = policy.escalation
    day = _day_minutes(policy.business_hours)
    for target in TARGET_FIELDS:
        getattr(form, target).data = format_duration(policy.minutes_for(target), day)


def _policy_values(form: PolicyForm) -> dict | None:
    """Return the service's arguments from a submitted form, or None with errors beside the fields."""
    business = form.business_hours.data == "business"
    day = _day_minutes(business)
    values = {
        "name": form.name.data,
        "match": {"priority": form.match_priority.data or None, "channel": form.match_channel.data or None,
                  "vip": {"yes": True, "no": False}.get(form.match_vip.data)},
        "business_hours": business,
        "escalation": form.escalation.data,
    }
    ok = True
    for target in TARGET_FIELDS:
        field = getattr(form, target)
        try:
            values[f"{target}_minutes"] = parse_duration(field.data, day)
        except ValueError as exc:
            field.errors = [*field.errors, str(exc)]
            ok = False
    return values if ok else None


def _refuse(form, exc: Exception, field: str | None, fallback: str = "name") -> None:
    db.session.rollback()
    target = getattr(form, _POLICY_FIELD.get(field or "", field or ""), None) or getattr(form, fallback)
    target.errors = [*target.errors, str(exc)]




@bp.route("/admin/sla", methods=["GET", "POST"])
@admin_required
def admin_sla():
    """List the SLA policies in match order and add one."""
    form = PolicyForm()
    if form.validate_on_submit():
        values = _policy_values(form)
        if values is not None:
            try:
                policy = policies.create_policy(**values)
            except PolicyError as exc:
                _refuse(form, exc, exc.field)
            else:
                db.session.commit()
                flash(f"Policy {policy.name} added, just before the catch-all default.")
                return redirect(url_for("console.admin_sla"))
    rows = policies.ordered()
    db.session.commit()  # ordered() creates the defaults on a new desk
    days = {True: _day_minutes(True), False: 24 * 60}
    return render_template("console/admin/sla.html", form=form, policies=rows, days=days, hint=DURATION_HINT,
                           targets=TARGET_FIELDS, format_duration=format_duration,
                           confirm=ConfirmForm()), 400 if form.errors else 200


@bp.route("/admin/sla/<int:policy_id>", methods=["GET", "POST"])
@admin_required
def admin_sla_policy(policy_id: int):
    """Edit an SLA policy."""
    policy = db.get_or_404(SlaPolicy, policy_id)
    form = PolicyForm()
    if not form.is_submitted():
        _fill_form(form, policy)
    if form.validate_on_submit():
        values = _policy_values(form)
        if values is not None:
            try:
                settings.update_policy(policy, **values)
            except PolicyError as exc:
                _refuse(form, exc, exc.field)
            else:
                db.session.commit()
                flash(f"Policy {policy.name} saved; tickets opened from now on get its targets.")
                return redirect(url_for("console.admin_sla"))
    return render_template("console/admin/sla_policy.html", form=form, policy=policy, hint=DURATION_HINT,
                           confirm=ConfirmForm()), 400 if form.errors else 200


@bp.post("/admin/sla/<int:policy_id>/delete")
@admin_required
def admin_sla_delete(policy_id: int):
    """Delete an SLA policy."""
    policy = db.get_or_404(SlaPolicy, policy_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        settings.delete_policy(policy)
    except PolicyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"Policy {policy.name} deleted.")
    return redirect(url_for("console.admin_sla"))


@bp.post("/admin/sla/<int:policy_id>/move")
@admin_required
def admin_sla_move(policy_id: int):
    """Move a policy up or down the match order."""
    policy = db.get_or_404(SlaPolicy, policy_id)
    if not ConfirmForm().validate_on_submit() or request.form.get("direction") not in ("up", "down"):
        abort(400)
    settings.move_policy(policy, -1 if request.form["direction"] == "up" else 1)
    db.session.commit()
    return redirect(url_for("console.admin_sla"))


# The business calendar -------------------------------------------------------------------------------------------


def _weekly_table(hours_text: str) -> list[tuple[str, list[str]]]:
    """Return (day, ["09:00–17:00", ...]) for each weekday of ``hours_text``."""
    hours = parse_hours(hours_text)
    if hours.always_open:
        return [(day.title(), ["00:00–24:00"]) for day in DAYS]

    def hhmm(minutes: int) -> str:
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}" if minutes != 1440 else "24:00"

    return [(day.title(), [f"{hhmm(p.start)}–{hhmm(p.end)}" + (" (next day)" if p.end > 1440 else "")
                           for p in hours.periods if p.weekday == index])
            for index, day in enumerate(DAYS)]


def _calendar_page(form: CalendarForm, closure_form: ClosureForm, fill: bool):
    hours, timezone, holidays = policies.calendar_settings()
    if fill:
        form.timezone.data, form.hours.data, form.holidays.data = timezone, hours, holidays
    now = utcnow()
    calendar = policies.business_calendar()
    local = settings.local_now(now)
    status = 400 if form.errors or closure_form.errors else 200
    return render_template(
        "console/admin/calendar.html", form=form, closure_form=closure_form, weekly=_weekly_table(hours),
        parsed=str(parse_hours(hours)), timezone=timezone, holidays=holidays,
        is_open=calendar.is_open(now), local=local, upcoming=settings.upcoming_closed_days(local.date()),
        closures=db.session.scalars(select(Closure).order_by(Closure.first_day)).all(), confirm=ConfirmForm(),
    ), status


@bp.route("/admin/calendar", methods=["GET", "POST"])
@admin_required
def admin_calendar():
    """Show and edit the business calendar: zone, weekly hours, holidays."""
    form = CalendarForm()
    if form.validate_on_submit():
        try:
            settings.save_calendar(form.timezone.data, form.hours.data, form.holidays.data)
        except settings.SettingsError as exc:
            _refuse(form, exc, exc.field, "hours")
        else:
            db.session.commit()
            flash("Business calendar saved; new due times count in it.")
            return redirect(url_for("console.admin_calendar"))
    return _calendar_page(form, ClosureForm(formdata=None), fill=not form.is_submitted())


@bp.post("/admin/calendar/closures")
@admin_required
def admin_closure_add():
    """Close the desk on a range of days."""
    closure_form = ClosureForm()
    if closure_form.validate_on_submit():
        try:
            settings.add_closure(closure_form.first_day.data, closure_form.last_day.data, closure_form.reason.data)
        except settings.SettingsError as exc:
            _refuse(closure_form, exc, exc.field, "first_day")
        else:
            db.session.commit()
            flash("Closure added.")
            return redirect(url_for("console.admin_calendar"))
    return _calendar_page(CalendarForm(formdata=None), closure_form, fill=True)


@bp.post("/admin/calendar/closures/<int:closure_id>/delete")
@admin_required
def admin_closure_delete(closure_id: int):
    """Remove a closure."""
    closure = db.get_or_404(Closure, closure_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    settings.delete_closure(closure)
    db.session.commit()
    flash("Closure removed.")
    return redirect(url_for("console.admin_calendar"))
