"""`{% staff_dashboard %}`: the counts on the admin index."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone

from accounts import attempts, inventory, jobs, lockouts, passwords
from accounts.job_models import Job
from tokens.models import Session

register = template.Library()


@register.inclusion_tag("admin/staff_dashboard.html")
def staff_dashboard() -> dict[str, object]:
    now = timezone.now()
    by_status = inventory.users_by_hash_status()
    return {
        "users_by_hash_status": [(status, status.replace("_", " "), by_status.get(status, 0))
                                 for status in passwords.HASH_STATUSES],
        "users_total": sum(by_status.values()),
        "active_sessions": Session.objects.filter(revoked_at__isnull=True, expires_at__gt=now).count(),
        "last_hour": attempts.failures_since(now - timedelta(hours=1)),
        "last_day": attempts.failures_since(now - timedelta(days=1)),
        "locked_now": len(lockouts.current()),
        "jobs_unfinished": Job.objects.filter(state__in=jobs.RESUMABLE).count(),
    }
