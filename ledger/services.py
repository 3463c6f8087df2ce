"""Every write to the ledger goes through this module (and nothing else).

Guarantees shared by every money-moving function here:

- Atomic: one database transaction (a savepoint when the caller already has
  one open, so calls/payments can charge inside their own transaction).
- Idempotent under ``idempotency_key``: the key is UNIQUE in the database. The
  same key with the same arguments returns the first Transaction and writes
  nothing; the same key with different arguments raises IdempotencyConflict.
  A racing duplicate blocks on the unique index, fails, and gets the winner.
- Safe under concurrency: accounts whose balance has a limit (wallets,
  receivables) are locked in primary-key order (ledger.locks) and checked
  after the lock. Pending earnings are credited by INSERT only, system
  accounts by a single atomic UPDATE (the platform fee account is sharded),
  so many payers to one creator do not queue on one row.
- No network I/O inside: callers put side effects in transaction.on_commit.

Entries of a transaction sum to zero: checked here for a clear error, then in
PostgreSQL by ledger_post() for its own legs, or by the deferred triggers at
commit for rows written by the Python path (migration 0005).

Two ways to write, one set of guarantees. On PostgreSQL the hot writes
(transfer, charge_with_fee, credit_purchase) call the server-side function
`ledger_post()` (migration 0003): one round trip that resolves, locks, checks
and writes exactly as the Python path below does, bound by the same database
backstops. Everything else, and everything on SQLite, takes the Python path
(`_post`). settings.LEDGER_POST_IN_DATABASE switches the first off; the suite
runs the ledger's tests through both.
"""

import hashlib
import json
import re
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum

from digis.db import fetch_prepared
from digis.errors import InvalidInput
from ledger.exceptions import (
    AlreadyReversed,
    AlreadySettled,
    ExceedsPayable,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransfer,
    NotReversible,
    PayoutClosed,
    RefundExceedsCharge,
    UnbalancedTransaction,
    WalletFrozen,
)
from ledger.locks import lock_accounts
from ledger.models import Account, AccountKind, Entry, SystemAccount, Transaction, TransactionKind

# Balances with a limit (wallet >= 0, receivable <= 0) are changed only under
# the row lock; everything else is credited without one.
LOCKED_KINDS = (AccountKind.WALLET, AccountKind.RECEIVABLE)
CHARGE_KINDS = (TransactionKind.CALL_CHARGE, TransactionKind.MESSAGE_CHARGE, TransactionKind.TIP)
CLAWBACK_KINDS = (TransactionKind.REFUND, TransactionKind.CHARGEBACK)
REFUND_KINDS = (TransactionKind.REFUND, TransactionKind.CALL_REFUND)
MAX_TOKENS = 10**15


class _NothingToPost(Exception):
    """Raised inside a plan when there turns out to be nothing to move."""


# --- accounts -----------------------------------------------------------------


def _user_account(user, kind: str) -> Account:
    account, _ = Account.objects.get_or_create(user_id=user.pk, kind=kind)
    return account


def open_wallet(*, user) -> Account:
    """The user's wallet, created if missing. Idempotent and race-safe (unique per user)."""
    return _user_account(user, AccountKind.WALLET)


def open_earnings_account(*, user) -> Account:
    """The creator's pending-earnings account, created if missing."""
    return _user_account(user, AccountKind.EARNINGS)


def system_account(code: str, *, shard: int = 0) -> Account:
    """A system account (stripe_clearing, platform_fee, payouts_clearing, refunds, promotions)."""
    if code not in SystemAccount.values:
        raise InvalidTransfer(f"Unknown system account {code!r}.")
    account, _ = Account.objects.get_or_create(kind=AccountKind.SYSTEM, system_code=code, shard=shard)
    return account


def fee_shard_for(idempotency_key: str) -> int:
    """Which shard of a hot system account (platform fee, Stripe clearing) a
    transaction touches: a stable hash of its key, so concurrent charges and
    purchases update different rows instead of queueing on one."""
    shards = max(1, int(getattr(settings, "LEDGER_FEE_SHARDS", 64)))
    return zlib.crc32(idempotency_key.encode()) % shards


def balance_of(*, user) -> int:
    """The user's spendable wallet balance, exact (read from the database, no cache)."""
    balance = Account.objects.filter(user_id=user.pk, kind=AccountKind.WALLET).values_list("balance", flat=True).first()
    return int(balance or 0)


# --- validation and idempotency ---------------------------------------------


def _check_amount(amount, *, name: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0 or amount > MAX_TOKENS:
        raise InvalidAmount(fields={name: ["Must be a positive whole number of tokens."]})
    return amount


def _check_key(key) -> str:
    if not isinstance(key, str) or not key or len(key) > 200:
        raise InvalidInput(
            "An idempotency key (1-200 characters) is required.",
            fields={"idempotency_key": ["Required, at most 200 characters."]},
            code="invalid_idempotency_key",
        )
    return key


_TRANSACTION_KINDS = frozenset(TransactionKind.values)  # .values builds a new list on every access


def _check_kind(kind) -> str:
    if kind not in _TRANSACTION_KINDS:
        raise InvalidInput(f"Unknown transaction kind {kind!r}.", fields={"kind": ["Unknown kind."]}, code="invalid_kind")
    return kind


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, separators=(",", ":")).encode()).hexdigest()


def _replay(idempotency_key: str, fingerprint: str) -> Transaction | None:
    existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None and existing.fingerprint != fingerprint:
        raise IdempotencyConflict(idempotency_key=idempotency_key, transaction_id=existing.pk)
    return existing


def _as_transaction(original) -> Transaction:
    if isinstance(original, Transaction):
        return original
    try:
        return Transaction.objects.get(pk=int(original))
    except (Transaction.DoesNotExist, TypeError, ValueError):
        raise InvalidTransfer("No such ledger transaction.", code="transaction_not_found")


# --- the one writer -------------------------------------------------------------


