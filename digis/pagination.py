"""Cursor pagination that refuses bad input instead of guessing.

DRF's CursorPagination quietly clamps a page_size above the maximum (and
ignores a negative one) and answers 404 to a cursor it cannot read. The
schema documents the bounds, so out-of-bounds is a 400 with a code, and a
malformed cursor is a 400 ``invalid_cursor`` as on Explore.
"""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from digis.errors import InvalidInput
from digis.params import parse_int


class StrictCursorPagination(CursorPagination):
    page_size_query_param = "page_size"

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, **({"maximum": self.max_page_size} if self.max_page_size else {}))
        return parameters

    def get_page_size(self, request):
        return parse_int(
            request.query_params.get(self.page_size_query_param), name=self.page_size_query_param,
            default=self.page_size, minimum=1, maximum=self.max_page_size,
        )

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise InvalidInput("That cursor is not from this list.", fields={"cursor": ["Not a cursor from this list."]},
                               code="invalid_cursor")
