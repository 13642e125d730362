"""Fixtures of the Python binding tests: one real server for the session,
and a phone registered on it through the generated bindings."""

import asyncio

import pytest

from harness import MARI, KaksikServer, Phone


@pytest.fixture(scope="session")
def server():
    running = KaksikServer()
    yield running
    running.close()


@pytest.fixture(scope="session")
def registered(server):
    """Mari's phone, registered, and the account the server reports."""
    phone = Phone(server, server.temp_dir("phone"))
    account = asyncio.run(phone.register(MARI))
    return phone, account
