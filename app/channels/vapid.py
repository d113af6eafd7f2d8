"""VAPID keys (RFC 8292) for web push: one P-256 key pair per shop installation.

The private key is kept as PKCS#8 PEM (stored encrypted by ``app.stores.push``); the public key is the
uncompressed point, base64url without padding: what a browser's ``PushManager.subscribe`` takes as its
``applicationServerKey``. Plain ``cryptography``, no sending: the storefront may import it to show the key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding (``ValueError`` when it is not)."""
    if not isinstance(text, str) or not text or len(text) > 1024:
        raise ValueError("not a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a base64url string") from exc


@dataclass(frozen=True)
class VapidKeys:
    private_pem: str
    public_key: str  # uncompressed P-256 point, base64url


def public_key_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a VAPID key is a P-256 private key")
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def generate() -> VapidKeys:
    """A fresh key pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return VapidKeys(private_pem=pem, public_key=public_key_of(pem))


def check_browser_keys(p256dh: str, auth: str) -> None:
    """A subscription's keys as a browser makes them: ``p256dh`` a P-256 public point, ``auth`` 16 bytes
    (``ValueError`` naming the bad one)."""
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if len(point) != 65:
            raise ValueError
    except ValueError as exc:
        raise ValueError("keys.p256dh must be a base64url P-256 public key") from exc
    try:
        secret = b64url_decode(auth)
    except ValueError as exc:
        raise ValueError("keys.auth must be base64url") from exc
    if len(secret) != 16:
        raise ValueError("keys.auth must be 16 bytes, base64url")
