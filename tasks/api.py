"""Read-only REST API of scheduled jobs: next fire time, lateness, and each firing's timing."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_celery_beat.models import PeriodicTask
from drf_spectacular.utils import extend_schema
from rest_framework import pagination, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from tasks.models import APSchedulerJob, Firing
from tasks.scheduling.apscheduler_selectors import (
    apscheduler_configured,
    apscheduler_jobs,
    owned_job_names,
)
from tasks.selectors import firings_with_timing, jobs_of_owner, jobs_with_lateness
from tasks.serializers import APSchedulerJobSerializer, FiringSerializer, JobSerializer


class FiringPagination(pagination.CursorPagination):
    ordering = ("-scheduled_tick", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Scheduled jobs of the configured backend (staff: all of them; others: their strategies'
    jobs), with how late each job's latest firing was published and its run started.
    `firings` lists a job's firings."""

    serializer_class = JobSerializer
    permission_classes = [permissions.IsAuthenticated]
    queryset = PeriodicTask.objects.none()  # for the schema; get_queryset scopes the real one

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return PeriodicTask.objects.none()
        user = self.request.user
        owner = None if user.is_staff else user.pk
        if apscheduler_configured():
            jobs = APSchedulerJob.objects.all()
            if owner is not None:
                jobs = jobs.filter(id__in=owned_job_names(owner_id=owner))
            return apscheduler_jobs(jobs).order_by("id")
        jobs = PeriodicTask.objects.all() if owner is None else jobs_of_owner(owner_id=owner)
        return jobs_with_lateness(jobs).order_by("name")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if apscheduler_configured() and not getattr(self, "swagger_fake_view", False):
            return APSchedulerJobSerializer
        return JobSerializer

    @extend_schema(responses=FiringSerializer(many=True))
    @action(detail=True, pagination_class=FiringPagination)
    def firings(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        job = self.get_object()
        name = job.id if isinstance(job, APSchedulerJob) else job.name
        firings = firings_with_timing(Firing.objects.filter(job_name=name))
        page = self.paginate_queryset(firings)
        return self.get_paginated_response(FiringSerializer(page, many=True).data)
