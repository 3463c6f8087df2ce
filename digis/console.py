"""The staff console's gate: a page or endpoint that answers 404, not 403, to
anyone without its permission (signed out included), so the console does not
reveal that it exists.

Who sees what (permissions, given through groups; superusers have all):
- ``analytics.view_dashboard`` (the ``staff`` group): the dashboard at /staff/;
- ``moderation.moderate_report`` (the ``moderators`` group): the reports queue.
"""

import functools

from django.http import Http404
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView


def has_console_permission(user, permission: str) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.has_perm(permission))


def console_page(permission: str):
    """Decorate a page view: 404 unless the user holds ``permission``."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has_console_permission(request.user, permission):
                raise Http404("Not found.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


class _HasConsolePermission(BasePermission):
    def has_permission(self, request, view):
        if not has_console_permission(request.user, view.required_permission):
            raise exceptions.NotFound()
        return True


class ConsoleAPIView(APIView):
    """An API view of the console. A bad token, no token or no permission: 404."""

    required_permission = ""
    permission_classes = [_HasConsolePermission]

    def perform_authentication(self, request):
        try:
            request.user  # noqa: B018 - authenticates
        except exceptions.AuthenticationFailed:
            raise exceptions.NotFound()
