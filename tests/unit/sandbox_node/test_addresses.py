"""Pod addresses: chosen from 198.18.0.2 upwards, added and removed through ``ip``, and recorded.

Pins: the lowest free address is chosen, skipping .0/.255 and taken ones; an address that already
exists on ``lo`` (someone else's) is skipped and never removed; a failing ``ip`` is an AddressError
naming the command; only added addresses are in the state file, and a new book on the same workdir
(a node that crashed) releases exactly those.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from sandbox.node.addresses import (
    AddressBook,
    AddressError,
    CommandResult,
    addresses_in,
    next_address,
    release_addresses,
)


class FakeIp:
    """``ip addr add/del`` over an in-memory ``lo``."""

    def __init__(
        self, present: Sequence[str] = (), refuse: int | None = None, exists_message: str = "File exists"
    ) -> None:
        self.present = set(present)
        self.refuse = refuse
        self.exists_message = exists_message
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(list(argv))
        if argv[1] == "-4":  # ip -4 -o addr show dev lo
            lines = [f"1: lo    inet {a}/32 scope global lo\\       valid_lft forever" for a in self.present]
            return CommandResult(0, "\n".join(lines))
        if self.refuse is not None:
            return CommandResult(self.refuse, "RTNETLINK answers: Operation not permitted")
        address = argv[3].removesuffix("/32")
        if argv[2] == "add":
            if address in self.present:
                return CommandResult(2, self.exists_message)
            self.present.add(address)
            return CommandResult(0, "")
        if address not in self.present:
            return CommandResult(2, "Error: ipv4: Address not found.")
        self.present.discard(address)
        return CommandResult(0, "")


def test_next_address_starts_at_2_and_skips_taken_and_edge_addresses() -> None:
    assert next_address(()) == "198.18.0.2"
    assert next_address({"198.18.0.2", "198.18.0.3"}) == "198.18.0.4"
    taken = {f"198.18.0.{i}" for i in range(2, 255)}
    assert next_address(taken) == "198.18.1.1"  # .255 and .0 skipped


def test_acquire_adds_a_32_to_lo_and_records_it(tmp_path: Path) -> None:
    ip = FakeIp()
    book = AddressBook(tmp_path, ip)
    first, second = book.acquire(), book.acquire()
    assert (first, second) == ("198.18.0.2", "198.18.0.3")
    assert ip.calls[0] == ["ip", "addr", "add", "198.18.0.2/32", "dev", "lo"]
    assert AddressBook(tmp_path, ip).owned() == {first, second}
    book.release(first)
    assert ip.present == {second} and book.owned() == {second}


@pytest.mark.parametrize(
    "exists_message",
    ["RTNETLINK answers: File exists", "Error: ipv4: Address already assigned.", "some future wording"],
)
def test_an_existing_address_is_skipped_and_never_removed(tmp_path: Path, exists_message: str) -> None:
    ip = FakeIp(present=["198.18.0.2"], exists_message=exists_message)  # another sandbox's
    book = AddressBook(tmp_path, ip)
    assert book.acquire() == "198.18.0.3"
    book.release("198.18.0.2")
    book.release_all()
    assert ip.present == {"198.18.0.2"}


def test_a_refused_add_names_the_command_and_the_capability(tmp_path: Path) -> None:
    book = AddressBook(tmp_path, FakeIp(refuse=2))
    with pytest.raises(AddressError) as exc:
        book.acquire()
    assert "`ip addr add 198.18.0.2/32 dev lo`" in str(exc.value) and "CAP_NET_ADMIN" in str(exc.value)
    assert book.owned() == set()


def test_release_addresses_cleans_up_what_a_crashed_node_added(tmp_path: Path) -> None:
    ip = FakeIp(present=["192.0.2.9"])
    crashed = AddressBook(tmp_path, ip)
    added = {crashed.acquire(), crashed.acquire()}
    assert sorted(release_addresses(tmp_path, ip)) == sorted(added)
    assert ip.present == {"192.0.2.9"}
    assert release_addresses(tmp_path, ip) == []


def test_an_address_already_gone_is_forgotten(tmp_path: Path) -> None:
    ip = FakeIp()
    book = AddressBook(tmp_path, ip)
    address = book.acquire()
    ip.present.clear()  # removed by hand
    book.release(address)
    assert book.owned() == set()


def test_addresses_are_read_from_ip_show_output() -> None:
    shown = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "1: lo    inet 198.18.0.6/32 scope global lo\\       valid_lft forever preferred_lft forever\n"
    )
    assert addresses_in(shown) == {"127.0.0.1", "198.18.0.6"}
