"""The one route grammar: what a route path may say, how it matches, and HEAD / OPTIONS."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from plugyard_sdk import routing
from plugyard_sdk._collect import NoRoute, collect
from plugyard_sdk.manifest import parse_manifest
from plugyard_sdk.plugin import Plugin
from plugyard_sdk.problems import PackageInvalid
from plugyard_sdk.routing import HTTP_METHODS, Match, RouteError, match, parse
from plugyard_sdk.sbh import route

UUID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@dataclass
class R:
    """A route as `match` sees it: a parsed pattern and its methods."""

    path: str
    methods: tuple[str, ...] = ("GET",)

    @property
    def pattern(self) -> routing.RoutePattern:
        return parse(self.path)


def params(path: str, request: str) -> dict | None:
    return parse(path).match(request)


# -- the grammar ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "request_path", "expected"),
    [
        ("/", "/", {}),
        ("/ping", "/ping/", {}),
        ("/users/<user_id>", "/users/42", {"user_id": "42"}),  # SBH guide
        ("/devices/{device_id}/stats", "/devices/dev-1/stats", {"device_id": "dev-1"}),  # Ops-Center guide
        ("/items/<str:x>", "/items/a.b", {"x": "a.b"}),
        ("/items/{x:str}", "/items/a.b", {"x": "a.b"}),
        ("/items/<int:n>", "/items/7", {"n": 7}),
        ("/items/{n:int}", "/items/7", {"n": 7}),
        ("/tags/<slug:s>", "/tags/a-b_c9", {"s": "a-b_c9"}),
        ("/things/<uuid:u>", f"/things/{UUID}", {"u": UUID}),
        ("/things/{u:uuid}", f"/things/{UUID}", {"u": UUID}),
        ("/files/<path:p>", "/files/a/b/c.txt", {"p": "a/b/c.txt"}),
        ("/files/{p:path}/edit", "/files/a/b/edit", {"p": "a/b"}),
    ],
)
def test_every_converter_in_both_spellings_matches_and_converts(path, request_path, expected) -> None:
    assert params(path, request_path) == expected


@pytest.mark.parametrize(
    ("path", "request_path"),
    [
        ("/items/<int:n>", "/items/-1"),  # Django's int: digits only
        ("/items/<int:n>", "/items/1.5"),
        ("/items/<int:n>", "/items/" + "9" * 5000),  # int() refuses it: no match, not a crash
        ("/tags/<slug:s>", "/tags/a.b"),
        ("/things/<uuid:u>", "/things/not-a-uuid"),
        ("/things/<uuid:u>", f"/things/{UUID.upper()}"),  # Django's uuid: lowercase
        ("/users/<user_id>", "/users/1/2"),
        ("/users/<user_id>", "/users"),
    ],
)
def test_values_a_converter_refuses_do_not_match(path, request_path) -> None:
    assert params(path, request_path) is None


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/items/<float:x>", "unknown converter 'float' in '<float:x>'; valid converters are int, path, slug, str, uuid"),
        ("/items/{x:float}", "unknown converter 'float'"),
        ("/items/<uuid4:x>", "unknown converter 'uuid4'"),
        ("ping", "must start with '/'"),
        ("/a b", "the character ' '"),
        ("/a//b", "empty segment"),
        ("//", "empty segment"),
        ("/a/<x>/<x>", "repeats the parameter 'x'"),
        ("/a/<x>/{x}", "repeats the parameter 'x'"),
        ("/<1x>", "parameter name '1x'"),
        ("/<>", "parameter name ''"),
        ("/f/<name>.json", "not one parameter"),
        ("/f/<x", "not one parameter"),
        ("/<path:a>/<path:b>", "more than one path parameter"),
        ("/" + "a" * 200, "longer than 200"),
    ],
)
def test_a_path_the_grammar_refuses_says_why(path, says) -> None:
    with pytest.raises(RouteError) as refused:
        parse(path)
    assert says in str(refused.value)
    assert repr(path[:100]) in str(refused.value)


def test_route_key_blanks_parameters_whatever_their_spelling() -> None:
    assert routing.route_key("/a/<int:x>") == routing.route_key("/a/{y}") == routing.route_key("/a/<z>/") == "/a/<>"
    assert routing.route_key("not a path") == "not a path"


def test_matching_stays_linear_on_a_hostile_path() -> None:
    pattern = parse("/<a>/x/<path:rest>/y")
    started = time.perf_counter()
    assert pattern.match("/" + "x/" * 20000 + "z") is None
    assert time.perf_counter() - started < 0.5


# -- methods, HEAD and OPTIONS ------------------------------------------------------------


def test_methods_are_one_list_and_an_unknown_one_is_named() -> None:
    assert HTTP_METHODS == ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    assert routing.parse_methods(None) == ["GET"]
    assert routing.parse_methods(["post", "GET", "post"]) == ["POST", "GET"]
    with pytest.raises(RouteError, match="unknown HTTP method 'FETCH'; use GET, POST"):
        routing.parse_methods(["FETCH"])


def test_match_picks_the_route_for_the_method_and_converts() -> None:
    get, post = R("/items/<int:n>"), R("/items/<int:n>", ("POST",))
    found = match([get, post], "/items/3", "POST")
    assert isinstance(found, Match) and found.route is post and found.params == {"n": 3}


def test_head_is_answered_by_the_get_route_unless_one_declares_head() -> None:
    get = R("/a")
    found = match([get], "/a", "HEAD")
    assert isinstance(found, Match) and found.route is get
    head = R("/a", ("HEAD",))
    found = match([get, head], "/a", "HEAD")
    assert isinstance(found, Match) and found.route is head


def test_a_path_that_matches_with_another_method_lists_what_it_allows() -> None:
    routes = [R("/a", ("POST",)), R("/a", ("GET", "DELETE"))]
    assert match(routes, "/a", "PUT") == ("GET", "POST", "DELETE", "HEAD", "OPTIONS")
    assert match(routes, "/a", "OPTIONS") == ("GET", "POST", "DELETE", "HEAD", "OPTIONS")
    assert match([R("/a", ("POST",))], "/a", "GET") == ("POST", "OPTIONS")
    assert match(routes, "/b", "GET") == ()


def test_a_declared_options_route_answers_options() -> None:
    options = R("/a", ("OPTIONS",))
    found = match([R("/a"), options], "/a", "OPTIONS")
    assert isinstance(found, Match) and found.route is options


# -- used everywhere: decorators, the jail's collector, the manifest ----------------------


def test_the_decorators_refuse_a_bad_path_when_the_module_loads() -> None:
    with pytest.raises(RouteError, match="unknown converter 'float'"):
        route("/items/<float:x>")
    with pytest.raises(RouteError, match="unknown converter 'uuid4'"):
        Plugin("p").route("/items/{x:uuid4}")
    with pytest.raises(RouteError, match=r"plugin.route\('/a'\): unknown HTTP method 'FETCH'"):
        Plugin("p").route("/a", methods=["FETCH"])


def test_the_collector_matches_with_the_grammar_and_never_matches_a_hand_marked_bad_path() -> None:
    @route("/things/<uuid:u>", methods=["GET"])
    def thing(ctx, u):
        return u

    def sneaky(ctx, x):
        return x

    sneaky.__plugyard__ = [{"type": "route", "path": "/items/<float:x>", "methods": ["GET"], "style": "sbh"}]
    registry = collect([{"thing": thing, "sneaky": sneaky}])
    reg, found = registry.match_route("HEAD", f"/things/{UUID}")
    assert reg.handler == "thing" and found == {"u": UUID}
    assert [r.describe()["path"] for r in registry.routes] == ["/things/<uuid:u>", "/items/<float:x>"]
    with pytest.raises(NoRoute) as missing:
        registry.match_route("GET", "/items/1.5")
    assert missing.value.allowed == []
    with pytest.raises(NoRoute) as wrong:
        registry.match_route("POST", f"/things/{UUID}")
    assert wrong.value.allowed == ["GET", "HEAD", "OPTIONS"]


def _manifest(path: str) -> bytes:
    return (b'{"slug": "p1", "name": "P", "version": "1.0.0", "routes": [{"path": "%s"}]}' % path.encode())


def test_the_manifest_checks_paths_with_the_same_grammar() -> None:
    assert parse_manifest("plugin.json", _manifest("/things/<uuid:u>")).routes[0].path == "/things/<uuid:u>"
    with pytest.raises(PackageInvalid) as refused:
        parse_manifest("plugin.json", _manifest("/items/<float:x>"))
    [problem] = refused.value.problems
    assert problem.field == "routes[0].path" and problem.code == "invalid_route"
    assert "unknown converter 'float'" in problem.message
