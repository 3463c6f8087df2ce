from digis.errors import InvalidInput, NotFound


class UnknownTarget(NotFound):
    code = "report_target_not_found"
    default_message = "There is nothing to report there."


class InvalidReport(InvalidInput):
    code = "invalid_report"
    default_message = "Pick a reason for the report."