def _post(
    *,
    kind: str,
    idempotency_key: str,
    fingerprint: str,
    plan: Callable[[], list[tuple[Account, int]]],
    reference: str = "",
    memo: str = "",
    original: Transaction | None = None,
    reversal_of: Transaction | None = None,
) -> Transaction:
    """Insert the transaction, run `plan` (which locks and returns legs), write entries.

    The Transaction row is inserted first: a concurrent duplicate of the key
    waits on the unique index *before* taking any account lock, then fails
    and returns the winner.
    """
    try:
        with transaction.atomic():
            tx = Transaction.objects.create(
                kind=kind,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                reference=reference[:200],
                memo=memo[:500],
                original=original,
                reversal_of=reversal_of,
            )
            _write_entries(tx, plan())
            tx.created_now = True  # callers (audit) tell a first write from a replay
            return tx
    except IntegrityError:
        winner = _replay(idempotency_key, fingerprint)
        if winner is not None:
            return winner
        if reversal_of is not None and Transaction.objects.filter(reversal_of=reversal_of).exists():
            raise AlreadyReversed(transaction_id=reversal_of.pk)
        raise


def _write_entries(tx: Transaction, legs: list[tuple[Account, int]]) -> None:
    merged: dict[int, int] = defaultdict(int)
    accounts: dict[int, Account] = {}
    for account, amount in legs:
        merged[account.pk] += int(amount)
        # Prefer the locked instance: it carries the balance read under the lock.
        if getattr(account, "_ledger_locked", False) or account.pk not in accounts:
            accounts[account.pk] = account
    if sum(merged.values()) != 0:
        raise UnbalancedTransaction(f"Entries of {tx.kind} sum to {sum(merged.values())}, not 0.")
    moves = {pk: amount for pk, amount in merged.items() if amount != 0}
    if len(moves) < 2:
        raise UnbalancedTransaction("A ledger transaction needs at least two non-zero entries.")

    entries = []
    limited = []
    for pk in sorted(moves):
        account, amount = accounts[pk], moves[pk]
        balance_after = None
        if account.kind in LOCKED_KINDS:
            if not getattr(account, "_ledger_locked", False):
                raise RuntimeError(f"ledger bug: {account} changed without its lock")
            new_balance = account.balance + amount
            if account.kind == AccountKind.WALLET and new_balance < 0:
                raise InsufficientFunds(shortfall=-new_balance, balance=account.balance)
            if account.kind == AccountKind.RECEIVABLE and new_balance > 0:
                raise UnbalancedTransaction("A debt cannot be paid beyond zero.")
            account.balance = new_balance
            limited.append(account)
            if account.kind == AccountKind.WALLET:
                balance_after = new_balance
        elif account.kind == AccountKind.SYSTEM:
            # One atomic UPDATE, no SELECT ... FOR UPDATE: system balances have no floor.
            Account.objects.filter(pk=pk).update(balance=F("balance") + amount)
        # EARNINGS: the entry is the whole write (balance is summed from entries).
        entries.append(Entry(transaction=tx, account_id=pk, amount=amount, balance_after=balance_after))
    if limited:
        # Already locked and checked: one UPDATE ... CASE for all of them.
        Account.objects.bulk_update(limited, ["balance"])
    Entry.objects.bulk_create(entries)


def _locked(locked: dict[int, Account], account: Account) -> Account:
    return locked.get(account.pk, account)


def _ensure_not_frozen(wallet: Account) -> None:
    # `wallet` comes from lock_accounts(..., with_debt=True): claw_back and
    # credit_purchase change the debt only while holding this same wallet
    # lock, so the debt read with the lock cannot go stale.
    debt = -int(getattr(wallet, "receivable_balance", None) or 0)
    if debt > 0:
        raise WalletFrozen(debt=debt)


# --- the one writer, in the database -----------------------------------------------

# A leg for ledger_post(): (account id, user id, account kind, system code, shard, amount);
# the account id is None when the database should resolve (and create) it.
Leg = tuple[int | None, uuid.UUID | None, str, str, int, int]

_POST_SQL = (
    "SELECT status, tx_id, tx_created_at, tx_fingerprint, figure, balance FROM ledger_post("
    "%s, %s, %s, %s, %s, %s::bigint[], %s::uuid[], %s::text[], %s::text[], %s::integer[], %s::bigint[], %s, %s)"
)


_PLAIN_WORD = re.compile(r"[a-z_]*")


def _array_literal(values) -> str:
    """A PostgreSQL array literal of ints, UUIDs, None or plain enum words ([a-z_]).

    Formatted here because psycopg's generic list adaptation cost ~30 us per
    call for the six arrays, an eighth of a transfer's client CPU. Anything
    else is refused, so no value can need quoting beyond "".
    """
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif isinstance(value, int | uuid.UUID) and not isinstance(value, bool):
            items.append(str(value))
        elif isinstance(value, str) and _PLAIN_WORD.fullmatch(value):
            items.append(value or '""')
        else:
            raise ValueError(f"not an array element ledger_post() accepts: {value!r}")
    return "{" + ",".join(items) + "}"


def _call_ledger_post(params: list) -> tuple:
    """One call of ledger_post() as a server-side prepared statement: parsed and
    planned once per connection (digis.db.fetch_prepared); sent by Django's own
    cursors it was planned on every call (~5% of a transfer's server CPU, and
    the client's literal quoting ~20% of its CPU)."""
    return fetch_prepared(_POST_SQL, params)


def _post_in_database() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "LEDGER_POST_IN_DATABASE", True)


def _user_leg(user, kind: str, amount: int) -> Leg:
    return (None, user.pk, kind, "", 0, amount)


def _party_leg(party, amount: int) -> Leg:
    if isinstance(party, Account):
        # The owner too: a wallet's frozen check locks the owner's receivable.
        return (party.pk, party.user_id, party.kind, party.system_code, party.shard, amount)
    return _user_leg(party, AccountKind.WALLET, amount)


def _system_leg(code: str, shard: int, amount: int) -> Leg:
    return (None, None, AccountKind.SYSTEM, code, shard, amount)


