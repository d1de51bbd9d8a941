"""One customer across channels: identifiers, profiles, merges. Sans-I/O.

A contact brings identifiers (a phone number, an e-mail, a gateway's user
id, a WeChat openid, a CRM id). Each is normalised to a key such as
``phone:+8613800138000`` or ``email:li@example.com``; a key belongs to at
most one live profile. The store looks the keys up and hands the profiles
it found to :func:`resolve`, which decides, without I/O, what to write:

* no key known: a new profile holding them all;
* keys of one profile: that profile, with the new keys added;
* keys of several profiles: they are one person. The oldest profile (by
  creation, then id) survives; each other one is *absorbed*: its keys move
  to the survivor and a :class:`Merge` records exactly which, so an admin
  can reverse it with :func:`unmerge`. An absorbed profile keeps its own
  ``absorbed`` list, so its history (and that of profiles it absorbed
  earlier) still reads through the survivor.

Whatever order contacts arrive in, the keys end up grouped the same way:
the live profiles are the connected components of "seen on one contact"
(a hypothesis property test checks it). Which id survives may differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from acd.errors import InvalidRequest

MAX_VALUE = 200
# Identity fields that name one person (the rest, such as a name, describe
# them and become profile attributes). A messaging gateway's user id counts
# as an identifier of the gateway's own kind.
IDENTIFIER_KINDS = frozenset(
    {"phone", "email", "wechat", "unionid", "crm", "user", "whatsapp", "line", "telegram", "messenger"}
)


class BadIdentifier(InvalidRequest):
    code = "bad-identifier"


class UnknownMerge(InvalidRequest):
    code = "unknown-merge"


def normalise_phone(raw: str, country_code: str | None = None) -> str:
    """E.164: ``+`` and 3-15 digits. ``00`` is the international prefix; a
    number without one takes ``country_code`` (its trunk ``0`` dropped),
    and without a country code stays as dialled (digits only)."""
    s = raw.strip()
    plus = s.startswith("+")
    digits = "".join(ch for ch in s if ch.isdigit())
    if any(ch.isalpha() for ch in s) or not 3 <= len(digits) <= 15:
        raise BadIdentifier(f"not a phone number: {raw!r}")
    if plus:
        return f"+{digits}"
    if digits.startswith("00"):
        return f"+{digits[2:]}"
    if country_code:
        return f"+{country_code}{digits.lstrip('0')}"
    return digits


def key(kind: str, value: str, country_code: str | None = None) -> str:
    """The normalised key of one identifier. BadIdentifier if it is not one."""
    if not kind or not kind.replace("_", "").isalnum() or not kind.islower():
        raise BadIdentifier(f"identifier kind must be lower-case letters, digits and _, got {kind!r}")
    v = value.strip()
    if not v or len(v) > MAX_VALUE:
        raise BadIdentifier(f"{kind} must be 1..{MAX_VALUE} characters, got {value!r}")
    if kind == "phone":
        v = normalise_phone(v, country_code)
    elif kind == "email":
        if "@" not in v or " " in v:
            raise BadIdentifier(f"not an e-mail address: {value!r}")
        v = v.lower()
    return f"{kind}:{v}"


def keys(identity: Mapping[str, str], country_code: str | None = None) -> tuple[list[str], list[str]]:
    """(keys, problems): the identifiers of one contact that could be
    normalised, and why the others could not (they are left out)."""
    out: list[str] = []
    problems: list[str] = []
    for kind, value in identity.items():
        try:
            k = key(kind, value, country_code)
        except BadIdentifier as e:
            problems.append(e.message)
            continue
        if k not in out:
            out.append(k)
    return out, problems


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    created_at: float  # wall-clock seconds
    identifiers: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)  # e.g. vip, name
    merged_into: str | None = None  # absorbed into that profile
    absorbed: tuple[str, ...] = ()  # profiles merged into this one, oldest first


@dataclass(frozen=True, slots=True)
class Merge:
    id: str
    at: float
    survivor: str
    absorbed: str
    moved: tuple[str, ...]  # the keys that went from absorbed to survivor


@dataclass(frozen=True, slots=True)
class Resolution:
    profile: Profile  # the contact's customer, as written
    writes: tuple[Profile, ...]  # profiles to store (new or changed)
    merges: tuple[Merge, ...]
    created: bool


def resolve(
    contact_keys: Iterable[str],
    found: Mapping[str, Profile],
    now: float,
    new_id: Callable[[str], str],
    described: Mapping[str, str] | None = None,
) -> Resolution:
    """What the store must write for a contact bringing ``contact_keys``.

    ``found``: for each key the store knows, the live profile holding it.
    ``new_id(prefix)`` names a new profile (``c``) or merge (``m``).
    ``described``: attributes the contact gave (a name): they fill what the
    profile lacks and never overwrite it.
    O(k + p·i) for k keys and p profiles of i identifiers each.
    """
    wanted = list(dict.fromkeys(contact_keys))
    profiles = {p.id: p for p in found.values()}
    if not profiles:
        p = Profile(new_id("c"), now, tuple(wanted), dict(described or {}))
        return Resolution(p, (p,), (), True)
    ordered = sorted(profiles.values(), key=lambda p: (p.created_at, p.id))
    survivor, others = ordered[0], ordered[1:]
    idents = list(survivor.identifiers)
    absorbed = list(survivor.absorbed)
    writes: list[Profile] = []
    merges: list[Merge] = []
    for o in others:
        merges.append(Merge(new_id("m"), now, survivor.id, o.id, o.identifiers))
        idents.extend(o.identifiers)
        absorbed.append(o.id)
        writes.append(replace(o, identifiers=(), merged_into=survivor.id))
    have = set(idents)
    idents.extend(k for k in wanted if k not in have)
    attributes = dict(survivor.attributes)
    for o in others:  # the survivor's own attributes win, then the older profiles'
        attributes = {**o.attributes, **attributes}
    attributes = {**(described or {}), **attributes}
    changed = replace(survivor, identifiers=tuple(dict.fromkeys(idents)), absorbed=tuple(absorbed))
    if attributes != survivor.attributes:
        changed = replace(changed, attributes=attributes)
    if changed != survivor:
        writes.insert(0, changed)
    return Resolution(changed, tuple(writes), tuple(merges), False)


def unmerge(merge: Merge, survivor: Profile, absorbed: Profile) -> tuple[Profile, Profile]:
    """Reverse a merge: the keys it moved (those the survivor still holds)
    go back to the absorbed profile, which is live again. Keys first seen
    after the merge stay with the survivor."""
    if absorbed.merged_into != survivor.id or absorbed.id not in survivor.absorbed:
        raise UnknownMerge(f"merge {merge.id} is not in effect (already reversed?)")
    if survivor.merged_into is not None:
        raise UnknownMerge(
            f"merge {merge.id}: {survivor.id} was merged into {survivor.merged_into} since; undo that first"
        )
    back = tuple(k for k in merge.moved if k in survivor.identifiers)
    gone = set(back)
    s = replace(
        survivor,
        identifiers=tuple(k for k in survivor.identifiers if k not in gone),
        absorbed=tuple(x for x in survivor.absorbed if x != absorbed.id),
    )
    a = replace(absorbed, identifiers=back, merged_into=None)
    return s, a
