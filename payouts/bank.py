"""Bank details for the manual payout method: validated, then reduced to a masked reference.

The full number is checked (format and check digits) so a typo is caught while
the creator is still on the form, then thrown away: only the country, the
scheme and the last four characters are kept (``PayoutAccount.bank_masked``,
whose database constraint refuses any run of five digits). The operator pays
the payee registered with the platform's bank and matches it by that reference.
"""

import re
from dataclasses import dataclass

from payouts.exceptions import InvalidBankDetails
from payouts.models import BankScheme

MASK = "••••"

# Lengths of the IBANs of the countries most creators bank in (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24,
    "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27,
}


@dataclass(frozen=True)
class MaskedBank:
    scheme: str
    country: str
    holder: str
    masked: str


def _fail(field: str, message: str):
    raise InvalidBankDetails(message, fields={field: [message]})


def _holder(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        _fail("holder", "Enter the account holder's name as the bank knows it.")
    if len(name) > 140:
        _fail("holder", "At most 140 characters.")
    return name


def iban_is_valid(iban: str) -> bool:
    """ISO 13616: the country's length, and mod 97 of the rearranged number is 1."""
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def aba_routing_is_valid(routing: str) -> bool:
    """An ABA routing number: nine digits whose weighted sum (3, 7, 1) is a multiple of 10."""
    if not re.fullmatch(r"[0-9]{9}", routing):
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def mask_bank_details(*, scheme: str, holder: str, iban: str = "", routing_number: str = "", account_number: str = "",
                      sort_code: str = "") -> MaskedBank:
    """Validate the details and return what may be kept. Raises InvalidBankDetails (400) naming the field."""
    holder = _holder(holder)
    if scheme == BankScheme.IBAN:
        iban = re.sub(r"[\s-]+", "", iban or "").upper()
        if not iban_is_valid(iban):
            _fail("iban", "This is not a valid IBAN: check the country code, the length and the two check digits.")
        return MaskedBank(scheme=scheme, country=iban[:2], holder=holder, masked=f"{iban[:2]} {MASK} {iban[-4:]}")
    if scheme == BankScheme.US_ABA:
        routing = re.sub(r"[\s-]+", "", routing_number or "")
        account = re.sub(r"[\s-]+", "", account_number or "")
        if not aba_routing_is_valid(routing):
            _fail("routing_number", "A routing number has nine digits and a valid check digit.")
        if not re.fullmatch(r"[0-9]{4,17}", account):
            _fail("account_number", "An account number has 4 to 17 digits.")
        return MaskedBank(scheme=scheme, country="US", holder=holder, masked=f"US {MASK} {account[-4:]}")
    if scheme == BankScheme.UK_SORT_CODE:
        sort = re.sub(r"[\s-]+", "", sort_code or "")
        account = re.sub(r"[\s-]+", "", account_number or "")
        if not re.fullmatch(r"[0-9]{6}", sort):
            _fail("sort_code", "A sort code has six digits (12-34-56).")
        if not re.fullmatch(r"[0-9]{8}", account):
            _fail("account_number", "A UK account number has eight digits.")
        return MaskedBank(scheme=scheme, country="GB", holder=holder, masked=f"GB {MASK} {account[-4:]}")
    _fail("scheme", "Choose IBAN, a US routing and account number, or a UK sort code and account number.")