def _post_legs(
    *, kind: str, idempotency_key: str, fingerprint: str, legs: list[Leg], reference: str = "", memo: str = "",
    frozen_leg: int = 0, settle_leg: int = 0,
) -> Transaction:
    """One call of ledger_post(): the same contract as `_post`, in one round trip.

    frozen_leg (1-based) names a wallet that may not spend while its owner
    owes a debt; settle_leg names a credited wallet whose owner's debt is paid
    first. Business refusals come back as a status, not an SQL error, so a
    caller's open transaction stays usable and no savepoint is needed.
    """
    # Zero legs (a 0% or 100% fee) stay in the call, so frozen_leg/settle_leg
    # keep pointing at the right leg; the function writes no entry for them.
    if sum(leg[5] for leg in legs) != 0 or sum(1 for leg in legs if leg[5] != 0) < 2:
        raise UnbalancedTransaction(f"Entries of {kind} must be at least two and sum to 0.")
    reference, memo = reference[:200], memo[:500]
    columns = [_array_literal(column) for column in zip(*legs)]
    status, tx_id, created_at, _stored_fingerprint, figure, balance = _call_ledger_post(
        [kind, idempotency_key, fingerprint, reference, memo, *columns, frozen_leg, settle_leg]
    )
    if status == "created":
        tx = Transaction(
            id=tx_id, kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint,
            reference=reference, memo=memo, created_at=created_at,
        )
        tx._state.adding = False
        tx._state.db = connection.alias
        tx.created_now = True
        # The spending or credited wallet's balance after, read under the lock.
        tx.wallet_balance_after = balance
        return tx
    if status == "replay":
        return _replay(idempotency_key, fingerprint)  # the first result, or IdempotencyConflict
    if status == "insufficient":
        raise InsufficientFunds(shortfall=figure, balance=balance)
    if status == "frozen":
        raise WalletFrozen(debt=figure)
    if status == "same_account":
        raise InvalidTransfer("Source and destination are the same account.")
    raise RuntimeError(f"ledger_post returned an unknown status {status!r}")


# --- public services --------------------------------------------------------------


def _resolve_parties(*parties) -> list[Account]:
    """Users -> their wallets (one query; missing wallets are opened), Accounts as given."""
    user_ids = [p.pk for p in parties if not isinstance(p, Account)]
    wallets = {a.user_id: a for a in Account.objects.filter(user_id__in=user_ids, kind=AccountKind.WALLET)} if user_ids else {}
    resolved = []
    for party in parties:
        if isinstance(party, Account):
            resolved.append(party)
        else:
            resolved.append(wallets.get(party.pk) or open_wallet(user=party))
    return resolved


def _party_id(party) -> str:
    """What a transfer's fingerprint records of a party: the user or the account it named."""
    return f"account:{party.pk}" if isinstance(party, Account) else f"user:{party.pk}"


def transfer(*, source, destination, amount: int, kind: str, idempotency_key: str, reference: str = "", memo: str = "") -> Transaction:
    """Move `amount` tokens from `source` to `destination` (users mean their wallets, or Accounts).

    Atomic, idempotent by key, locks limited accounts in pk order and checks
    funds after the lock. Raises InsufficientFunds (with .shortfall),
    WalletFrozen (source owes a debt), IdempotencyConflict, InvalidAmount.
    """
    _check_key(idempotency_key)
    _check_amount(amount)
    _check_kind(kind)
    for party in (source, destination):
        if not isinstance(party, Account) and getattr(party, "pk", None) is None:
            raise InvalidTransfer("A transfer party must be a user or a ledger account.")
        if isinstance(party, Account) and party.kind == AccountKind.EARNINGS:
            raise InvalidTransfer("Pending earnings move only through charge_with_fee and release_earnings.")
    if _party_id(source) == _party_id(destination):
        raise InvalidTransfer("Source and destination are the same account.")
    fingerprint = _fingerprint("transfer", _party_id(source), _party_id(destination), amount, kind, reference)
    if _post_in_database():
        spends_wallet = not isinstance(source, Account) or source.kind == AccountKind.WALLET
        return _post_legs(
            kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint, reference=reference, memo=memo,
            legs=[_party_leg(source, -amount), _party_leg(destination, amount)], frozen_leg=1 if spends_wallet else 0,
        )
    src, dst = _resolve_parties(source, destination)
    if src.pk == dst.pk:
        raise InvalidTransfer("Source and destination are the same account.")

    def plan():
        locked = lock_accounts((a.pk for a in (src, dst) if a.kind in LOCKED_KINDS), with_debt=True)
        if src.kind == AccountKind.WALLET:
            _ensure_not_frozen(locked[src.pk])
        return [(_locked(locked, src), -amount), (_locked(locked, dst), amount)]

    return _post(kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan, reference=reference, memo=memo)


def split_fee(amount: int, fee_bps: int) -> tuple[int, int]:
    """(creator_share, platform_fee). The fee is floored: rounding favours the creator."""
    fee = amount * fee_bps // 10_000
    return amount - fee, fee


def charge_with_fee(*, payer, creator, amount: int, kind: str, idempotency_key: str, reference: str = "", fee_bps: int | None = None) -> Transaction:
    """Charge the payer's wallet; the creator's share goes to pending earnings, the fee to the platform.

    One transaction, three entries. Only the payer's wallet is locked; the
    creator's earnings and the (sharded) fee account take no row lock, so
    concurrent payers to one creator proceed in parallel. Raises
    InsufficientFunds, WalletFrozen, IdempotencyConflict.
    """
    _check_key(idempotency_key)
    _check_amount(amount)
    _check_kind(kind)
    if fee_bps is None:
        fee_bps = int(settings.PLATFORM_FEE_BPS)
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int) or not 0 <= fee_bps <= 10_000:
        raise InvalidInput("fee_bps must be between 0 and 10000.", fields={"fee_bps": ["0..10000"]}, code="invalid_fee")
    if payer.pk == creator.pk:
        raise InvalidTransfer("You cannot pay yourself.", code="self_payment")
    creator_share, fee = split_fee(amount, fee_bps)
    fee_shard = fee_shard_for(idempotency_key)
    fingerprint = _fingerprint("charge", payer.pk, creator.pk, amount, kind, reference, fee_bps)
    if _post_in_database():
        return _post_legs(
            kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint, reference=reference, frozen_leg=1,
            legs=[
                _user_leg(payer, AccountKind.WALLET, -amount),
                _user_leg(creator, AccountKind.EARNINGS, creator_share),
                _system_leg(SystemAccount.PLATFORM_FEE, fee_shard, fee),
            ],
        )
    found = {
        (a.user_id, a.kind): a
        for a in Account.objects.filter(
            Q(user_id=payer.pk, kind=AccountKind.WALLET) | Q(user_id=creator.pk, kind=AccountKind.EARNINGS)
        )
    }
    wallet = found.get((payer.pk, AccountKind.WALLET)) or open_wallet(user=payer)
    earnings = found.get((creator.pk, AccountKind.EARNINGS)) or open_earnings_account(user=creator)
    fee_account = system_account(SystemAccount.PLATFORM_FEE, shard=fee_shard)

    def plan():
        locked = lock_accounts([wallet.pk], with_debt=True)
        _ensure_not_frozen(locked[wallet.pk])
        return [(locked[wallet.pk], -amount), (earnings, creator_share), (fee_account, fee)]

    return _post(kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan, reference=reference)


