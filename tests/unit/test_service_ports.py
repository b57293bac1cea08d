"""The simulated services' ports are held for the simulator's life: nobody else can bind
one (a parallel test worker took a picked-then-released port once), while the service's own
process binds beside the reservation and gets every connection."""

from __future__ import annotations

import socket

import pytest

from local.worlds.services import reserve_port


def test_a_reserved_port_is_refused_to_others_and_served_by_its_owner() -> None:
    held = reserve_port()
    port = held.getsockname()[1]
    try:
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
        with socket.socket() as owner:
            owner.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            owner.bind(("127.0.0.1", port))
            owner.listen()
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                accepted, _ = owner.accept()
                accepted.close()
    finally:
        held.close()
