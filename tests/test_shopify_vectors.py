"""Shopify's own verification vectors (../shared/fixtures/shopify/vectors.json), plus negatives."""

from __future__ import annotations

import json

import jwt
import pytest

from app.shopify import verify as v
from tests.conftest import FIXTURES, needs_shared

VECTORS_FILE = FIXTURES / "vectors.json"
pytestmark = needs_shared(VECTORS_FILE)


def _vectors(kind: str) -> list[dict]:
    if not VECTORS_FILE.exists():
        return []
    data = json.loads(VECTORS_FILE.read_text())
    return [x for x in data["vectors"] if x["kind"] == kind and not x.get("library_quirk")]


def _ids(vectors: list[dict]) -> list[str]:
    return [x["id"] for x in vectors]


def _pairs(vec: dict) -> list[tuple[str, str]]:
    if "params" in vec:
        out = []
        for key, value in vec["params"].items():
            out.extend((key, item) for item in value) if isinstance(value, list) else out.append((key, value))
        return out
    return [p for p in v.parse_query_pairs(vec["query_before_hmac_removal"]) if p[0] != "hmac"]


@pytest.mark.parametrize("vec", _vectors("admin_query_hmac"), ids=_ids(_vectors("admin_query_hmac")))
def test_admin_query_hmac(vec):
    pairs = _pairs(vec)
    assert v.admin_query_message(pairs) == vec["message"]
    assert v.admin_query_hmac(pairs, vec["secret"]) == vec["expected"]
    signed = [*pairs, ("hmac", vec["expected"])]
    has_ts = any(k == "timestamp" for k, _ in pairs)
    now = float(dict(pairs)["timestamp"]) + 5 if has_ts else None
    v.verify_admin_query(signed, [vec["secret"]], now=now, require_timestamp=has_ts)
    with pytest.raises(v.VerificationError, match="invalid hmac"):
        v.verify_admin_query(signed, ["wrong"], now=now, require_timestamp=has_ts)
    with pytest.raises(v.VerificationError, match="invalid hmac"):
        v.verify_admin_query([*signed, ("evil", "1")], [vec["secret"]], now=now, require_timestamp=has_ts)
    if has_ts:  # the published timestamps are old: a live clock refuses them
        with pytest.raises(v.VerificationError, match="too old"):
            v.verify_admin_query(signed, [vec["secret"]])


@pytest.mark.parametrize("vec", _vectors("webhook_hmac"), ids=_ids(_vectors("webhook_hmac")))
def test_webhook_hmac(vec):
    body = vec["raw_body"].encode()
    assert v.webhook_hmac(body, vec["secret"]) == vec["expected"]
    assert v.verify_webhook(body, vec["expected"], ["other-current", vec["secret"]])
    assert not v.verify_webhook(body + b" ", vec["expected"], [vec["secret"]])
    assert not v.verify_webhook(body, vec["expected"], ["wrong"])
    assert not v.verify_webhook(body, None, [vec["secret"]])


@pytest.mark.parametrize("vec", _vectors("app_proxy_signature"), ids=_ids(_vectors("app_proxy_signature")))
def test_app_proxy_signature(vec):
    pairs = v.parse_query_pairs(vec["query_string"])
    assert v.proxy_message(pairs) == vec["message"]
    assert v.proxy_signature(pairs, vec["secret"]) == vec["expected"]
    now = float(dict(pairs)["timestamp"]) + 5
    v.verify_proxy(pairs, [vec["secret"]], now=now)
    with pytest.raises(v.VerificationError, match="invalid signature"):
        v.verify_proxy([*pairs, ("evil", "1")], [vec["secret"]], now=now)
    with pytest.raises(v.VerificationError, match="missing signature"):
        v.verify_proxy([p for p in pairs if p[0] != "signature"], [vec["secret"]], now=now)
    wrong = [(k, "wrongwrong" + val[10:] if k == "signature" else val) for k, val in pairs]
    with pytest.raises(v.VerificationError):
        v.verify_proxy(wrong, [vec["secret"]], now=now)
    with pytest.raises(v.VerificationError, match="too old"):
        v.verify_proxy(pairs, [vec["secret"]])