def _charge_parts(charge: Transaction):
    """(payer wallet entry, earnings entry or None, fee entry or None) of a charge."""
    payer_entry = earnings_entry = fee_entry = None
    for entry in charge.entries.select_related("account"):
        if entry.account.kind == AccountKind.WALLET and entry.amount < 0:
            payer_entry = entry
        elif entry.account.kind == AccountKind.EARNINGS and entry.amount > 0:
            earnings_entry = entry
        elif entry.account.system_code == SystemAccount.PLATFORM_FEE and entry.amount > 0:
            fee_entry = entry
    return payer_entry, earnings_entry, fee_entry


def refund_charge(*, original, amount: int, idempotency_key: str, reason: str) -> Transaction:
    """Give `amount` tokens of an earlier charge back to the payer.

    The creator's share and the platform fee are taken back in proportion
    (cumulatively, so a charge refunded in parts returns exactly the original
    fee). Never fails for lack of creator funds: the share is taken from the
    creator's pending earnings, which may go negative and are then recovered
    from future earnings. Refunds of one charge never exceed it.
    """
    _check_key(idempotency_key)
    _check_amount(amount)
    charge = _as_transaction(original)
    if charge.kind not in CHARGE_KINDS:
        raise NotReversible("Only call, message and tip charges can be refunded this way.")
    payer_entry, earnings_entry, fee_entry = _charge_parts(charge)
    if payer_entry is None:
        raise NotReversible("This charge has no payer.")
    wallet = payer_entry.account
    charged = -payer_entry.amount
    fee_total = fee_entry.amount if fee_entry else 0
    kind = TransactionKind.CALL_REFUND if charge.kind == TransactionKind.CALL_CHARGE else TransactionKind.REFUND
    fingerprint = _fingerprint("refund_charge", charge.pk, amount)

    def plan():
        # The payer's wallet lock serializes refunds and reversals of this charge.
        locked = lock_accounts([wallet.pk])
        if Transaction.objects.filter(reversal_of=charge).exists():
            raise AlreadyReversed(transaction_id=charge.pk)
        refunded = (
            Entry.objects.filter(account=wallet, transaction__original=charge, transaction__kind__in=REFUND_KINDS)
            .aggregate(total=Sum("amount"))["total"]
            or 0
        )
        if amount > charged - refunded:
            raise RefundExceedsCharge(refundable=charged - refunded)
        # The fee that stays is the fee on what the payer keeps paying, floored
        # (creator-favoured, like split_fee): after refunding 14 of a 20-token
        # charge with a 4-token fee, 6 tokens stay paid and floor(4*6/20) = 1
        # of them is fee. Taking back floor(4*14/20) = 2 instead would leave the
        # creator 4 of 6 and round against them.
        kept_before = charged - refunded
        kept_after = kept_before - amount
        fee_back = fee_total * kept_before // charged - fee_total * kept_after // charged
        legs = [(locked[wallet.pk], amount)]
        if earnings_entry is not None:
            legs.append((earnings_entry.account, -(amount - fee_back)))
        if fee_entry is not None:
            legs.append((fee_entry.account, -fee_back))
        return legs

    return _post(
        kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan,
        reference=charge.reference, memo=reason, original=charge,
    )


def credit_purchase(*, user, tokens: int, idempotency_key: str, reference: str) -> Transaction:
    """Tokens bought through Stripe: stripe clearing -> the user's wallet.

    If the user owes a debt (an earlier chargeback), the purchase pays it down
    first and only the rest reaches the wallet. When this call wrote the
    credit on PostgreSQL, the result carries `wallet_balance_after` (the
    wallet's balance right after it); otherwise that attribute is absent and
    callers read `balance_of`.
    """
    _check_key(idempotency_key)
    _check_amount(tokens, name="tokens")
    # Every purchase touches Stripe clearing: sharded like the fee account, or
    # concurrent webhooks queue on one row's lock until each commits.
    clearing_shard = fee_shard_for(idempotency_key)
    fingerprint = _fingerprint("purchase", user.pk, tokens, reference)
    if _post_in_database():
        return _post_legs(
            kind=TransactionKind.PURCHASE, idempotency_key=idempotency_key, fingerprint=fingerprint, reference=reference,
            legs=[_system_leg(SystemAccount.STRIPE_CLEARING, clearing_shard, -tokens), _user_leg(user, AccountKind.WALLET, tokens)],
            settle_leg=2,
        )
    wallet = open_wallet(user=user)
    clearing = system_account(SystemAccount.STRIPE_CLEARING, shard=clearing_shard)

    def plan():
        receivable = Account.objects.filter(user_id=user.pk, kind=AccountKind.RECEIVABLE).first()
        locked = lock_accounts([wallet.pk] + ([receivable.pk] if receivable else []))
        legs = [(clearing, -tokens)]
        pay_debt = 0
        if receivable is not None:
            pay_debt = min(-locked[receivable.pk].balance, tokens)
            legs.append((locked[receivable.pk], pay_debt))
        legs.append((locked[wallet.pk], tokens - pay_debt))
        return legs

    return _post(kind=TransactionKind.PURCHASE, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan, reference=reference)


def claw_back(*, user, tokens: int, idempotency_key: str, reference: str, kind: str) -> Transaction:
    """A purchase refunded or charged back: take `tokens` back from the user.

    Takes what the wallet holds; the rest becomes the user's debt (receivable),
    and spending is frozen (WalletFrozen) while any debt remains.
    """
    _check_key(idempotency_key)
    _check_amount(tokens, name="tokens")
    if kind not in CLAWBACK_KINDS:
        raise InvalidInput("kind must be refund or chargeback.", fields={"kind": ["refund or chargeback"]}, code="invalid_kind")
    wallet = open_wallet(user=user)
    receivable = _user_account(user, AccountKind.RECEIVABLE)
    refunds = system_account(SystemAccount.REFUNDS)
    fingerprint = _fingerprint("claw_back", user.pk, tokens, kind, reference)

    def plan():
        locked = lock_accounts([wallet.pk, receivable.pk])
        taken = min(locked[wallet.pk].balance, tokens)
        return [(locked[wallet.pk], -taken), (locked[receivable.pk], -(tokens - taken)), (refunds, tokens)]

    return _post(kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan, reference=reference)


