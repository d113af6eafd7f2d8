"""The fake's Admin API GraphQL endpoint: cost accounting and throttling (Shopify's leaky bucket),
execution against the fake schema, mutations, and bulk operations (run → poll → JSONL URL).

It is longer than about 400 lines because every mutation the app sends (consent, metafields, Flow, pixels,
bulk) resolves here against one store, next to the cost accounting that must see all of them."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, execute, parse, validate

from app.shopify.fake import schema as gql
from app.shopify.fake.cost import MAX_QUERY_COST, query_cost
from app.shopify.fake.discounts import DiscountMutations, code_discount_by_code
from app.shopify.fake.prices import PriceMutations
from app.shopify.fake.sms_consent import sms_consent_update
from app.shopify.fake.state import FakeState
from app.shopify.fake.store import ShopStore, gid, iso
from app.shopify.fake.writes import WriteMutations, current_installation, shop_locales

BULK_ANSWER_WAIT_S = 10.0  # how long bulkOperationRunQuery waits for a small export to finish


def execute_graphql(
    fake: FakeState,
    shop: str,
    version: str,
    query: str,
    variables: dict[str, Any],
    scopes: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Answer one Admin API GraphQL call: validate, charge its cost to the shop's bucket (or answer
    THROTTLED / MAX_COST_EXCEEDED), execute, and report ``extensions.cost``. ``scopes`` are the calling
    token's (mutations that need a scope the token lacks answer ACCESS_DENIED)."""
    store = fake.store(shop)
    bucket = fake.bucket(shop)
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {"errors": [{"message": exc.message, "locations": _locations(exc)}]}
    errors = validate(gql.SCHEMA, document)
    if errors:
        return {"errors": [{"message": e.message, "locations": _locations(e)} for e in errors]}
    cost = query_cost(document, variables)
    with fake._lock:
        available = bucket.level()
        if cost > MAX_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": f"Query cost is {cost}, which exceeds the single query max cost limit "
                        f"({MAX_QUERY_COST}).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost},
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": cost,
                        "actualQueryCost": None,
                        "throttleStatus": bucket.status(),
                    }
                },
            }
        if cost > available:
            fake.calls["throttled"] += 1
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": cost,
                        "actualQueryCost": None,
                        "throttleStatus": bucket.status(),
                    }
                },
            }
        bucket.available -= cost
    context = {
        "store": store,
        "fake": fake,
        "shop": shop,
        "version": version,
        "scopes": scopes or frozenset(),
    }
    root = _MutationRoot(fake, store) if _is_mutation(document) else None
    result = execute(gql.SCHEMA, document, root_value=root, context_value=context, variable_values=variables)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [_error(e) for e in result.errors]
    body["data"] = result.data
    actual = cost if root is not None else min(cost, actual_cost(result.data))
    with fake._lock:  # as Shopify does: the bucket is charged the requested cost, then refunded to the actual
        bucket.level()
        bucket.available = min(bucket.maximum, bucket.available + cost - actual)
        status = bucket.status()
    body["extensions"] = {
        "cost": {"requestedQueryCost": cost, "actualQueryCost": actual, "throttleStatus": status}
    }
    return body


def actual_cost(data: Any) -> int:
    """A query's actual cost, simplified from Shopify's: one point per object returned (at least one). A
    connection asked for 20 nodes of which none exist costs what it returned, not what it could have."""
    if isinstance(data, dict):
        return 1 + sum(actual_cost(v) for k, v in data.items() if k != "pageInfo")
    if isinstance(data, list):
        return sum(actual_cost(v) for v in data)
    return 0


def run_bulk(fake: FakeState, store: ShopStore, query: str) -> dict[str, Any]:
    """Start a bulk query on a thread; polls reveal it as RUNNING until it has run, then for
    ``bulk_polls_until_done`` polls, then COMPLETED or FAILED."""
    op_id = gid("BulkOperation", store.next_id())
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {
            "bulkOperation": None,
            "userErrors": [{"field": ["query"], "message": exc.message, "code": "INVALID"}],
        }
    errors = validate(gql.SCHEMA, document)
    if errors or _is_mutation(document):
        message = errors[0].message if errors else "Bulk queries cannot contain mutations."
        return {
            "bulkOperation": None,
            "userErrors": [{"field": ["query"], "message": message, "code": "INVALID"}],
        }
    op = {
        "id": op_id,
        "status": "CREATED",
        "errorCode": None,
        "type": "QUERY",
        "createdAt": iso(datetime.now(UTC)),
        "completedAt": None,
        "objectCount": "0",
        "rootObjectCount": "0",
        "fileSize": None,
        "url": None,
        "partialDataUrl": None,
        "query": query,
        "_records": [],
        "_root_count": 0,
        "_failure": None,
        "_invalid": None,
        "_polls": 0,
        "_ready": threading.Event(),
    }
    with store.lock:  # the check and the insert under one lock: two runs never both start
        running = [o for o in store.bulk_operations.values() if o["status"] in ("CREATED", "RUNNING")]
        if running:
            return {
                "bulkOperation": None,
                "userErrors": [
                    {
                        "field": None,
                        "message": "A bulk query operation for this app and shop is already in progress: "
                        + running[0]["id"],
                        "code": "OPERATION_IN_PROGRESS",
                    }
                ],
            }
        store.bulk_operations[op_id] = op
    threading.Thread(target=_execute_bulk, args=(fake, store, document, op), daemon=True).start()
    # A small export answers as before (a query the bulk format cannot flatten is a user error); a big one
    # runs on, as Shopify's do, and polls show it RUNNING until it is done.
    if op["_ready"].wait(BULK_ANSWER_WAIT_S) and op["_invalid"]:
        with store.lock:
            store.bulk_operations.pop(op_id, None)
        return {
            "bulkOperation": None,
            "userErrors": [{"field": ["query"], "message": op["_invalid"], "code": "INVALID"}],
        }
    return {"bulkOperation": op, "userErrors": []}


