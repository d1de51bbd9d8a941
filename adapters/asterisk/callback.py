"""Callback: a waiting caller presses a key, hangs up and keeps its place;
when its turn comes the ACD rings the agent first, then the customer.

1. The key press arrives as an AMI ``DTMFEnd`` on the caller's channel
   (AMI sees it while the AGI session idles on music on hold, at no cost to
   the Dial of an offer, which a polling ``WAIT FOR DIGIT`` would delay).
   :meth:`VoiceCalls.key_pressed` hands the contact over here and the caller
   goes back to the dialplan with ``ACD_RESULT=callback``.
2. The contact stays in its queue untouched: same place, priority, skills,
   escalation and statistics as if the caller still held.
3. When the engine offers it: ``Ringing``, then an async AMI ``Originate``
   of the agent's endpoint, with the customer's number as caller id, which
   once answered runs ``AGI(agi://<this server>/callback/<contact>)``.
   ``OriginateResponse`` Success (Reason 4) → Accept; Failure → NoAnswer
   (Reason 3 no answer, 5 busy, 8 congestion, anything else unavailable),
   so the next agent is tried as for any call.
4. That AGI session is the agent's leg: it dials ``callback_dial`` with the
   customer's number; when the Dial returns the contact ends (wrap-up), by
   the customer if the Dial was answered and returned 0 (option ``g``), else
   by the agent. A customer who does not answer ends it too, logged as
   ``callback-failed`` (no retry yet).

Every Originate runs in a task this object owns and cancels at stop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acd import commands as cmds
from acd import events as ev
from acd.adapters.daemon.conversations import Conversation
from acd.states import CONNECTED, OFFERED

if TYPE_CHECKING:
    from acd.adapters.asterisk.fastagi import CallSession, VoiceCalls

log = logging.getLogger("acd.callback")

# How long past its ring time an Originate may take to report before the
# engine's own offer timer gives up on it (a link lost mid-Originate).
ORIGINATE_GRACE_S = 5.0
NUMBER = re.compile(r"\+?[0-9]{3,20}")
# OriginateResponse Reason: the last control frame (AST_CONTROL_*) the agent's channel sent.
_REASONS = {"3": "no-answer", "5": "busy", "8": "congestion"}


@dataclass(slots=True)
class Pending:
    """A contact whose caller asked to be called back."""

    contact_id: str
    number: str  # the customer's, from the caller id
    queue: str
    agi_base: str  # agi://host:port, as Asterisk reached us
    agent_id: str | None = None  # the agent being rung, then talking
    leg: str | None = None  # that agent's originated channel (its Uniqueid)


class Callbacks:
    def __init__(self, voice: VoiceCalls) -> None:
        self.voice = voice
        self.pending: dict[str, Pending] = {}
        self._legs = itertools.count(1)
        self._running: set[asyncio.Task[None]] = set()
        voice.hub.runner.listen(self.on_events)

    @staticmethod
    def can_call(number: str | None) -> bool:
        return number is not None and NUMBER.fullmatch(number) is not None

    def keep(self, contact_id: str, number: str, queue: str, agi_base: str, journal: bool = True) -> None:
        self.pending[contact_id] = Pending(contact_id, number, queue, agi_base)
        j = self.voice.hub.journal
        if journal and j is not None:  # a restart still calls back (the record ends with its contact)
            j.append({"k": "cb", "id": contact_id, "number": number, "queue": queue, "agi": agi_base})
        conv = self.voice.hub.conversations.get(contact_id)
        if conv is not None:
            conv.sink = self  # the caller's session is over
        log.info("call %s: caller %s will be called back from queue %s", contact_id, number, queue)

    def deliver(self, conv: Conversation, frame: dict[str, Any]) -> None:
        """Nobody is on the line to hear frames for the customer."""

    async def stop(self) -> None:
        for t in self._running:
            t.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    # -------------------------------------------------------------- engine

    def on_events(self, events: list[ev.Event], seconds: float) -> None:
        """In the writer: ring agents for offered callbacks; forget finished
        ones. O(events)."""
        if not self.pending:
            return
        for e in events:
            if isinstance(e, ev.ContactOffered):
                p = self.pending.get(e.contact_id)
                if p is not None:
                    p.agent_id, p.leg = e.agent_id, None
                    task = asyncio.create_task(self._ring_agent(p, e.agent_id), name="acd-callback")
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
            elif isinstance(e, ev.OfferEnded | ev.ContactTransferred):
                p = self.pending.get(e.contact_id)
                agent = e.agent_id if isinstance(e, ev.OfferEnded) else e.by_agent
                if p is not None and p.leg is not None and p.agent_id == agent:
                    self._hang_up(p)  # the engine took it from this agent: stop the phone
            elif isinstance(e, ev.ContactEnded):
                p = self.pending.pop(e.contact_id, None)
                if p is not None and e.by == "agent":
                    self._hang_up(p)  # ended from the desktop: end the phone call too
            elif isinstance(e, ev.ContactAbandoned | ev.ContactOverflowed):
                p = self.pending.pop(e.contact_id, None)
                if p is not None:
                    log.warning("callback to %s dropped: %s", p.number, type(e).__name__)

    def _hang_up(self, p: Pending) -> None:
        pbx = self.voice.pbx
        if pbx is not None and p.leg is not None:
            pbx.hang_up(p.leg)
        p.leg = None

    async def _ring_agent(self, p: Pending, agent_id: str) -> None:
        """Originate the agent's leg and turn its answer into Accept or NoAnswer."""
        cid = p.contact_id
        endpoint = self.voice.endpoint(agent_id)
        pbx = self.voice.pbx
        if endpoint is None or pbx is None or not pbx.connected:
            why = "no endpoint" if endpoint is None else "AMI is not connected"
            log.warning("callback %s: cannot ring agent %s: %s", cid, agent_id, why)
            await self.voice.submit(lambda now: cmds.NoAnswer(now, agent_id, cid, "unavailable"), cid)
            return
        ring = self.voice.ring_s(p.queue)
        # The engine's timer backs the Originate up: a link lost before the
        # answer leaves nobody else to end the offer.
        timeout = ring + ORIGINATE_GRACE_S
        if not await self.voice.submit(lambda now: cmds.Ringing(now, agent_id, cid, timeout), cid):
            return
        p.leg = f"acd-cb-{cid}-{next(self._legs)}"
        action = {
            "Channel": endpoint,
            "Timeout": str(ring * 1000),
            "CallerID": f'"Callback" <{p.number}>',
            "ChannelId": p.leg,
            "Application": "AGI",
            "Data": f"{p.agi_base}/callback/{cid}",
            "Variable": [f"ACD_CONTACT={cid}", f"ACD_QUEUE={p.queue}", f"ACD_CALLBACK={p.number}"],
        }
        try:
            answered, reason = await pbx.originate(action, timeout)
        except (ConnectionError, TimeoutError) as e:
            log.warning("callback %s: Originate to %s: %s", cid, endpoint, e)
            return
        if self.voice.contact_state(cid) != (OFFERED, agent_id):
            return  # the leg's AGI session (or the engine) got there first
        if answered:
            await self.voice.submit(lambda now: cmds.Accept(now, agent_id, cid), cid)
        else:
            p.leg = None
            why = _REASONS.get(reason, "unavailable")
            log.info("callback %s: agent %s did not answer (Reason %s)", cid, agent_id, reason)
            await self.voice.submit(lambda now: cmds.NoAnswer(now, agent_id, cid, why), cid)

    # ---------------------------------------------------------- agent's leg

    async def serve_leg(self, s: CallSession, cid: str) -> None:
        """The agent answered the Originate; its channel runs this AGI: call
        the customer, and end the contact when that call is over."""
        p = self.pending.get(cid)
        agent = p.agent_id if p is not None else None
        state = self.voice.contact_state(cid)
        if p is None or agent is None or state[1] != agent or state[0] not in (OFFERED, CONNECTED):
            await s.refuse("unknown-callback", f"no callback {cid!r} is ringing an agent")
            return
        if state[0] == OFFERED:  # the AGI can beat the OriginateResponse over the other socket
            await self.voice.submit(lambda now: cmds.Accept(now, agent, cid), cid)
        dial = self.voice.settings.callback_dial.replace("{number}", p.number)
        ring = max(1, math.ceil(self.voice.settings.callback_ring_s))
        status = "HANGUP"
        try:
            # g: a customer who hangs up returns 0 and the agent's leg goes on;
            # -1 means the agent hung up (transcripts 10, 11b).
            reply = await s.command(f'EXEC Dial "{dial},{ring},g"', None)  # returns when the call ends
            if reply.result != -1:
                status = (await s.command("GET VARIABLE DIALSTATUS")).data or "UNKNOWN"
        finally:
            if self.voice.contact_state(cid) == (CONNECTED, agent):
                if status == "ANSWER":  # the customer hung up first
                    await self.voice.submit(lambda now: cmds.Abandon(now, cid), cid)
                else:
                    await self.voice.submit(lambda now: cmds.EndContact(now, agent, cid), cid)
        if status not in ("ANSWER", "HANGUP"):
            log.warning("callback %s to %s: the customer did not answer (%s)", cid, p.number, status)
        if not s.gone:
            await s.set_variable("ACD_RESULT", "answered" if status == "ANSWER" else "callback-failed")
