from digis.errors import Conflict, DomainError, InvalidInput, NotFound


class UnknownTarget(NotFound):
    code = "report_target_not_found"
    default_message = "There is nothing to report there."


class InvalidReport(InvalidInput):
    code = "invalid_report"
    default_message = "Pick a reason for the report."


class ReportRateLimited(DomainError):
    code = "report_rate_limited"
    status_code = 429
    default_message = "You have sent a lot of reports in the last hour. Try again later."


class ReportNotFound(NotFound):
    # Also what someone who may not moderate gets: the console does not reveal itself.
    code = "report_not_found"
    default_message = "No such report."


class InvalidAction(InvalidInput):
    code = "invalid_moderation_action"
    default_message = "That is not something a moderator can do to a report."


class ActionNotAvailable(Conflict):
    code = "action_not_available"
    default_message = "That action is not possible for this report."


class ReportTaken(Conflict):
    code = "report_taken"
    default_message = "Another moderator is working on this report."
