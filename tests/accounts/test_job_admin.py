"""The bulk jobs page (accounts/job_admin.py): only staff allowed to change jobs may cancel them."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.job_models import Job
from tests.support.admin import action, staff, try_action, viewer  # noqa: F401

pytestmark = pytest.mark.django_db


def test_staff_who_may_only_view_cannot_cancel_a_job(viewer: Client) -> None:
    job = Job.objects.create(kind=Job.Kind.WRAP, started_by="ops")
    try_action(viewer, "/admin/accounts/job/", "cancel", [job.pk])
    job.refresh_from_db()
    assert job.state == Job.State.PENDING


def test_a_superuser_cancels_a_job(staff: Client) -> None:
    job = Job.objects.create(kind=Job.Kind.WRAP, started_by="ops")
    action(staff, "/admin/accounts/job/", "cancel", [job.pk])
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