@pytest.mark.parametrize("vec", _vectors("session_token_jwt"), ids=_ids(_vectors("session_token_jwt")))
def test_session_token(vec):
    at = vec["verify_at_unix_time"]
    tok = v.decode_session_token(
        vec["token"], api_key=vec["api_key_audience"], secrets=[vec["secret"]], now=at
    )
    assert tok.shop == vec["expected_shop"]
    assert tok.user_id == vec["expected_user_id"]
    claims = vec["claims"]
    with pytest.raises(v.VerificationError, match="audience"):
        v.decode_session_token(vec["token"], api_key="someone-else", secrets=[vec["secret"]], now=at)
    with pytest.raises(v.VerificationError, match="signature"):
        v.decode_session_token(vec["token"], api_key=vec["api_key_audience"], secrets=["nope"], now=at)
    with pytest.raises(v.VerificationError, match="expired"):
        v.decode_session_token(
            vec["token"], api_key=vec["api_key_audience"], secrets=[vec["secret"]], now=claims["exp"] + 11
        )
    # within the 10 s leeway
    v.decode_session_token(
        vec["token"], api_key=vec["api_key_audience"], secrets=[vec["secret"]], now=claims["exp"] + 9
    )
    with pytest.raises(v.VerificationError, match="not yet valid"):
        v.decode_session_token(
            vec["token"], api_key=vec["api_key_audience"], secrets=[vec["secret"]], now=claims["nbf"] - 11
        )
    # algorithm allow-list: HS512 and 'none' are refused even with the right key
    for alg in ("HS512",):
        forged = jwt.encode(claims, vec["secret"], algorithm=alg)
        with pytest.raises(v.VerificationError):
            v.decode_session_token(forged, api_key=vec["api_key_audience"], secrets=[vec["secret"]], now=at)
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(v.VerificationError):
        v.decode_session_token(unsigned, api_key=vec["api_key_audience"], secrets=[vec["secret"]], now=at)
    other_shop = dict(claims, dest="https://other.myshopify.com")
    mixed = jwt.encode(other_shop, vec["secret"], algorithm="HS256")
    with pytest.raises(v.VerificationError, match="different shops"):
        v.decode_session_token(mixed, api_key=vec["api_key_audience"], secrets=[vec["secret"]], now=at)
    evil = dict(claims, dest="https://evil.com", iss="https://evil.com/admin")
    with pytest.raises(v.VerificationError, match="invalid shop"):
        v.decode_session_token(
            jwt.encode(evil, vec["secret"], algorithm="HS256"),
            api_key=vec["api_key_audience"],
            secrets=[vec["secret"]],
            now=at,
        )


def test_shop_domain_cases():
    for vec in _vectors("shop_domain_validation"):
        if "valid" in vec:
            for good in vec["valid"]:
                assert v.is_valid_shop_domain(good, allow_dev_domains=True), good
            for bad in vec["invalid"]:
                assert v.sanitize_shop_domain(bad, allow_dev_domains=True) is None, bad
            for admin_url, shop in vec["admin_url_mapping"].items():
                assert v.sanitize_shop_domain(admin_url) == shop
        if "sanitizes_to_my_shop" in vec:
            for raw in vec["sanitizes_to_my_shop"]:
                assert v.sanitize_shop_domain(raw) == vec["expected_sanitized"], raw
            for bad in vec["invalid"]:
                assert v.sanitize_shop_domain(bad, allow_dev_domains=True) is None, bad


@pytest.mark.parametrize(
    "shop",
    [
        "evil.com",
        "x.myshopify.com.evil.com",
        "myshopify.com",
        "-x.myshopify.com",
        "a.b.myshopify.com",
        "x.myshopify.io",
        "X.myshopify.com\n",
        "x.myshopify.com/",
    ],
)
def test_production_shop_domains_are_strict(shop):
    assert not v.is_valid_shop_domain(shop)
