"""A phone's flows driven from Python through the generated bindings,
against a real server, with real relying parties checking every result."""

import asyncio

import kaksik
import pytest

from harness import MARI, PIN1, PIN2, FileStore, PyDeviceKey


def test_registration_leaves_the_account_ready(registered):
    phone, account = registered
    assert account.state == kaksik.AccountState.READY
    assert account.identity.semantics_identifier == MARI.semantics_id
    assert [key.state for key in account.keys] == [kaksik.KeyState.ACTIVE] * 2
    status = phone.authenticator.status()
    assert isinstance(status, kaksik.LocalStatus.REGISTERED)
    assert status.document_number == account.document_number


def test_an_authentication_approved_in_python_is_verified_by_the_rp(server, registered):
    phone, _ = registered
    rp = server.rp_auth(MARI, "Log in to DEMO bank")

    async def approve():
        summary = await phone.next_transaction()
        view = await phone.authenticator.transaction(summary.id)
        assert view.kind == kaksik.TransactionKind.AUTHENTICATION
        assert view.display_text == "Log in to DEMO bank"
        assert view.verification_code == rp.verification_code
        return await phone.authenticator.approve(summary.id, PIN1)

    approved = asyncio.run(approve())
    assert approved.user_challenge_verifier
    status, out, err = rp.finish()
    assert status == 0, err
    assert "authenticated: MARI MAASIKAS (PNOEE-38001085718)" in out


def test_a_signature_approved_with_pin2_is_the_one_the_rp_verifies(server, registered):
    phone, account = registered
    work = server.temp_dir("sign")
    contract = work / "contract.txt"
    contract.write_text("Contract no. 42: Mari buys one (1) bicycle.\n")
    signature = work / "contract.txt.sig"
    rp = server.rp_sign(account.document_number, contract, signature)

    async def approve():
        summary = await phone.next_transaction()
        view = await phone.authenticator.transaction(summary.id)
        assert view.kind == kaksik.TransactionKind.SIGNATURE
        assert view.role == kaksik.KeyRole.SIGN
        assert view.verification_code == rp.verification_code
        return await phone.authenticator.approve(summary.id, PIN2)

    approved = asyncio.run(approve())
    status, _, err = rp.finish()
    assert status == 0, err
    assert signature.read_bytes() == approved.signature_der


def test_a_wrong_pin_raises_wrong_pin_with_the_attempts_left(server, registered):
    phone, _ = registered
    rp = server.rp_auth(MARI, "Log in again")

    async def wrong_then_right():
        summary = await phone.next_transaction()
        with pytest.raises(kaksik.KaksikError.WrongPin) as wrong:
            await phone.authenticator.approve(summary.id, b"9461")
        assert wrong.value.attempts_left == 2
        await phone.authenticator.approve(summary.id, PIN1)
        return await phone.authenticator.account()

    account = asyncio.run(wrong_then_right())
    assert rp.finish()[0] == 0
    auth = next(key for key in account.keys if key.role == kaksik.KeyRole.AUTH)
    assert auth.failed_attempts == 0


def test_a_store_that_raises_surfaces_as_a_storage_error(server, tmp_path):
    class BrokenStore(FileStore):
        def get(self, key):
            raise OSError("the disk is gone")

    config = kaksik.ClientConfig(server_url=server.url, tls_spki_pin=server.spki_pin)
    authenticator = kaksik.Authenticator(config, BrokenStore(tmp_path), PyDeviceKey())
    with pytest.raises(kaksik.KaksikError.Storage) as error:
        authenticator.status()
    assert "the disk is gone" in error.value.reason
