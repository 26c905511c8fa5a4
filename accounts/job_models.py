"""Bulk jobs run on Celery (wrapping weak hashes, importing users) and their batches."""

from __future__ import annotations

from django.db import models


class Job(models.Model):
    """One bulk job: its progress is the sum of its finished batches."""

    class Kind(models.TextChoices):
        WRAP = "wrap", "wrap weak hashes"
        IMPORT = "import", "import users"

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    UNFINISHED = (State.PENDING, State.RUNNING)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    total = models.PositiveBigIntegerField(default=0)
    done = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    started_by = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Kind-specific settings (import: conflict policy, id boundary); never a secret.
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def progress(self) -> float:
        """Fraction of items handled, done or failed (1.0 for an empty job)."""
        return (self.done + self.failed) / self.total if self.total else 1.0


class JobBatch(models.Model):
    """A unit of work a task handles in one transaction: user ids, or staged import lines."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    user_ids = models.JSONField(default=list, blank=True)
    # Import staging: the raw lines and the number of the first; emptied once handled.
    first_line = models.PositiveBigIntegerField(default=0)
    lines = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    finished = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="accounts_jobbatch_unique_number")]
        indexes = [models.Index(fields=["job", "finished"])]

    def __str__(self) -> str:
        return f"batch {self.number} of job {self.job_id}"