def restore_clawback(*, original, idempotency_key: str, reference: str) -> Transaction:
    """A dispute won: undo a claw_back once.

    Debt it created that is still outstanding is cancelled; what it took from
    the wallet, and debt the user has since paid, goes back to the wallet.
    """
    _check_key(idempotency_key)
    clawback = _as_transaction(original)
    if clawback.kind not in CLAWBACK_KINDS:
        raise NotReversible("Only a refund or chargeback claw-back can be restored.")
    taken = owed = 0
    wallet = receivable = refunds = None
    for entry in clawback.entries.select_related("account"):
        if entry.account.kind == AccountKind.WALLET:
            wallet, taken = entry.account, -entry.amount
        elif entry.account.kind == AccountKind.RECEIVABLE:
            receivable, owed = entry.account, -entry.amount
        elif entry.account.system_code == SystemAccount.REFUNDS:
            refunds = entry.account
    if refunds is None:
        raise NotReversible("This transaction is not a claw-back.")
    user_id = (wallet or receivable).user_id
    wallet = wallet or Account.objects.get_or_create(user_id=user_id, kind=AccountKind.WALLET)[0]
    receivable = receivable or Account.objects.get_or_create(user_id=user_id, kind=AccountKind.RECEIVABLE)[0]
    fingerprint = _fingerprint("restore_clawback", clawback.pk, reference)

    def plan():
        # Restored at most once: reversal_of is UNIQUE, a second insert fails in _post.
        locked = lock_accounts([wallet.pk, receivable.pk])
        cancelled = min(owed, -locked[receivable.pk].balance)
        return [(refunds, -(taken + owed)), (locked[receivable.pk], cancelled), (locked[wallet.pk], taken + owed - cancelled)]

    return _post(
        kind=TransactionKind.CLAWBACK_RESTORE, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan,
        reference=reference, reversal_of=clawback,
    )


def _record_audit(*, actor, action: str, target, reason: str, before: dict, after: dict) -> None:
    from accounts.services import record_audit  # accounts owns the audit log

    record_audit(actor=actor, action=action, target=target, reason=reason, before=before, after=after)


def reverse_transaction(*, original, idempotency_key: str, reason: str, actor=None) -> Transaction:
    """Undo a transaction with a new one whose entries are its negation. At most once per transaction.

    Refuses reversals of reversals and of claw-backs (use restore_clawback),
    and of charges already partly refunded. If `actor` is given (an admin),
    an audit row is written in the same transaction.
    """
    _check_key(idempotency_key)
    target = _as_transaction(original)
    if not reason or not str(reason).strip():
        raise InvalidInput("A reason is required.", fields={"reason": ["Required."]}, code="reason_required")
    if target.kind in (TransactionKind.REVERSAL, TransactionKind.CLAWBACK_RESTORE) or target.kind in CLAWBACK_KINDS:
        raise NotReversible()
    if target.kind in (TransactionKind.PAYOUT, TransactionKind.PAYOUT_RETURN):
        # A payout's tokens are closed once, one way, by return_payout or
        # settle_payout (the payouts admin); a reversal here would bypass both.
        raise NotReversible("Payouts are returned or rejected in the payouts admin, not reversed here.")
    entries = list(target.entries.select_related("account"))
    fingerprint = _fingerprint("reverse", target.pk)

    def plan():
        # Reversed at most once: reversal_of is UNIQUE, a second insert fails in _post.
        locked = lock_accounts(e.account_id for e in entries if e.account.kind in LOCKED_KINDS)
        if target.followups.exists():
            raise NotReversible("This transaction was partly refunded; refund the rest instead.")
        return [(_locked(locked, e.account), -e.amount) for e in entries]

    with transaction.atomic():
        tx = _post(
            kind=TransactionKind.REVERSAL, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan,
            reference=target.reference, memo=str(reason), reversal_of=target,
        )
        if actor is not None and getattr(tx, "created_now", False):
            _record_audit(
                actor=actor, action="ledger.reverse", target=target, reason=str(reason),
                before={"transaction": target.pk}, after={"reversal": tx.pk},
            )
    return tx


def grant_promotion(*, user, tokens: int, idempotency_key: str, reference: str = "", memo: str = "") -> Transaction:
    """Platform-funded tokens (promotions account -> wallet)."""
    _check_key(idempotency_key)
    _check_amount(tokens, name="tokens")
    return transfer(
        source=system_account(SystemAccount.PROMOTIONS), destination=user, amount=tokens,
        kind=TransactionKind.PROMOTION, idempotency_key=idempotency_key, reference=reference, memo=memo,
    )


