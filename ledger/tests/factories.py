"""Ledger test helpers: fund wallets through the real services."""

import itertools

from ledger.services import credit_purchase

_keys = itertools.count(1)


def fund(user, tokens: int):
    """Give `user` tokens as a card purchase would (the one real path into a wallet)."""
    return credit_purchase(user=user, tokens=tokens, idempotency_key=f"test-fund:{user.pk}:{next(_keys)}", reference="test")
