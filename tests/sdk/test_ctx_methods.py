"""The ctx method table: one source for the host bridge, the sandbox, the jail's client and the fakes.

Given the table in ``plugyard_sdk.ctx_methods``, then every reader agrees with it: each
method has a host handler, a sandbox test double and a local fake whose signatures are
its arguments, and nothing serves a method outside it; a call is refused the same way
wherever it is made; a method's budget holds through a real sandbox call; and the SDK's
runtime never imports its test kit.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from plugyard_sdk import ctx_methods
from plugyard_sdk._local import LocalBackend
from plugyard_sdk.context import HostError, PluginContext, _runtime
from plugyard_sdk.ctx_methods import (
    CTX_METHODS,
    JSON_TYPES,
    RESOURCE_DEPENDENT,
    CallBudget,
    CallRefused,
    check_call,
    resolve_budgets,
)
from plugyard_sdk.permissions import ALL_PERMISSIONS
from plugyard_sdk.plugin import Plugin
from plugyard_sdk.testing import MockScheduler, MockStorage, run_sync

from plugins_core.host.bridge import InstallationBridge
from plugins_core.sandbox import DictBridge, Invocation, SandboxPolicy, Supervisor
from plugins_core.sandbox.bridge import BRIDGE_METHODS, BridgeError, answer_rpc
from plugins_core.sandbox.jail import SDK_RUNTIME_FILES
from plugins_core.sandbox.policy import SDK_RUNTIME_MODULES

SDK_ROOT = Path(ctx_methods.__file__).resolve().parents[1]
GROUPS = sorted({name.split(".")[0] for name in CTX_METHODS})
HANDLER_RE = re.compile(rf"^_(?:{'|'.join(GROUPS)})(?:_[a-z_]+)?$")
SERVERS = {"host bridge": InstallationBridge, "sandbox DictBridge": DictBridge, "local backend": LocalBackend}


def _handler(cls: type, method: str) -> Any:
    return getattr(cls, "_" + method.replace(".", "_"), None)


# -- the table itself ----------------------------------------------------------------------

def test_every_row_is_well_formed() -> None:
    for name, spec in CTX_METHODS.items():
        assert spec.name == name
        assert spec.permission in (None, RESOURCE_DEPENDENT) or spec.permission in ALL_PERMISSIONS, name
        assert (spec.generic_permission is None) or (spec.permission == RESOURCE_DEPENDENT
                                                     and spec.generic_permission in ALL_PERMISSIONS), name
        assert isinstance(spec.budget, int) and spec.budget > 0, name
        assert len(set(spec.arg_names)) == len(spec.args), name
        for arg in spec.args:
            assert arg.types and set(arg.types) <= JSON_TYPES, (name, arg)


def test_the_sandbox_serves_exactly_the_table() -> None:
    assert BRIDGE_METHODS == tuple(CTX_METHODS)


@pytest.mark.parametrize("server", SERVERS, ids=list(SERVERS))
def test_every_method_has_a_handler_whose_signature_is_its_row(server: str) -> None:
    cls = SERVERS[server]
    for name, spec in CTX_METHODS.items():
        handler = _handler(cls, name)
        assert handler is not None, f"{server} has no handler for {name}"
        params = list(inspect.signature(handler).parameters.values())[1:]  # without self
        assert [p.kind for p in params if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)] == [], (server, name)
        signature = {p.name: p.default is inspect.Parameter.empty for p in params}
        assert signature == {a.name: a.required for a in spec.args}, f"{server}.{name}: {signature}"


@pytest.mark.parametrize("server", SERVERS, ids=list(SERVERS))
def test_no_handler_serves_a_method_outside_the_table(server: str) -> None:
    handlers = {n for n in dir(SERVERS[server]) if HANDLER_RE.match(n)}
    served = {"_" + name.replace(".", "_") for name in CTX_METHODS}
    assert handlers - served == set()


def test_the_jails_client_reaches_every_method_with_arguments_the_table_accepts() -> None:
    """Every ctx service a plugin can call (both styles), run against a checking local host."""
    backend = LocalBackend(tables={"devices": [{"id": 1, "name": "r1"}]})
    ctx = PluginContext("t", "u", backend=backend)
    ctx.secrets.get("API_KEY")
    ctx.http.post("https://api.example.com/x", json={"a": 1}, headers={"X": "1"}, timeout=2)
    ctx.db.query("devices", {"name": "r1"}, limit=5)
    ctx.db.get_by_id("devices", 1)
    row = ctx.db.insert("devices", {"name": "r2"})
    ctx.db.update("devices", row["id"], {"name": "r3"})
    ctx.files.upload("a.txt", "text")
    ctx.files.upload("b.bin", b"\x00\x01", content_type="application/octet-stream")
    ctx.files.list("")
    ctx.files.read("a.txt")
    ctx.files.delete("a.txt")
    ctx.llm.run("summarise", max_tokens=10)
    ctx.send_email(["a@example.com"], "Hi", "body", html="<p>body</p>")
    ctx.emit("report.generated", {"ok": True})

    previous, _runtime.backend = _runtime.backend, backend
    try:
        plugin = Plugin("client-coverage")
        storage, scheduler, api, config = plugin.storage, plugin.scheduler, plugin.api, plugin.config
        for call in (storage.set("device:1", {"n": 1}), storage.get("device:1"), storage.exists("device:1"),
                     storage.list_keys("device:*"), storage.delete("device:1"), storage.clear(),
                     config.save(), config.reload(), api.devices.list(name="r1"), api.devices.get(1),
                     api.devices.create({"name": "r4"}), api.alerts.acknowledge(7),
                     scheduler.run_at(datetime(2030, 1, 1), "remember", k=1),
                     scheduler.run_in(timedelta(seconds=5), "remember"),
                     scheduler.schedule("*/5 * * * *", "check", "remember"), scheduler.cancel("task-1"),
                     scheduler.cancel_all()):
            run_sync(call)
        scheduler.get_tasks()
    finally:
        _runtime.backend = previous
    assert {method for method, _ in backend.calls} == set(CTX_METHODS)


# -- arguments -----------------------------------------------------------------------------

BAD_CALLS = [
    ("db.query", {"table": "devices", "sql": "DROP TABLE x"}, "ctx.db.query: unexpected argument 'sql'"),
    ("db.insert", {"table": "devices"}, "ctx.db.insert: missing argument 'data'"),
    ("db.get_by_id", {"table": "devices", "id": 1.5}, "ctx.db.get_by_id: argument 'id' must be a string or an integer, not number"),
    ("storage.get", {"key": 5}, "ctx.storage.get: argument 'key' must be a string, not integer"),
    ("secrets.get", {"name": None}, "ctx.secrets.get: argument 'name' must be a string, not null"),
    ("db.query", {"table": "devices", "limit": True}, "ctx.db.query: argument 'limit' must be an integer, not boolean"),
    ("emit", {"event_type": "a.b", "data": [1]}, "ctx.emit: argument 'data' must be an object, not array"),
    ("config.get", ["x"], "ctx.config.get: arguments must be an object"),
    ("storage.set", {"key": "k", "value": object()}, "ctx.storage.set: argument 'value' must be a JSON value, not a Python object"),
]


@pytest.mark.parametrize(("method", "args", "message"), BAD_CALLS, ids=[m for m, _, _ in BAD_CALLS])
def test_a_bad_argument_is_named(method: str, args: Any, message: str) -> None:
    with pytest.raises(CallRefused) as refused:
        check_call(method, args)
    assert str(refused.value).startswith(message) and refused.value.code == "bad_arguments"
    assert isinstance(refused.value, HostError)


@pytest.mark.parametrize(("method", "args", "message"), BAD_CALLS[:-1], ids=[m for m, _, _ in BAD_CALLS[:-1]])
def test_the_fakes_refuse_bad_arguments_with_the_tables_message(method: str, args: Any, message: str) -> None:
    with pytest.raises(HostError, match=re.escape(message)):
        LocalBackend().call(method, args)
    answer = answer_rpc(DictBridge(permissions=set(ALL_PERMISSIONS)), {"method": method, "args": args})
    assert answer["ok"] is False and answer["error"]["message"].startswith(message)


def test_an_optional_argument_given_as_null_is_left_out() -> None:
    spec, clean = check_call("files.list", {"prefix": None})
    assert clean == {}
    assert check_call("storage.set", {"key": "k", "value": None})[1] == {"key": "k", "value": None}  # required: kept


def test_the_mocks_check_their_calls_against_the_table() -> None:
    with pytest.raises(HostError, match="ctx.storage.set: argument 'key' must be a string"):
        run_sync(MockStorage().set(42, "v"))
    with pytest.raises(HostError, match="ctx.scheduler.cancel: argument 'task_id' must be a string"):
        run_sync(MockScheduler().cancel(42))


# -- a method outside the table ------------------------------------------------------------

REFUSAL = "ctx: no host method 'os.system'"


def test_an_unknown_method_is_refused_the_same_way_by_every_fake() -> None:
    with pytest.raises(HostError) as local:
        LocalBackend().call("os.system", {"cmd": "id"})
    assert type(local.value) is HostError and str(local.value) == REFUSAL
    answer = answer_rpc(DictBridge(), {"method": "os.system", "args": {"cmd": "id"}})
    assert answer == {"ok": False, "error": {"type": "host", "message": REFUSAL}}
    with pytest.raises(BridgeError, match=re.escape(REFUSAL)):
        DictBridge().call("os.system", {"cmd": "id"})


# -- through a real sandbox call -----------------------------------------------------------

PLUGIN = '''from src.ext.sdk import HostError, job


@job("flood", schedule="0 * * * *")
def flood(ctx):
    refused = []
    for i in range(12):
        try:
            ctx.emit("report.generated", {"i": i})
        except HostError as exc:
            refused.append(str(exc))
    for i in range(3):
        ctx.secrets.get("API_KEY")  # another method: its own budget
    return refused


@job("strays", schedule="0 * * * *")
def strays(ctx):
    seen = []
    for method, args in (("os.system", {"cmd": "id"}), ("db.query", {"table": 5})):
        try:
            ctx.backend.call(method, args)
        except HostError as exc:
            seen.append(f"{type(exc).__name__}: {exc}")
    return seen
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ctx-plugin")
    (root / "main.py").write_text(PLUGIN)
    return root


@pytest.fixture(scope="module")
def supervisor() -> Any:
    sup = Supervisor(SandboxPolicy(hook_timeout_s=3.0, job_timeout_s=5.0))
    yield sup
    sup.close()


def _run(sup: Supervisor, plugin_dir: Path, job: str, bridge: Any) -> Any:
    result = sup.invoke(Invocation(f"ctx-table:{plugin_dir}", plugin_dir, "main.py", "inst-ctx", "job", job,
                                   context={"tenant_id": "t", "user_id": "u", "installation_id": "inst-ctx"}),
                        bridge)
    assert result.status == "ok", result
    return result.value


def test_the_emit_budget_holds_through_a_sandbox_call(supervisor: Supervisor, plugin_dir: Path) -> None:
    bridge = DictBridge(secrets={"API_KEY": "k"})
    refused = _run(supervisor, plugin_dir, "flood", bridge)
    budget = CTX_METHODS["emit"].budget
    assert budget == 10
    assert len(bridge.emitted) == budget
    assert refused == [f"ctx.emit: over the budget of {budget} calls per invocation"] * (12 - budget)
    assert bridge.budget.exceeded == {"emit": 12 - budget}
    assert [m for m, _ in bridge.calls].count("secrets.get") == 3  # a spent budget is per method


def test_a_budget_override_applies(supervisor: Supervisor, plugin_dir: Path) -> None:
    bridge = DictBridge(secrets={"API_KEY": "k"}, budgets={"emit": 2})
    refused = _run(supervisor, plugin_dir, "flood", bridge)
    assert len(bridge.emitted) == 2 and len(refused) == 10
    assert refused[0] == "ctx.emit: over the budget of 2 calls per invocation"


def test_the_jails_client_refuses_like_the_host(supervisor: Supervisor, plugin_dir: Path) -> None:
    bridge = DictBridge()
    seen = _run(supervisor, plugin_dir, "strays", bridge)
    assert seen == [f"HostError: {REFUSAL}", "HostError: ctx.db.query: argument 'table' must be a string, not integer"]
    assert bridge.calls == []  # refused in the jail: nothing crossed to the host


# -- budgets -------------------------------------------------------------------------------

def test_a_budget_counts_per_method_and_keeps_refusing() -> None:
    budget = CallBudget(resolve_budgets({"emit": 1}))
    budget.charge("emit")
    budget.charge("storage.get")
    for _ in range(2):
        with pytest.raises(CallRefused, match=r"^ctx\.emit: over the budget of 1 calls per invocation$"):
            budget.charge("emit")
    assert budget.exceeded == {"emit": 2} and budget.used == {"emit": 3, "storage.get": 1}


@pytest.mark.parametrize("overrides", [{"emitt": 5}, {"emit": -1}, {"emit": "10"}, {"emit": True}])
def test_a_bad_budget_setting_fails_loudly(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ctx budget for"):
        resolve_budgets(overrides)


# -- the runtime does not import its test kit ----------------------------------------------

_PROBE = """
import importlib, json, sys
sys.modules["plugyard_sdk.testing"] = None  # importing the test kit now raises ImportError
for name in sys.argv[1:]:
    importlib.import_module(name)
from plugyard_sdk import Plugin, PluginContext
ctx = PluginContext("test-tenant", "test-user")
ctx.emit("report.generated", {"ok": True})
ctx.secrets.get("API_KEY")
step = Plugin("probe").storage.set("k", 1).__await__()
try:
    step.send(None)
except StopIteration:
    pass
print(json.dumps(sorted(m for m, mod in sys.modules.items() if mod is not None and m.split(".")[0] == "plugyard_sdk")))
"""


def test_the_sdk_runtime_never_imports_its_test_kit() -> None:
    """Given the test kit blocked, the runtime modules import and work outside the sandbox."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *SDK_RUNTIME_MODULES], capture_output=True, text=True,
                          timeout=60, cwd=SDK_ROOT)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "plugyard_sdk.testing" not in loaded
    # ... and every SDK module the runtime loads is one the jail has.
    jail = {f[: -len(".py")].replace("/", ".").removesuffix(".__init__") for f in SDK_RUNTIME_FILES}
    assert set(loaded) <= jail, set(loaded) - jail