def adjust_balance(*, user, amount: int, idempotency_key: str, reason: str, actor) -> Transaction:
    """An admin's correction of a wallet (+ credit, - debit) against the promotions account, audited."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_TOKENS:
        raise InvalidAmount("The adjustment must be a non-zero whole number of tokens.", fields={"amount": ["Non-zero integer."]})
    if not reason or not str(reason).strip():
        raise InvalidInput("A reason is required.", fields={"reason": ["Required."]}, code="reason_required")
    _check_key(idempotency_key)
    wallet = open_wallet(user=user)
    promotions = system_account(SystemAccount.PROMOTIONS)
    fingerprint = _fingerprint("adjust", user.pk, amount)

    def plan():
        locked = lock_accounts([wallet.pk])
        return [(locked[wallet.pk], amount), (promotions, -amount)]

    with transaction.atomic():
        before = balance_of(user=user)
        tx = _post(
            kind=TransactionKind.ADJUSTMENT, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan,
            memo=str(reason),
        )
        after = balance_of(user=user)
        if getattr(tx, "created_now", False):  # a replay of the same key writes no second audit row
            _record_audit(
                actor=actor, action="ledger.adjust", target=user, reason=str(reason),
                before={"balance": before}, after={"balance": after, "transaction": tx.pk},
            )
    return tx


def release_earnings(*, user, idempotency_key: str | None = None) -> Transaction | None:
    """Move everything pending in the creator's earnings into their spendable wallet.

    Idempotent by nature (a second release finds nothing pending and returns
    None) and by key when one is given. Only the earnings row and the wallet are
    locked; credits arriving meanwhile stay pending for the next release.
    """
    earnings = Account.objects.filter(user_id=user.pk, kind=AccountKind.EARNINGS).first()
    if earnings is None:
        return None
    idempotency_key = _check_key(idempotency_key or f"earnings_release:{user.pk}:{uuid.uuid4().hex}")
    wallet = open_wallet(user=user)
    fingerprint = _fingerprint("release", user.pk)

    def plan():
        locked = lock_accounts([earnings.pk, wallet.pk])
        pending = Entry.objects.filter(account=earnings).aggregate(total=Sum("amount"))["total"] or 0
        if pending <= 0:
            raise _NothingToPost
        return [(locked[earnings.pk], -pending), (locked[wallet.pk], pending)]

    try:
        return _post(kind=TransactionKind.EARNINGS_RELEASE, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan)
    except _NothingToPost:
        return None


def release_all_earnings() -> int:
    """Release every creator's pending earnings (the periodic job). Returns how many were released."""
    released = 0
    pending = (
        Account.objects.filter(kind=AccountKind.EARNINGS)
        .annotate(pending=Sum("entries__amount"))
        .filter(pending__gt=0)
        .select_related("user")
    )
    for account in pending.iterator():
        if release_earnings(user=account.user) is not None:
            released += 1
    return released


def rebuild_balances(*, dry_run: bool = False) -> list[tuple[Account, int, int]]:
    """Recompute cached balances from entries; returns (account, cached, from_entries) for each drift.

    Each account is fixed under its row lock in one short transaction, so it
    is safe to run while the ledger is live. With dry_run nothing is written.
    """
    drifts = []
    ids = list(Account.objects.exclude(kind=AccountKind.EARNINGS).order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        with transaction.atomic():
            account = lock_accounts([pk])[pk]
            total = Entry.objects.filter(account_id=pk).aggregate(t=Sum("amount"))["t"] or 0
            if total == account.balance:
                continue
            drifts.append((account, account.balance, total))
            if not dry_run:
                Account.objects.filter(pk=pk).update(balance=total)
    return drifts


# --- message escrow (paid direct messages) -------------------------------------------
#
# A fan's paid message is held, not taken. hold_message_payment moves its price
# from the fan's wallet to the message_escrow system account (sharded by key
# like the fee account, so concurrent paid messages do not queue on one row).
# Each hold is settled exactly once, by release_message_payments (escrow -> the
# creator's pending earnings + the platform fee, split as charge_with_fee
# splits, floored in the creator's favour) or refund_message_payments (escrow ->
# the fan's wallet, in full). A settlement points at its hold
# (Transaction.original) and the database allows one settlement per hold
# (ledger_hold_settled_once); ledger.checks proves the escrow holds exactly
# the unsettled holds. The caller (messaging) decides *which* holds to settle
# by compare-and-swap on its own rows, in the same transaction.

HOLD_SETTLEMENT_KINDS = (TransactionKind.MESSAGE_RELEASE, TransactionKind.MESSAGE_REFUND)


@dataclass(frozen=True)
class HoldSettlement:
    """One hold to settle: the hold transaction (or its id), the settlement's own key, a reference."""

    hold: Transaction | int
    idempotency_key: str
    reference: str = ""


def hold_message_payment(*, payer, amount: int, idempotency_key: str, reference: str = "") -> Transaction:
    """Hold ``amount`` tokens of the payer's wallet in the message escrow.

    Atomic, idempotent by key (a resend with the same key returns the first
    hold and moves nothing), the payer's wallet locked and checked after the
    lock. Raises InsufficientFunds (nothing written), WalletFrozen (the payer
    owes a debt), IdempotencyConflict. On PostgreSQL one ledger_post() call.
    """
    _check_key(idempotency_key)
    _check_amount(amount)
    if getattr(payer, "pk", None) is None:
        raise InvalidTransfer("The payer must be a user.")
    shard = fee_shard_for(idempotency_key)
    fingerprint = _fingerprint("message_hold", payer.pk, amount, reference)
    if _post_in_database():
        return _post_legs(
            kind=TransactionKind.MESSAGE_HOLD, idempotency_key=idempotency_key, fingerprint=fingerprint,
            reference=reference, frozen_leg=1,
            legs=[_user_leg(payer, AccountKind.WALLET, -amount), _system_leg(SystemAccount.MESSAGE_ESCROW, shard, amount)],
        )
    wallet = open_wallet(user=payer)
    escrow = system_account(SystemAccount.MESSAGE_ESCROW, shard=shard)

    def plan():
        locked = lock_accounts([wallet.pk], with_debt=True)
        _ensure_not_frozen(locked[wallet.pk])
        return [(locked[wallet.pk], -amount), (escrow, amount)]

    return _post(
        kind=TransactionKind.MESSAGE_HOLD, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan,
        reference=reference,
    )


@dataclass(frozen=True)
class _Hold:
    tx: Transaction
    wallet: Account  # the payer's wallet (debited by the hold)
    escrow: Account  # the escrow shard the hold credited
    amount: int


def _holds(settlements: Sequence[HoldSettlement]) -> list[_Hold]:
    """The holds being settled, with their wallet and escrow entries (two queries)."""
    for settlement in settlements:
        _check_key(settlement.idempotency_key)
    ids = [s.hold.pk if isinstance(s.hold, Transaction) else s.hold for s in settlements]
    if any(isinstance(pk, bool) or not isinstance(pk, int) for pk in ids):
        raise InvalidTransfer("No such ledger transaction.", code="transaction_not_found")
    found = {tx.pk: tx for tx in Transaction.objects.filter(pk__in=ids)}
    parts: dict[int, dict] = defaultdict(dict)
    for entry in Entry.objects.filter(transaction_id__in=ids).select_related("account"):
        if entry.account.kind == AccountKind.WALLET and entry.amount < 0:
            parts[entry.transaction_id]["wallet"] = entry.account
        elif entry.account.system_code == SystemAccount.MESSAGE_ESCROW and entry.amount > 0:
            parts[entry.transaction_id]["escrow"] = entry.account
            parts[entry.transaction_id]["amount"] = entry.amount
    holds = []
    for pk in ids:
        tx = found.get(pk)
        if tx is None:
            raise InvalidTransfer("No such ledger transaction.", code="transaction_not_found")
        if tx.kind != TransactionKind.MESSAGE_HOLD or set(parts[pk]) != {"wallet", "escrow", "amount"}:
            raise NotReversible("Only a message hold can be released or refunded.")
        holds.append(_Hold(tx=tx, **parts[pk]))
    return holds


def _post_settlements(*, kind: str, settlements, holds, wallets, system_accounts, legs_for, fingerprint_for, memo=""):
    """Post one settlement per hold, in one savepoint.

    Lock order, as everywhere in the ledger: wallets (pk order) before system
    accounts. Several settlements in one transaction touch several escrow and
    fee shards; they are locked here up front in pk order, so two multi-hold
    settlements (a reply releasing five messages, a block refunding three)
    can never each hold a shard the other waits for.
    """
    results = []
    with transaction.atomic():
        locked_wallets = lock_accounts(account.pk for account in wallets)
        lock_accounts(account.pk for account in system_accounts)
        for settlement, hold in zip(settlements, holds):
            def plan(hold=hold, settlement=settlement):
                settled = Transaction.objects.filter(original=hold.tx, kind__in=HOLD_SETTLEMENT_KINDS).exclude(
                    idempotency_key=settlement.idempotency_key
                )
                if settled.exists():
                    raise AlreadySettled(transaction_id=hold.tx.pk)
                return legs_for(hold, locked_wallets)

            try:
                tx = _post(
                    kind=kind, idempotency_key=settlement.idempotency_key, fingerprint=fingerprint_for(hold),
                    plan=plan, reference=settlement.reference or hold.tx.reference, memo=memo, original=hold.tx,
                )
            except IntegrityError:
                # The one-settlement-per-hold constraint: a concurrent settlement won.
                raise AlreadySettled(transaction_id=hold.tx.pk)
            results.append(tx)
    return results


def release_message_payments(*, creator, settlements: Sequence[HoldSettlement], fee_bps: int | None = None) -> list[Transaction]:
    """The creator answered: each hold goes to the creator's pending earnings minus the platform fee.

    The split is charge_with_fee's (fee floored, so rounding favours the
    creator), per message. Atomic (all or none), idempotent per settlement key,
    each hold settled at most once (AlreadySettled if it was refunded or
    released under another key). Pending earnings are credited by insert only.
    """
    if fee_bps is None:
        fee_bps = int(settings.PLATFORM_FEE_BPS)
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int) or not 0 <= fee_bps <= 10_000:
        raise InvalidInput("fee_bps must be between 0 and 10000.", fields={"fee_bps": ["0..10000"]}, code="invalid_fee")
    if not settlements:
        return []
    holds = _holds(settlements)
    if any(hold.wallet.user_id == creator.pk for hold in holds):
        raise InvalidTransfer("You cannot pay yourself.", code="self_payment")
    earnings = open_earnings_account(user=creator)
    fee_accounts = {
        s.idempotency_key: system_account(SystemAccount.PLATFORM_FEE, shard=fee_shard_for(s.idempotency_key))
        for s in settlements
    }
    keys = {hold.tx.pk: s.idempotency_key for s, hold in zip(settlements, holds)}

    def legs_for(hold, _locked_wallets):
        share, fee = split_fee(hold.amount, fee_bps)
        return [(hold.escrow, -hold.amount), (earnings, share), (fee_accounts[keys[hold.tx.pk]], fee)]

    return _post_settlements(
        kind=TransactionKind.MESSAGE_RELEASE, settlements=settlements, holds=holds, wallets=[],
        system_accounts=[hold.escrow for hold in holds] + list(fee_accounts.values()), legs_for=legs_for,
        fingerprint_for=lambda hold: _fingerprint("message_release", hold.tx.pk, creator.pk, fee_bps),
    )


