"""A publisher's hostile plugin: each route attacks the host side of the sandbox a different way.

The gadgets reach the worker's own channel to the host through the SDK's globals (as
tests/sandbox/attacks/a13 does): Python-level layers cannot stop that, so what must hold
is the host's deadlines and its distrust of every frame.
"""
from _escape import full_python
from src.ext.sdk import PluginContext, hook, route


def _channel():
    runtime = PluginContext.__init__.__globals__["current_backend"].__globals__["_runtime"]
    backend = runtime.backend
    return backend._worker.fd, type(backend).call.__globals__["protocol"]


@route("/never-reads", methods=["GET"])
def never_reads(ctx):
    """Send host calls without ever reading the answers: the host's writes fill the socket."""
    fd, protocol = _channel()
    os = full_python()("os")
    batch = protocol.encode({"op": "rpc", "id": 1, "method": "config.get", "args": {}}) * 512
    while True:
        os.write(fd, batch)


@route("/answer-then-spin", methods=["GET"])
def answer_then_spin(ctx):
    """Send our own "done" for this call, then keep burning CPU the call is not paying for."""
    fd, protocol = _channel()
    python = full_python()
    frame = python("sys")._getframe()
    while frame is not None and "reply" not in frame.f_locals:
        frame = frame.f_back
    reply = dict(frame.f_locals["reply"], status="ok", value={"answered": True}, logs=[])
    python("os").write(fd, protocol.encode(reply))
    n = 0
    while True:
        n += 1


@route("/flood", methods=["GET"])
def flood(ctx):
    """As many host calls as the host will answer, well past the per-call budget."""
    while True:
        try:
            ctx.storage.get("key")
        except Exception:
            pass


@route("/nested", methods=["GET"])
def nested(ctx):
    value = []
    for _ in range(100_000):
        value = [value]
    return {"value": value}


@route("/nan", methods=["GET"])
def nan(ctx):
    return {"value": float("nan")}


@route("/raw-nan", methods=["GET"])
def raw_nan(ctx):
    """Write the answer frame by hand, with a NaN the worker's own check would have refused."""
    fd, _protocol = _channel()
    python = full_python()
    frame = python("sys")._getframe()
    while frame is not None and "reply" not in frame.f_locals:
        frame = frame.f_back
    request_id = frame.f_locals["reply"]["id"]
    body = f'{{"op":"done","id":{request_id},"status":"ok","value":NaN}}'.encode()
    python("os").write(fd, len(body).to_bytes(4, "big") + body)
    while True:
        pass


@hook("device.created")
def spin(ctx, event_data):
    if event_data.get("device_data", {}).get("name") == "nan":
        return {"value": float("nan")}
    while True:
        pass
