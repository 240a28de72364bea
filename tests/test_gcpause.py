"""gcpause: the cyclic collector is off during a bulk load and comes back as it was."""

from __future__ import annotations

import gc
import threading
import weakref

from vault import gcpause


def test_paused_and_restored_even_when_nested_or_raising() -> None:
    assert gc.isenabled()
    try:
        with gcpause.paused():
            assert not gc.isenabled()
            with gcpause.paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer pause still holds
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.isenabled()


def test_a_program_that_turned_the_collector_off_keeps_it_off() -> None:
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_during_a_pause_are_still_collected() -> None:
    class Node:
        pass

    with gcpause.paused():
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        probe = threading.Event()
        ref = weakref.ref(a, lambda _: probe.set())
        del a, b
    gc.collect()
    assert ref() is None and probe.is_set()
