"""The sample Asterisk files in config/asterisk/ are a complete, loadable
set: every ACD_RESULT the code can set has a branch, every branch ends,
every queue, mailbox and endpoint they name is defined, and the AMI user may
do what the link asks for."""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from pathlib import Path

from acd.adapters.asterisk.ami import EVENT_CLASSES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "asterisk"
ENDS = {"Hangup", "Goto"}


def sections(name: str) -> dict[str, list[tuple[str, str]]]:
    """[section] -> (key, value) lines of an Asterisk .conf file (a section may repeat)."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    current = ""
    for raw in (SAMPLES / name).read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            current = line[1 : line.index("]")]
            out.setdefault(current, [])
            continue
        key, _, value = line.partition("=>") if "=>" in line else line.partition("=")
        out[current].append((key.strip(), value.strip()))
    return out


def dialplan() -> dict[tuple[str, str], list[str]]:
    """(context, extension) -> its applications in priority order."""
    plan: dict[tuple[str, str], list[str]] = {}
    for context, lines in sections("extensions.conf").items():
        exten = ""
        for key, value in lines:
            if key == "exten":
                exten, _, rest = value.partition(",")
                plan[(context, exten)] = []
                value = rest.partition(",")[2]
            elif key != "same":
                continue
            else:
                value = value.partition(",")[2]
            app = re.match(r"(?:\([\w-]+\))?\s*(\w+)", value.partition(",")[0] if "(" not in value else value)
            assert app is not None, value
            plan[(context, exten)].append(app.group(1))
    return plan


def code_results() -> set[str]:
    src = "".join(p.read_text() for p in (ROOT / "adapters" / "asterisk").glob("*.py"))
    found = set(re.findall(r'set_variable\("ACD_RESULT", "([\w-]+)"\)', src))
    for call in re.findall(r"_Finish\(([^)]*)\)", src):  # _Finish("closed" if ... else "overflow")
        found |= set(re.findall(r'"([\w-]+)"', call))
    return found - {"callback-failed"}  # set on the originated callback leg, which has no dialplan after it


def test_every_acd_result_has_a_branch_and_every_branch_ends() -> None:
    plan = dialplan()
    results = code_results()
    assert {"answered", "overflow", "closed", "handoff", "callback", "error", "shutdown"} <= results
    for value in [*results, "fallback", "i"]:
        assert ("acd-result", value) in plan, value
    for (context, exten), apps in plan.items():
        assert apps and apps[-1] in ENDS, f"[{context}] {exten} falls through after {apps[-1:]}"
    entry = plan[("from-pstn", "5000")]
    assert "AGI" in entry and entry[-1] == "Goto"


def test_what_the_samples_name_is_defined() -> None:
    text = (SAMPLES / "extensions.conf").read_text()
    queues = sections("queues.conf")
    for q in re.findall(r"Queue\(([\w-]+)", text):
        assert q in queues, q
    boxes = {(ctx, k) for ctx, lines in sections("voicemail.conf").items() for k, _ in lines}
    for box, ctx in re.findall(r"VoiceMail\((\w+)@(\w+)", text):
        assert (ctx, box) in boxes, box
    pjsip = sections("pjsip.conf")
    config = tomllib.loads((ROOT / "config" / "acd.toml").read_text())
    endpoints = [a["endpoint"] for a in config["agents"].values() if "endpoint" in a]
    members = [v for k, v in queues["sales-fallback"] if k == "member"]
    for endpoint in [*endpoints, *members]:
        assert endpoint.removeprefix("PJSIP/") in pjsip, endpoint
    assert "trunk" in pjsip and "@trunk" in text


def test_the_ami_user_may_read_and_do_what_the_link_asks() -> None:
    user = dict(sections("manager.conf")["acd"])
    assert set(EVENT_CLASSES.split(",")) <= set(user["read"].split(","))
    assert "system" in user["write"].split(",")  # the Filter action
