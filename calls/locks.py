"""The only place call rows are locked.

A call's row lock serialises everything that advances it (hang-ups from both
sides, heartbeats, the sweeper). Ledger rows are locked by the ledger, always
after the call row, never before: no lock cycle.
"""

from calls.models import CallSession


def lock_call(call_id) -> CallSession:
    return CallSession.objects.select_for_update(of=("self",), no_key=True).select_related("fan", "creator").get(pk=call_id)
