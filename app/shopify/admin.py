"""The Admin API client: GraphQL only, at the pinned ``settings.shopify_api_version``.

- Cost-aware: remembers ``extensions.cost.throttleStatus`` and the cost of each query it has sent, and
  waits for the bucket to refill before a call that would not fit.
- Backs off and retries on ``THROTTLED`` errors and on HTTP 429 (honouring ``Retry-After``).
- A 401 triggers one token refresh and one retry (``app.shopify.tokens``).
- Typed methods for what Attune needs: shop info, the web pixel, bulk queries.

Longer than about 400 lines on purpose: the throttle bookkeeping, the retries and the typed calls share one
client's state, and the fake Shopify's tests exercise them together.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from app.config import Settings
from app.db import session_scope
from app.models.shop import Shop
from app.shopify.tokens import ReauthorizationRequired, ShopTokens, TokenStore

log = logging.getLogger(__name__)

TIMEOUT_S = 30
DEFAULT_COST = 10


class TokenProvider(Protocol):
    def access_token(self) -> str: ...
    def refresh(self, stale_token: str) -> str: ...


class AdminAPIError(Exception):
    """The Admin API answered with errors (or could not be reached)."""

    def __init__(self, message: str, *, status: int | None = None, errors: Any = None):
        super().__init__(message)
        self.status = status
        self.errors = errors


class AdminAuthError(AdminAPIError):
    """Still 401 after one refresh: the token is revoked (app uninstalled) or the shop must re-authorize."""


class AdminThrottledError(AdminAPIError):
    """Still throttled after every retry."""


class AdminUserError(AdminAPIError):
    """A mutation answered with ``userErrors``."""

    def __init__(self, message: str, user_errors: list[dict[str, Any]]):
        super().__init__(message, errors=user_errors)
        self.user_errors = user_errors

    @property
    def codes(self) -> set[str]:
        return {e.get("code") for e in self.user_errors if e.get("code")}


@dataclass
class ThrottleState:
    maximum: float = 2000.0
    available: float = 2000.0
    restore_rate: float = 100.0
    at: float = 0.0

    def estimate(self, now: float) -> float:
        return min(self.maximum, self.available + max(0.0, now - self.at) * self.restore_rate)


@dataclass(frozen=True)
class ShopInfo:
    id: str
    name: str
    email: str
    myshopify_domain: str
    currency_code: str
    iana_timezone: str
    primary_domain_url: str
    plan_name: str


@dataclass(frozen=True)
class WebPixel:
    id: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class BulkOperation:
    id: str
    status: str
    error_code: str | None
    object_count: int
    url: str | None
    partial_data_url: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")


class AdminClient:
    """GraphQL Admin API for one shop."""

    def __init__(
        self,
        settings: Settings,
        shop_domain: str,
        tokens: TokenProvider,
        *,
        http: requests.Session | None = None,
        max_retries: int = 6,
        max_wait_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.shop = shop_domain
        self.tokens = tokens
        self.http = http or requests.Session()
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.endpoint = (
            f"{settings.admin_origin(shop_domain)}/admin/api/{settings.shopify_api_version}/graphql.json"
        )
        self.throttle = ThrottleState(at=time.monotonic())
        self._known_costs: dict[int, float] = {}
        self.retries = 0  # throttle/429/5xx retries so far (observability)

    @classmethod
    def for_shop(cls, settings: Settings, shop_id: int, **kwargs: Any) -> AdminClient:
        """A client whose tokens come from the database (refreshed under the shop's lock)."""
        with session_scope(settings.database_url) as session:
            shop = session.get(Shop, shop_id)
            if shop is None:
                raise ReauthorizationRequired(f"shop {shop_id} does not exist")
            domain = shop.domain
        return cls(settings, domain, ShopTokens(TokenStore(settings), shop_id), **kwargs)

    # --- transport ---------------------------------------------------------------------------------

    def _wait(self, seconds: float, why: str) -> None:
        seconds = max(0.0, min(seconds, self.max_wait_s))
        if seconds:
            log.info("shopify %s: waiting %.2fs (%s)", self.shop, seconds, why)
            self.sleep(seconds)

    def _wait_for_budget(self, cost: float) -> None:
        now = time.monotonic()
        available = self.throttle.estimate(now)
        if cost > available and self.throttle.restore_rate > 0:
            self._wait((cost - available) / self.throttle.restore_rate, "cost budget")

    def _note_cost(self, body: dict[str, Any], key: int) -> float | None:
        cost = ((body.get("extensions") or {}).get("cost")) or {}
        status = cost.get("throttleStatus") or {}
        if status:
            self.throttle = ThrottleState(
                maximum=float(status.get("maximumAvailable", self.throttle.maximum)),
                available=float(status.get("currentlyAvailable", self.throttle.available)),
                restore_rate=float(status.get("restoreRate", self.throttle.restore_rate)) or 1.0,
                at=time.monotonic(),
            )
        requested = cost.get("requestedQueryCost")
        if requested is not None:
            self._known_costs[key] = float(requested)
        return float(requested) if requested is not None else None

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL document; returns the full body (``data``, ``extensions``).

        Raises AdminAPIError for GraphQL errors other than throttling."""
        key = hash(query)
        token = self.tokens.access_token()
        refreshed = False
        attempt = 0
        while True:
            self._wait_for_budget(self._known_costs.get(key, DEFAULT_COST))
            try:
                resp = self.http.post(
                    self.endpoint,
                    json={"query": query, "variables": variables or {}},
                    headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
                    timeout=TIMEOUT_S,
                )
            except requests.RequestException as exc:
                if attempt >= self.max_retries:
                    raise AdminAPIError(f"Admin API unreachable: {exc.__class__.__name__}") from exc
                attempt += 1
                self.retries += 1
                self._wait(min(2**attempt * 0.5, 30), "network error")
                continue
            if resp.status_code == 401:
                if refreshed:
                    raise AdminAuthError("Admin API refused the access token after a refresh", status=401)
                token = self.tokens.refresh(token)
                refreshed = True
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                if attempt >= self.max_retries:
                    raise (AdminThrottledError if resp.status_code == 429 else AdminAPIError)(
                        f"Admin API answered {resp.status_code} after {attempt} retries",
                        status=resp.status_code,
                    )
                attempt += 1
                self.retries += 1
                self._wait(_retry_after(resp, default=min(2**attempt * 0.5, 30)), f"HTTP {resp.status_code}")
                continue
            try:
                body = resp.json()
            except ValueError as exc:
                raise AdminAPIError(
                    f"Admin API answered {resp.status_code} with non-JSON", status=resp.status_code
                ) from exc
            if resp.status_code != 200:
                raise AdminAPIError(
                    f"Admin API answered {resp.status_code}: {body.get('errors')}",
                    status=resp.status_code,
                    errors=body.get("errors"),
                )
            requested = self._note_cost(body, key)
            errors = body.get("errors") or []
            if any(_code(e) == "THROTTLED" for e in errors):
                if attempt >= self.max_retries:
                    raise AdminThrottledError("Admin API still THROTTLED after retries", errors=errors)
                attempt += 1
                self.retries += 1
                need = (requested or DEFAULT_COST) - self.throttle.available
                self._wait(max(need, 1.0) / self.throttle.restore_rate, "THROTTLED")
                continue
            if errors:
                raise AdminAPIError(
                    f"GraphQL errors: {'; '.join(_message(e) for e in errors)}", errors=errors
                )
            return body

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a GraphQL call."""
        return self.execute(query, variables).get("data") or {}

    def _mutate(self, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        payload = self.graphql(query, variables).get(field) or {}
        user_errors = payload.get("userErrors") or []
        if user_errors:
            raise AdminUserError(f"{field}: {'; '.join(_message(e) for e in user_errors)}", user_errors)
        return payload

    # --- shop -----------------------------------------------------------------------------------------

    def shop_info(self) -> ShopInfo:
        shop = self.graphql(
            "{ shop { id name email myshopifyDomain currencyCode ianaTimezone"
            " primaryDomain { url } plan { publicDisplayName } } }"
        )["shop"]
        return ShopInfo(
            id=shop["id"],
            name=shop["name"],
            email=shop["email"],
            myshopify_domain=shop["myshopifyDomain"],
            currency_code=shop["currencyCode"],
            iana_timezone=shop["ianaTimezone"],
            primary_domain_url=shop["primaryDomain"]["url"],
            plan_name=shop["plan"]["publicDisplayName"],
        )

    # --- web pixel --------------------------------------------------------------------------------------

    def pixel_settings(self, pixel_key: str, app_url: str) -> dict[str, str]:
        """Settings for the ``attune-pixel`` extension (fields declared in its shopify.extension.toml)."""
        return {"accountID": self.shop, "shopKey": pixel_key, "endpoint": app_url.rstrip("/")}

    def get_web_pixel(self) -> WebPixel | None:
        try:
            pixel = self.graphql("{ webPixel { id settings } }").get("webPixel")
        except AdminAPIError as exc:
            if any(_code(e) == "NOT_FOUND" for e in (exc.errors or []) if isinstance(e, dict)):
                return None
            raise
        return _pixel(pixel) if pixel else None

    def create_web_pixel(self, settings: dict[str, Any]) -> WebPixel:
        payload = self._mutate(
            "mutation($webPixel: WebPixelInput!) { webPixelCreate(webPixel: $webPixel) {"
            " webPixel { id settings } userErrors { field message code } } }",
            {"webPixel": {"settings": json.dumps(settings)}},
            "webPixelCreate",
        )
        return _pixel(payload["webPixel"])

    def update_web_pixel(self, pixel_id: str, settings: dict[str, Any]) -> WebPixel:
        payload = self._mutate(
            "mutation($id: ID!, $webPixel: WebPixelInput!) { webPixelUpdate(id: $id, webPixel: $webPixel) {"
            " webPixel { id settings } userErrors { field message code } } }",
            {"id": pixel_id, "webPixel": {"settings": json.dumps(settings)}},
            "webPixelUpdate",
        )
        return _pixel(payload["webPixel"])

    def ensure_web_pixel(self, pixel_key: str, app_url: str, pixel_id: str | None = None) -> WebPixel:
        """Create the shop's web pixel, or update it when it exists; returns it (store ``.id``)."""
        settings = self.pixel_settings(pixel_key, app_url)
        if pixel_id:
            try:
                return self.update_web_pixel(pixel_id, settings)
            except AdminUserError as exc:
                if "NOT_FOUND" not in exc.codes:
                    raise
        try:
            return self.create_web_pixel(settings)
        except AdminUserError as exc:
            existing = self.get_web_pixel() if "TAKEN" in exc.codes else None
            if existing is None:
                raise
            return self.update_web_pixel(existing.id, settings)

    # --- bulk operations ----------------------------------------------------------------------------------

    def start_bulk_query(self, query: str) -> str:
        payload = self._mutate(
            "mutation($query: String!) { bulkOperationRunQuery(query: $query) {"
            " bulkOperation { id status } userErrors { field message code } } }",
            {"query": query},
            "bulkOperationRunQuery",
        )
        return payload["bulkOperation"]["id"]

    def bulk_operation(self, operation_id: str) -> BulkOperation:
        node = self.graphql(
            "query($id: ID!) { node(id: $id) { ... on BulkOperation {"
            " id status errorCode objectCount url partialDataUrl } } }",
            {"id": operation_id},
        ).get("node")
        if not node:
            raise AdminAPIError(f"bulk operation {operation_id} not found")
        return BulkOperation(
            id=node["id"],
            status=node["status"],
            error_code=node.get("errorCode"),
            object_count=int(node.get("objectCount") or 0),
            url=node.get("url"),
            partial_data_url=node.get("partialDataUrl"),
        )

    def run_bulk_query(
        self,
        query: str,
        *,
        on_progress: Callable[[BulkOperation], None] | None = None,
        poll_interval_s: float = 2.0,
        timeout_s: float = 6 * 3600,
    ) -> Iterator[dict[str, Any]]:
        """Start a bulk query, poll until it finishes (``on_progress`` sees each poll's objectCount),
        then download the JSONL and yield one dict per line (see ``app.shopify.bulk_queries``)."""
        op_id = self.start_bulk_query(query)
        deadline = time.monotonic() + timeout_s
        while True:
            op = self.bulk_operation(op_id)
            if on_progress is not None:
                on_progress(op)
            if op.finished:
                break
            if time.monotonic() > deadline:
                raise AdminAPIError(f"bulk operation {op_id} did not finish within {timeout_s}s")
            self.sleep(poll_interval_s)
        if op.status != "COMPLETED":
            raise AdminAPIError(
                f"bulk operation {op_id} ended {op.status} ({op.error_code or 'no error code'})"
            )
        if not op.url:  # completed with no results
            return
        yield from self._download_jsonl(op.url)

    def _download_jsonl(self, url: str) -> Iterator[dict[str, Any]]:
        with self.http.get(url, stream=True, timeout=TIMEOUT_S) as resp:
            if resp.status_code != 200:
                raise AdminAPIError(
                    f"bulk result download answered {resp.status_code}", status=resp.status_code
                )
            for line in resp.iter_lines():
                if line:
                    yield json.loads(line)


def _code(error: Any) -> str | None:
    return ((error or {}).get("extensions") or {}).get("code") if isinstance(error, dict) else None


def _message(error: Any) -> str:
    return str(error.get("message")) if isinstance(error, dict) else str(error)


def _pixel(raw: dict[str, Any]) -> WebPixel:
    settings = raw.get("settings")
    if isinstance(settings, str):
        settings = json.loads(settings)
    return WebPixel(id=raw["id"], settings=settings or {})


def _retry_after(resp: requests.Response, *, default: float) -> float:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default