def refund_message_payments(*, settlements: Sequence[HoldSettlement], reason: str = "") -> list[Transaction]:
    """Give held payments back in full (escrow -> each payer's wallet).

    Atomic (all or none), idempotent per settlement key, each hold settled at
    most once (AlreadySettled otherwise). Never fails for lack of funds: the
    escrow holds exactly what was held. The refund reaches the wallet even if
    its owner owes a debt (as refund_charge does).
    """
    if not settlements:
        return []
    holds = _holds(settlements)

    def legs_for(hold, locked_wallets):
        return [(hold.escrow, -hold.amount), (locked_wallets[hold.wallet.pk], hold.amount)]

    return _post_settlements(
        kind=TransactionKind.MESSAGE_REFUND, settlements=settlements, holds=holds,
        wallets=[hold.wallet for hold in holds], system_accounts=[hold.escrow for hold in holds], legs_for=legs_for,
        fingerprint_for=lambda hold: _fingerprint("message_refund", hold.tx.pk), memo=reason,
    )


def message_escrow_balance() -> int:
    """Tokens held in the message escrow right now (the sum of its shards)."""
    total = Account.objects.filter(kind=AccountKind.SYSTEM, system_code=SystemAccount.MESSAGE_ESCROW).aggregate(t=Sum("balance"))["t"]
    return int(total or 0)


# --- live stream tickets (streaming) ------------------------------------------------------
# Tickets are charged with charge_with_fee(kind=TransactionKind.TICKET); this
# gives one back. streaming.services calls it when a stream ends within
# LIVE_TICKET_REFUND_MINUTES of its start.


