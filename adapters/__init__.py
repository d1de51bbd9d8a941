"""The imperative shell: every piece of I/O the ACD does lives here.

Installed as ``acd.adapters`` (``acd/adapters`` is a link to this folder) so no
generic top-level ``adapters`` module lands in site-packages. Adapters
translate wire data (AMI, FastAGI, HTTP, WebSocket, Redis) into engine
commands and engine events back onto the wire; the engine never sees a socket.
"""
