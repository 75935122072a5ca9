"""Keyring configuration: ids, sizes, ordering, and no key material in messages."""

from __future__ import annotations

import base64

import pytest

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import Kek, Keyring

K1 = bytes(range(32))
K2 = bytes(range(32, 64))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_first_entry_is_current_and_all_are_available() -> None:
    keyring = Keyring.from_config(f"k2:{b64(K2)}, k1:{b64(K1)}")
    assert keyring.current.kek_id == "k2"
    assert keyring.ids == ("k2", "k1")
    assert keyring.get("k1").key == K1


def test_config_roundtrip() -> None:
    keyring = Keyring.from_config(f"k2:{b64(K2)},k1:{b64(K1)}")
    assert Keyring.from_config(keyring.to_config()).ids == ("k2", "k1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        " , ",
        f"k1:{b64(K1[:16])}",
        f"k1:{b64(K1 + b'x')}",
        "k1:not-base64!!",
        f"k1:{b64(K1)},k1:{b64(K2)}",
        b64(K1),
        f"bad id:{b64(K1)}",
        f"../k:{b64(K1)}",
    ],
)
def test_bad_configuration_is_refused(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        Keyring.from_config(text)
    assert caught.value.code is ErrorCode.CONFIGURATION
    # Neither the key nor a mis-pasted entry is echoed back.
    assert b64(K1) not in caught.value.message
    assert b64(K1)[:8] not in caught.value.message


def test_keys_never_appear_in_repr() -> None:
    keyring = Keyring([Kek("k1", K1)])
    assert K1.hex() not in repr(keyring) + repr(keyring.current)
    assert repr(K1) not in repr(keyring.current)


def test_generate_makes_a_fresh_32_byte_key() -> None:
    first, second = Keyring.generate(), Keyring.generate("k9")
    assert len(first.current.key) == 32
    assert first.current.key != second.current.key
    assert second.current.kek_id == "k9"


def test_unknown_kek_is_a_configuration_error() -> None:
    with pytest.raises(DomainError) as caught:
        Keyring([Kek("k1", K1)]).get("k0")
    assert caught.value.code is ErrorCode.CONFIGURATION


def test_with_new_current_keeps_old_keys() -> None:
    keyring = Keyring([Kek("k1", K1)]).with_new_current(Kek("k2", K2))
    assert keyring.current.kek_id == "k2"
    assert keyring.get("k1").key == K1