def _execute_bulk(fake: FakeState, store: ShopStore, document: Any, op: dict[str, Any]) -> None:
    """Run a bulk query into ``op`` (its records, or why it failed), then mark it ready."""
    try:
        result = execute(gql.SCHEMA, document, context_value={"store": store, "fake": fake, "bulk": True})
        failure = fake._bulk_failures.pop(store.domain, None)
        if result.errors:
            failure = failure or "INTERNAL_SERVER_ERROR"
        else:
            try:
                op["_records"], op["_root_count"] = flatten_bulk(result.data or {})
            except gql.QueryError as exc:
                op["_invalid"] = str(exc)
                failure = failure or "INTERNAL_SERVER_ERROR"  # seen only when it was too late to refuse
        op["_failure"] = failure
    except Exception:  # noqa: BLE001 - a crashed export is a failed operation, as on Shopify
        op["_failure"] = "INTERNAL_SERVER_ERROR"
    finally:
        op["_ready"].set()


def advance_bulk(fake: FakeState, op: dict[str, Any]) -> None:
    """Each poll moves a bulk operation on: CREATED/RUNNING (partial counts) → COMPLETED or FAILED."""
    if op["status"] not in ("CREATED", "RUNNING"):
        return
    if not op["_ready"].is_set():
        op["status"] = "RUNNING"
        return
    op["_polls"] += 1
    total = len(op["_records"])
    if op["_polls"] < fake.bulk_polls_until_done:
        op["status"] = "RUNNING"
        op["objectCount"] = str(total * op["_polls"] // fake.bulk_polls_until_done)
        return
    op["completedAt"] = iso(datetime.now(UTC))
    if op["_failure"]:
        op["status"], op["errorCode"] = "FAILED", op["_failure"]
        return
    op["status"] = "COMPLETED"
    op["objectCount"] = str(total)
    op["rootObjectCount"] = str(op["_root_count"])
    if total:
        token = secrets.token_urlsafe(16)
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in op["_records"]).encode()
        fake._bulk_files[token] = data
        op["fileSize"] = str(len(data))
        op["url"] = f"{fake.base_url}/bulk/{token}.jsonl"


class _MutationRoot(WriteMutations, DiscountMutations, PriceMutations):
    """Root value for mutations: the default resolver calls these methods with the field's args."""

    def __init__(self, fake: FakeState, store: ShopStore):
        self.fake, self.store = fake, store

    def bulkOperationRunQuery(self, _info: Any, query: str, groupObjects: bool | None = None):  # noqa: N802
        return run_bulk(self.fake, self.store, query)

    def bulkOperationCancel(self, _info: Any, id: str):  # noqa: N802
        op = self.store.bulk_operations.get(id)
        if op is None:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["id"], "message": "Bulk operation not found"}],
            }
        if op["status"] in ("CREATED", "RUNNING"):
            op["status"] = "CANCELED"
        return {"bulkOperation": op, "userErrors": []}

    def webPixelCreate(self, _info: Any, webPixel: dict[str, Any]):  # noqa: N802
        settings = _pixel_settings(webPixel.get("settings"))
        if settings is None:
            return {
                "webPixel": None,
                "userErrors": [_pixel_error("settings", "Settings must be a JSON object")],
            }
        with self.store.lock:
            if self.store.web_pixels:
                return {"webPixel": None, "userErrors": [_pixel_error(None, "Web pixel is taken.", "TAKEN")]}
            pixel = {"id": gid("WebPixel", self.store.next_id()), "settings": json.dumps(settings)}
            self.store.web_pixels[pixel["id"]] = pixel
        return {"webPixel": pixel, "userErrors": []}

    def webPixelUpdate(self, _info: Any, id: str, webPixel: dict[str, Any]):  # noqa: N802
        settings = _pixel_settings(webPixel.get("settings"))
        pixel = self.store.web_pixels.get(id)
        if pixel is None:
            return {"webPixel": None, "userErrors": [_pixel_error("id", "Web pixel not found", "NOT_FOUND")]}
        if settings is None:
            return {
                "webPixel": None,
                "userErrors": [_pixel_error("settings", "Settings must be a JSON object")],
            }
        pixel["settings"] = json.dumps(settings)
        return {"webPixel": pixel, "userErrors": []}

    def webPixelDelete(self, _info: Any, id: str):  # noqa: N802
        if self.store.web_pixels.pop(id, None) is None:
            return {
                "deletedWebPixelId": None,
                "userErrors": [_pixel_error("id", "Web pixel not found", "NOT_FOUND")],
            }
        return {"deletedWebPixelId": id, "userErrors": []}

    def customerSmsMarketingConsentUpdate(self, _info: Any, input: dict[str, Any]):  # noqa: N802
        return sms_consent_update(self.store, input)