def refund_ticket(*, original, idempotency_key: str, reason: str) -> Transaction:
    """Give a live-stream ticket back in full, at most once.

    The payer's wallet gets the whole price; the creator's pending earnings and
    the platform fee shard give back exactly what the ticket gave them. Atomic,
    idempotent by key (the same key returns the first refund); a second refund
    of the same ticket under another key raises AlreadyReversed (checked under
    the payer's wallet lock, which every refund of the ticket takes). Never
    fails for lack of creator funds: pending earnings may go negative and are
    recovered from later earnings, as with refund_charge.
    """
    _check_key(idempotency_key)
    charge = _as_transaction(original)
    if charge.kind != TransactionKind.TICKET:
        raise NotReversible("Only a live-stream ticket can be refunded this way.")
    payer_entry, earnings_entry, fee_entry = _charge_parts(charge)
    if payer_entry is None:
        raise NotReversible("This ticket has no payer.")
    wallet = payer_entry.account
    fingerprint = _fingerprint("refund_ticket", charge.pk)

    def plan():
        locked = lock_accounts([wallet.pk])
        # _post inserted this refund's own row (original=charge) before running the plan.
        if charge.followups.exclude(idempotency_key=idempotency_key).exists() or Transaction.objects.filter(reversal_of=charge).exists():
            raise AlreadyReversed(transaction_id=charge.pk)
        legs = [(locked[wallet.pk], -payer_entry.amount)]
        if earnings_entry is not None:
            legs.append((earnings_entry.account, -earnings_entry.amount))
        if fee_entry is not None:
            legs.append((fee_entry.account, -fee_entry.amount))
        return legs

    return _post(
        kind=TransactionKind.TICKET_REFUND, idempotency_key=idempotency_key, fingerprint=fingerprint, plan=plan,
        reference=charge.reference, memo=str(reason), original=charge,
    )


# --- payouts ------------------------------------------------------------------------
# Written for payouts.services, which decides when. A payout's tokens sit in
# payouts_clearing from its request until it is either settled (paid: clearing
# -> payouts_paid, out of the token economy, because the money left the
# platform) or returned (failed, reversed at Stripe, or rejected: clearing ->
# the creator's wallet). Keys: payout:<id>:request, payout:<id>:paid,
# payout:<id>:return. Both closing transactions point at the request (the
# settlement as `original`, the return as `reversal_of`, which is UNIQUE) and are
# written under the creator's wallet lock after checking that the other one has
# not happened, so a payout is closed once and one way only
# (ledger.checks.payouts_clearing_reconciles proves it for the whole ledger).


def payout_key(payout_id, step: str) -> str:
    """The idempotency key of one step (request, paid, return) of a payout."""
    return f"payout:{payout_id}:{step}"


def hold_payout(*, user, tokens: int, payout_id, payable: Callable[[], int]) -> Transaction:
    """Move `tokens` from the creator's wallet to payouts_clearing (kind payout).

    Atomic; idempotent under payout:<id>:request (a replay returns the first
    transaction without asking `payable` again). Under the wallet's row lock it
    refuses a wallet whose owner owes a debt (WalletFrozen), then calls
    `payable()` and refuses more than it returns (ExceedsPayable): the check and
    the debit see the same balance, so a concurrent spend or a second payout
    cannot slip between them. InsufficientFunds as for any debit.
    """
    _check_amount(tokens, name="tokens")
    key = _check_key(payout_key(payout_id, "request"))
    wallet = open_wallet(user=user)
    clearing = system_account(SystemAccount.PAYOUTS_CLEARING)
    fingerprint = _fingerprint("hold_payout", user.pk, str(payout_id), tokens)

    def plan():
        locked = lock_accounts([wallet.pk], with_debt=True)
        _ensure_not_frozen(locked[wallet.pk])
        ceiling = int(payable())
        if tokens > ceiling:
            raise ExceedsPayable(payable=max(0, ceiling))
        return [(locked[wallet.pk], -tokens), (clearing, tokens)]

    return _post(
        kind=TransactionKind.PAYOUT, idempotency_key=key, fingerprint=fingerprint, plan=plan, reference=f"payout:{payout_id}"
    )


def _payout_request(payout_id) -> tuple[Transaction, Account, Account, int]:
    """(request transaction, the creator's wallet, the clearing account, tokens) of a payout."""
    request = Transaction.objects.filter(idempotency_key=payout_key(payout_id, "request")).first()
    if request is None:
        raise InvalidTransfer("This payout's tokens were never set aside.", code="payout_not_held")
    wallet = clearing = None
    tokens = 0
    for entry in request.entries.select_related("account"):
        if entry.account.kind == AccountKind.WALLET:
            wallet = entry.account
        elif entry.account.system_code == SystemAccount.PAYOUTS_CLEARING:
            clearing, tokens = entry.account, entry.amount
    return request, wallet, clearing, tokens


def settle_payout(*, payout_id, reference: str = "") -> Transaction:
    """The payout's money reached the creator: payouts_clearing -> payouts_paid.

    Atomic, idempotent under payout:<id>:paid, at most once (PayoutClosed if it
    was returned). Serialized with return_payout by the creator's wallet lock.
    """
    request, wallet, clearing, tokens = _payout_request(payout_id)
    paid = system_account(SystemAccount.PAYOUTS_PAID)
    fingerprint = _fingerprint("settle_payout", request.pk)

    def plan():
        lock_accounts([wallet.pk])
        if Transaction.objects.filter(reversal_of=request).exists():
            raise PayoutClosed("This payout's tokens were returned; it cannot be paid.")
        return [(clearing, -tokens), (paid, tokens)]

    return _post(
        kind=TransactionKind.PAYOUT, idempotency_key=payout_key(payout_id, "paid"), fingerprint=fingerprint, plan=plan,
        reference=reference[:200] or request.reference, original=request,
    )


def return_payout(*, payout_id, reason: str) -> Transaction:
    """The payout failed, was reversed or rejected: payouts_clearing -> the creator's wallet.

    Atomic, idempotent under payout:<id>:return, at most once (the return is
    the request's reversal, UNIQUE) and never after the payout was settled
    (PayoutClosed). Serialized with settle_payout by the creator's wallet lock.
    """
    if not reason or not str(reason).strip():
        raise InvalidInput("A reason is required.", fields={"reason": ["Required."]}, code="reason_required")
    request, wallet, clearing, tokens = _payout_request(payout_id)
    fingerprint = _fingerprint("return_payout", request.pk)

    def plan():
        locked = lock_accounts([wallet.pk])
        if Transaction.objects.filter(original=request, kind=TransactionKind.PAYOUT).exists():
            raise PayoutClosed("This payout was paid; its tokens cannot be returned.")
        return [(clearing, -tokens), (locked[wallet.pk], tokens)]

    return _post(
        kind=TransactionKind.PAYOUT_RETURN, idempotency_key=payout_key(payout_id, "return"), fingerprint=fingerprint,
        plan=plan, reference=request.reference, memo=str(reason), reversal_of=request,
    )
