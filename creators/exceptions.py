"""Creators' domain errors. Codes are stable: clients switch on them."""

from digis.errors import DomainError, Forbidden, InvalidInput, NotFound


class TooManyCategories(InvalidInput):
    code = "too_many_categories"
    default_message = "Pick at most 5 categories."


class UnknownCategory(InvalidInput):
    code = "unknown_category"
    default_message = "There is no such category."


class InvalidCursor(InvalidInput):
    code = "invalid_cursor"
    default_message = "The cursor is not valid; start again from the first page."


class InvalidSort(InvalidInput):
    code = "invalid_sort"
    default_message = "Sort by popular, new or online."


class CreatorNotFound(NotFound):
    code = "creator_not_found"
    default_message = "No such creator."


class NotACreator(Forbidden):
    code = "not_a_creator"
    default_message = "Only creators have a creator profile."


class CannotFollowSelf(InvalidInput):
    code = "cannot_follow_self"
    default_message = "You cannot follow yourself."


__all__ = [
    "DomainError",
    "TooManyCategories",
    "UnknownCategory",
    "InvalidCursor",
    "InvalidSort",
    "CreatorNotFound",
    "NotACreator",
    "CannotFollowSelf",
]