# Bulk operations advance when polled through any of these fields.
def _polling_resolver(original_field: str):
    def resolve(_root: Any, info: Any, **args: Any):
        store: ShopStore = info.context["store"]
        fake: FakeState = info.context["fake"]
        if original_field == "bulkOperation":
            op = store.bulk_operations.get(args["id"])
        else:
            node = store.node(args["id"])
            op = node if node is not None and node["id"].startswith("gid://shopify/BulkOperation/") else None
            if op is None:
                return node
        if op is not None:
            with store.lock:
                advance_bulk(fake, op)
        return op

    return resolve


gql.SCHEMA.type_map["Query"].fields["bulkOperation"].resolve = _polling_resolver("bulkOperation")  # type: ignore[union-attr]
gql.SCHEMA.type_map["Query"].fields["node"].resolve = _polling_resolver("node")  # type: ignore[union-attr]
gql.SCHEMA.type_map["Query"].fields["currentAppInstallation"].resolve = current_installation  # type: ignore[union-attr]
gql.SCHEMA.type_map["Query"].fields["shopLocales"].resolve = shop_locales  # type: ignore[union-attr]
gql.SCHEMA.type_map["Query"].fields["codeDiscountNodeByCode"].resolve = code_discount_by_code  # type: ignore[union-attr]


def _pixel_settings(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None


def _pixel_error(field_name: str | None, message: str, code: str = "INVALID_SETTINGS") -> dict[str, Any]:
    return {"field": [field_name] if field_name else None, "message": message, "code": code}


def _is_mutation(document: Any) -> bool:
    return any(
        getattr(d, "operation", None) is not None and d.operation.value == "mutation"
        for d in document.definitions
    )


def _error(exc: GraphQLError) -> dict[str, Any]:
    original = exc.original_error
    err: dict[str, Any] = {"message": exc.message, "locations": _locations(exc), "path": exc.path}
    if isinstance(original, gql.QueryError) and original.code:
        err["extensions"] = {"code": original.code}
    return err


def _locations(exc: GraphQLError) -> list[dict[str, int]]:
    return [{"line": loc.line, "column": loc.column} for loc in (exc.locations or [])]


# --- bulk output: Shopify's JSONL layout ----------------------------------------------------------


def _is_connection(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and ("edges" in value or "nodes" in value)
        and set(value)
        <= {
            "edges",
            "nodes",
            "pageInfo",
        }
    )


def _nodes_of(conn: dict[str, Any]) -> list[dict[str, Any]]:
    if "edges" in conn:
        return [e["node"] for e in conn["edges"] if isinstance(e, dict) and "node" in e]
    return list(conn["nodes"])


def _lift_connections(obj: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
    """``obj`` without its connections, which go to ``children``, also those inside its nested objects
    (``inventoryItem { inventoryLevels }``: Shopify writes those lines with the enclosing node's id)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if _is_connection(value):
            children.append(value)
        elif isinstance(value, dict):
            out[key] = _lift_connections(value, children)
        else:
            out[key] = value
    return out


def flatten_bulk(data: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Shopify's JSONL layout: one line per node, nested connection nodes after their parent with
    ``__parentId``. Returns (records, root object count)."""
    roots = [v for v in data.values() if _is_connection(v)]
    if len(roots) != 1 or len(data) != 1:
        raise gql.QueryError("Bulk queries must contain exactly one top-level connection field.")
    out: list[dict[str, Any]] = []

    def walk(conn: dict[str, Any], parent_id: str | None) -> int:
        count = 0
        for node in _nodes_of(conn):
            children: list[dict[str, Any]] = []
            record = _lift_connections(node, children)
            if children and "id" not in record:
                raise gql.QueryError(
                    "The parent 'node' field for a nested connection must select the 'id' field."
                )
            if parent_id is not None:
                record["__parentId"] = parent_id
            out.append(record)
            count += 1
            for child in children:
                walk(child, record.get("id"))
        return count

    root_count = walk(roots[0], None)
    return out, root_count
