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


def test_what_a_holder_froze_stays_frozen_through_pauses_until_released() -> None:
    """A vault kept open (the app, the session agent) freezes its objects with `hold`; a pause
    then neither thaws them nor counts them (gc.get_freeze_count walks every frozen object),
    and `release` gives them all back."""
    kept = [object() for _ in range(1000)]
    gcpause.hold()
    try:
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        with gcpause.paused():
            made = [[i] for i in range(1000)]
        assert gc.get_freeze_count() == frozen  # neither thawed nor frozen further
        gcpause.hold()  # a second hold (the app holds again once the bodies are read)
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gcpause.release()
    assert gc.get_freeze_count() == 0
    with gcpause.paused():
        pass
    assert gc.get_freeze_count() == 0  # the usual settling again
