"""Commands are dispatched by type (timeline.application.HANDLERS), not by method names in
strings: every wire command has exactly one handler, and each handler takes that command."""

from __future__ import annotations

import typing

from timeline import commands as c
from timeline.application import HANDLERS


def test_every_wire_command_has_a_handler_and_nothing_else_does() -> None:
    assert set(HANDLERS) == set(c.COMMANDS.values())


def test_each_handler_is_declared_for_the_command_it_handles() -> None:
    for command, handler in HANDLERS.items():
        accepted = typing.get_args(typing.get_type_hints(handler)["command"])
        assert command in accepted, (command.__name__, handler.__name__)
