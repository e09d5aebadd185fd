"""Who is in the demo: teams, logins and fictional patients' demographics.

Everything here is invented. Phone numbers are in Ofcom's drama ranges (07700 900xxx,
01632 960xxx), email addresses use the reserved ``example.com`` domain and NHS numbers come
from the 999 test range, so nothing can reach or be mistaken for a real person.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from rms import nhs_number
from rms.models import NhsNumberStatus, Role, TumourSite

# Published in the README and printed by load_demo: the demo is for trying the product on a
# laptop, never for a server with real patients (load_demo refuses to run in production).
DEMO_PASSWORD = "demo-password-1"  # noqa: S105
DEMO_URL = "http://127.0.0.1:8000/"
SEED = 20_240_611


@dataclass(frozen=True)
class TeamSpec:
    code: str
    name: str
    tumour_site: str
    pkb_team_alias: str
    pv1_service_code: str
    # Ofcom's drama range (0113 496 0000-0999): a number in the demo never rings anyone.
    contact_phone: str = ""


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    team_code: str = ""
    role: str = ""
    superuser: bool = False

    @property
    def description(self) -> str:
        if self.superuser:
            return "superuser, for Django admin only (sees no patients in the product)"
        return f"{Role(self.role).label.lower()}, {self.team_code}"


TEAMS = (
    TeamSpec(
        "URO", "Urology cancer CNS team", TumourSite.PROSTATE, "RXX-URO", "UROL", "0113 496 0123"
    ),
    TeamSpec(
        "CRC",
        "Colorectal cancer CNS team",
        TumourSite.COLORECTAL,
        "RXX-CRC",
        "COLO",
        "0113 496 0456",
    ),
)

USERS = (
    UserSpec("cns.uro", "Joanna", "Reid", "URO", Role.CLINICIAN),
    UserSpec("onc.uro", "Tobias", "Grant", "URO", Role.TEAM_ADMIN),
    UserSpec("viewer.uro", "Sam", "Okafor", "URO", Role.VIEWER),
    UserSpec("cns.crc", "Amira", "Haddad", "CRC", Role.CLINICIAN),
    UserSpec("admin", "Demo", "Administrator", superuser=True),
)

MALE_NAMES = (
    "Arthur", "Barry", "Colin", "Derek", "Edward", "Frank", "Gordon", "Harold", "Ian", "Jeffrey",
    "Keith", "Leonard", "Malcolm", "Nigel", "Owen", "Patrick", "Raymond", "Stanley", "Trevor",
    "Victor", "Wilfred", "Alan", "Brian", "Clive", "Dennis", "Geoffrey", "Kenneth", "Roger",
    "Amrit", "Tariq", "Winston", "Piotr",
)  # fmt: skip
FEMALE_NAMES = (
    "Alison", "Brenda", "Carol", "Diane", "Eileen", "Frances", "Gillian", "Hazel", "Irene",
    "Janet", "Kathleen", "Linda", "Margaret", "Norma", "Pauline", "Rosemary", "Sandra", "Yvonne",
    "Shirin", "Grace",
)  # fmt: skip
FAMILY_NAMES = (
    "Abbott", "Barnard", "Chalmers", "Dunmore", "Ellery", "Fenwick", "Garside", "Hammond",
    "Ingleby", "Jarvis", "Kershaw", "Lockwood", "Marchant", "Norbury", "Oakley", "Pennington",
    "Quayle", "Radcliffe", "Sallis", "Thornber", "Upton", "Varley", "Wainwright", "Yardley",
    "Ashdown", "Blakemore", "Cottrell", "Darnley", "Eastwood", "Fairclough", "Greenhalgh",
    "Hollins", "Kaur", "Mensah", "Nowicki", "Osei", "Patel", "Rahman", "Szabo", "Tierney",
)  # fmt: skip
STREETS = (
    "Station Road", "Orchard Close", "Mill Lane", "Church Street", "The Crescent",
    "Linden Avenue", "Priory Way", "Castle Street", "Quantock View", "Blackdown Road",
    "Meadow Rise", "Parkfield Drive",
)  # fmt: skip
# (locality for line 2 or "", town, county, outward postcode codes in that town)
PLACES = (
    ("", "Taunton", "Somerset", ("TA1", "TA2")),
    ("Norton Fitzwarren", "Taunton", "Somerset", ("TA2",)),
    ("", "Bridgwater", "Somerset", ("TA6",)),
    ("", "Wellington", "Somerset", ("TA21",)),
    ("Bishops Lydeard", "Taunton", "Somerset", ("TA4",)),
    ("", "Chard", "Somerset", ("TA20",)),
    ("", "Minehead", "Somerset", ("TA24",)),
    ("", "Yeovil", "Somerset", ("BA20", "BA21")),
)
GPS = (
    "Dr Sarah Whitfield, Quantock Medical Centre",
    "Dr Rajesh Menon, Riverside Surgery",
    "Dr Claire Donnelly, Blackdown Health Centre",
    "Dr Hugh Pryce, Mill Street Practice",
)
_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters used in inward codes


def demo_nhs_numbers(count: int) -> list[str]:
    """``count`` valid NHS numbers from 999 100 0000 up (clear of the numbers the tests'
    factories and docs/examples/caseload.csv use, which start at 999 000 0000)."""
    numbers: list[str] = []
    body = 0
    while len(numbers) < count:
        first_nine = f"9991{body:05d}"
        check = nhs_number.check_digit(first_nine)
        if check is not None:
            numbers.append(f"{first_nine}{check}")
        body += 1
    return numbers


def demographics(
    *, index: int, number: str, sex: str, rng: random.Random, born_between: tuple[int, int]
) -> dict[str, Any]:
    """Keyword arguments for ``services.patient_create`` for demo patient ``index``."""
    given = rng.choice(MALE_NAMES if sex == "M" else FEMALE_NAMES)
    family = rng.choice(FAMILY_NAMES)
    title = "Mr" if sex == "M" else rng.choice(("Mrs", "Ms", "Miss"))
    born = dt.date(rng.randint(*born_between), rng.randint(1, 12), rng.randint(1, 28))
    locality, town, county, outwards = rng.choice(PLACES)
    inward = f"{rng.randint(1, 9)}{rng.choice(_POSTCODE_LETTERS)}{rng.choice(_POSTCODE_LETTERS)}"
    # A few numbers are left unverified (02) so the product can show how it treats them.
    status = NhsNumberStatus.NOT_TRACED if index % 12 == 5 else NhsNumberStatus.VERIFIED
    values: dict[str, Any] = {
        "nhs_number": number,
        "nhs_number_status": status,
        "mrn": f"RXX9{index + 1:06d}",
        "title": title,
        "given_name": given,
        "family_name": family,
        "date_of_birth": born,
        "sex": sex,
        "address_line_1": f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
        "address_line_2": locality,
        "address_city": town,
        "address_county": county,
        "postcode": f"{rng.choice(outwards)} {inward}",
        "phone_mobile": f"07700 900{rng.randint(0, 999):03d}" if index % 4 != 3 else "",
        "phone_home": f"01632 960{rng.randint(0, 999):03d}" if index % 2 == 1 else "",
        "email": f"{given.lower()}.{family.lower()}{index + 1}@example.com"
        if index % 3 == 0
        else "",
    }
    return values
