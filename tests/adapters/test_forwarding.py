"""A forwarder's bounds, in-process against a running daemon as its owner:
the sockets it holds at once (``[cluster] forwarded_sockets``) and the body
it reads (the owner's limit) are refused beyond, with their codes."""

from __future__ import annotations

import aiohttp
import pytest

from acd.adapters.cluster.forwarding import Forwarder
from acd.adapters.cluster.lease import Owner
from acd.adapters.web.http_api import MAX_BODY
from tests.adapters.wsclient import AUTH, session


async def test_a_forwarder_holds_no_more_than_its_bound() -> None:
    async with session() as sess:
        fwd = Forwarder("b", "peer-secret", heartbeat_s=20.0, max_sockets=1)
        port, _ = await fwd.start("127.0.0.1", 0, None, None)
        fwd.point_to(Owner("a", f"http://127.0.0.1:{sess.server.bound_port}", None))
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                first = await http.ws_connect(f"{base}/v1/chat/ws")
                assert (await first.receive_json(timeout=5))["type"] == "hello"  # the owner's, through b
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(f"{base}/v1/chat/ws")
                assert refused.value.status == 503
                async with http.get(f"{base}/metrics") as r:
                    assert 'acd_forwarded_total{kind="refused"} 1' in await r.text()
                async with http.post(f"{base}/v1/contacts", data=b"x" * (MAX_BODY + 1), headers=AUTH) as r:
                    assert r.status == 413  # read no further than the owner would
                await first.close()
        finally:
            await fwd.stop()
