"""Identity resolution, sans-I/O: normalisation, linking, merge and unmerge,
and the property that the grouping of identifiers does not depend on the
order contacts arrive in."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.identity import BadIdentifier, Profile, UnknownMerge, key, keys, normalise_phone, resolve, unmerge


@pytest.mark.parametrize(
    ("raw", "cc", "want"),
    [
        ("+86 138-0013-8000", None, "+8613800138000"),
        ("0086 13800138000", None, "+8613800138000"),
        ("(555) 123-0001", "1", "+15551230001"),
        ("030 1234567", "49", "+49301234567"),
        ("15551230001", None, "15551230001"),
    ],
)
def test_phone_numbers_become_e164(raw: str, cc: str | None, want: str) -> None:
    assert normalise_phone(raw, cc) == want


def test_keys_normalise_and_report_what_they_drop() -> None:
    assert key("email", " Li@Example.COM ") == "email:li@example.com"
    assert key("wechat", "oAbC123") == "wechat:oAbC123"  # openids are case-sensitive
    got, problems = keys({"phone": "anonymous", "email": "LI@x.cn", "crm": "42"})
    assert got == ["email:li@x.cn", "crm:42"]
    assert problems == ["not a phone number: 'anonymous'"]
    for kind, value in [("Phone", "1"), ("email", "nobody"), ("crm", ""), ("crm", "x" * 201)]:
        with pytest.raises(BadIdentifier):
            key(kind, value)


class Directory:
    """The simplest store: a dict per table, as the real ones keep them."""

    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.owner: dict[str, str] = {}
        self.merges = []  # type: ignore[var-annotated]
        self.ids = itertools.count(1)
        self.now = 0.0

    def contact(self, *contact_keys: str) -> Profile:
        self.now += 1
        found = {k: self.profiles[self.owner[k]] for k in contact_keys if k in self.owner}
        r = resolve(contact_keys, found, self.now, lambda prefix: f"{prefix}{next(self.ids)}")
        for p in r.writes:
            self.profiles[p.id] = p
            for k in p.identifiers:
                self.owner[k] = p.id
        self.merges.extend(r.merges)
        return r.profile

    def groups(self) -> set[frozenset[str]]:
        return {frozenset(p.identifiers) for p in self.profiles.values() if p.merged_into is None}


def test_a_contact_with_keys_of_two_customers_merges_them_reversibly() -> None:
    d = Directory()
    phone = d.contact("phone:+15551230001")
    chat = d.contact("webchat:u-7", "crm:42")
    assert phone.id != chat.id and len(d.groups()) == 2
    same = d.contact("crm:42", "phone:+15551230001", "email:li@x.cn")
    assert same.id == phone.id  # the older profile survives
    assert set(same.identifiers) == {"phone:+15551230001", "webchat:u-7", "crm:42", "email:li@x.cn"}
    assert same.absorbed == (chat.id,) and d.profiles[chat.id].merged_into == phone.id
    (merge,) = d.merges
    assert merge.moved == ("webchat:u-7", "crm:42")
    s, a = unmerge(merge, d.profiles[phone.id], d.profiles[chat.id])
    assert s.identifiers == ("phone:+15551230001", "email:li@x.cn") and s.absorbed == ()
    assert a.identifiers == ("webchat:u-7", "crm:42") and a.merged_into is None
    with pytest.raises(UnknownMerge):
        unmerge(merge, s, a)


def test_known_keys_add_nothing_and_new_ones_are_added() -> None:
    d = Directory()
    p = d.contact("phone:+1555")
    again = resolve(["phone:+1555"], {"phone:+1555": p}, 9.0, lambda _: "unused")
    assert again.writes == () and not again.created and again.profile == p
    more = resolve(["phone:+1555", "email:a@b"], {"phone:+1555": p}, 9.0, lambda _: "unused")
    assert more.profile.identifiers == ("phone:+1555", "email:a@b") and more.writes == (more.profile,)


KEYS = [f"{kind}:{n}" for kind in ("phone", "email", "chat") for n in range(4)]


def components(contacts: list[list[str]]) -> set[frozenset[str]]:
    """Connected components of 'seen on one contact', the slow obvious way."""
    groups: list[set[str]] = []
    for c in contacts:
        joined = set(c)
        for g in [g for g in groups if g & joined]:
            joined |= g
            groups.remove(g)
        groups.append(joined)
    return {frozenset(g) for g in groups}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
def test_grouping_does_not_depend_on_arrival_order(contacts: list[list[str]], rnd: object) -> None:
    shuffled = list(contacts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    want = components(contacts)
    for order in (contacts, shuffled):
        d = Directory()
        for c in order:
            got = d.contact(*c)
            assert set(c) <= set(got.identifiers)  # the contact's customer holds its keys
        assert d.groups() == want
        owners = [p.id for p in d.profiles.values() for _ in p.identifiers]
        assert len(owners) == len({k for p in d.profiles.values() for k in p.identifiers})  # no key twice
