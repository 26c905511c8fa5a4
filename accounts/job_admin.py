"""Staff page for bulk jobs: progress at a glance, read-only apart from cancelling."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import jobs
from accounts.job_models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "progress_bar", "done", "failed", "total", "started_by", "started_at",
                    "finished_at")
    list_filter = ("kind", "state")
    ordering = ("-created_at",)
    fields = ("kind", "state", "progress_bar", "total", "done", "failed", "started_by", "created_at", "started_at",
              "finished_at", "last_error")
    readonly_fields = fields
    actions = ["cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        return f"{100 * job.progress:.1f} %"

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        # The page itself is read-only (no change permission), so cancelling has its own check.
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('change', self.opts)}")

    @admin.action(description="Cancel the selected jobs (batches not started yet will not run)",
                  permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        count = jobs.cancel(queryset.values_list("pk", flat=True))
        self.message_user(request, f"Cancelled {count} job(s).", messages.SUCCESS)
