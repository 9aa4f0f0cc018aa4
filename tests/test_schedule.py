"""The run order: each host's checks as soon as its facts are in, otherwise as collected."""

from __future__ import annotations

from maintcheck.schedule import ReadyFirst


def order_of(items: list[str], ready: set[str], changes: list[int]) -> ReadyFirst[str, str]:
    """Items named ``check@host``; a host is ready once in ``ready``, looked at again only when
    ``changes`` grows (as the fact cache's progress does)."""
    return ReadyFirst(items, key=lambda i: i.partition("@")[2] or None,
                      ready=lambda host: host in ready, progress=lambda: len(changes))


def test_ready_items_come_in_their_order_and_the_others_once_their_host_is_in() -> None:
    ready, changes = {"h1"}, [1]
    order = order_of(["a@h1", "b@h2", "manual", "c@h1", "d@h2", "e@h3"], ready, changes)
    assert [order.take(), order.take(), order.take()] == ["a@h1", "manual", "c@h1"]

    def arrival() -> bool:  # h2 comes in; h3 is still out
        ready.add("h2")
        changes.append(1)
        return True

    assert [order.take(arrival), order.take(arrival)] == ["b@h2", "d@h2"]
    assert len(order) == 1


def test_when_nothing_can_change_the_first_item_comes_next_ready_or_not() -> None:
    order = order_of(["x@slow", "y@slower", "z@slow"], set(), [])
    assert order.take(lambda: False) == "x@slow"  # its own check then waits, or errors
    assert [order.take(lambda: False), order.take(lambda: False)] == ["y@slower", "z@slow"]
    assert order.take() is None and len(order) == 0


def test_readiness_is_asked_again_only_when_progress_changes() -> None:
    asked: list[str] = []
    changes = [1]

    def ready(host: str) -> bool:
        asked.append(host)
        return host == "h1"

    order = ReadyFirst([f"c{i}@h{i % 2}" for i in range(6)],
                       key=lambda i: i.partition("@")[2], ready=ready, progress=lambda: len(changes))
    assert [order.take(), order.take(), order.take()] == ["c1@h1", "c3@h1", "c5@h1"]
    assert sorted(asked) == ["h0", "h1"]  # once each, not once per take
