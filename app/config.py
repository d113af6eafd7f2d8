"""Settings from the environment, validated once at start (pydantic-settings).

Every value comes from an environment variable of the same name. A production start with a
missing or placeholder secret fails at once with a message naming the variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_VERSION = "2026-07"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev-secret", "development", "placeholder"}
# A fixed, public key: only ever accepted in development and tests.
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktYXR0dW5lLWtleS1kby1ub3QtdXNlLTE="
DEV_API_KEY = "attune-dev-api-key"
DEV_API_SECRET = "attune-development-secret-never-in-production"


class SettingsError(RuntimeError):
    """Raised when the environment does not describe a runnable app."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    attune_env: Literal["development", "test", "production"] = "development"
    shopify_api_key: str = DEV_API_KEY
    shopify_api_secret: str = DEV_API_SECRET
    shopify_api_secret_previous: str | None = None
    scopes: str = "read_products,read_customers,read_orders,read_inventory,write_pixels,read_customer_events"
    # Asked for after install, feature by feature (shopify.app.toml ``optional_scopes``; app.shopify.scopes).
    optional_scopes: str = "write_customers,read_locales,read_legal_policies,read_online_store_pages,write_discounts,write_products"
    app_url: str = Field(default="http://127.0.0.1:8000", validation_alias=AliasChoices("APP_URL", "HOST"))
    database_url: str = f"sqlite:///{Path('var/attune.sqlite3').resolve()}"
    redis_url: str | None = None
    attune_encryption_key: str = DEV_ENCRYPTION_KEY
    shopify_api_version: str = DEFAULT_API_VERSION
    shopify_admin_origin_template: str = "https://{shop}"
    # load Polaris web components from Shopify's CDN outside Shopify's admin too (inside it they always are);
    # where the CDN is unreachable the admin's fallback CSS keeps every page readable
    attune_polaris_cdn: bool = False
    # one JSON object per log line (request and job ids, personal data scrubbed), or plain text
    attune_log_format: Literal["json", "text"] = "json"
    webhook_max_body_bytes: int = 1_048_576
    pixel_max_body_bytes: int = 262_144
    # Text embedder for the catalogue: the real MiniLM model, or the dependency-free hashing fake.
    attune_embedder: Literal["minilm", "hashing"] = "minilm"
    attune_embed_threads: int = 0  # torch CPU threads for embedding; 0 = min(4, cores)
    attune_embed_batch_size: int = 64
    # How web workers embed search queries with MiniLM: "numpy" (the same vectors computed with NumPy from
    # the memory-mapped weights, no torch: a web worker about 215 MiB) or "torch" (sentence-transformers in
    # every web worker: about 650 MiB). See app/embedding/minilm_numpy.py and benchmarks/memory.md.
    attune_query_embedder: Literal["numpy", "torch"] = "numpy"
    # Web workers load the storefront search's query embedder before their first request (gunicorn
    # post_worker_init), so the first search does not pay the model load; off = load on the first search.
    attune_search_preload: bool = True
    # The SMTP relay e-mail goes through when a shop has not set its own (smtp://user:password@host:587).
    attune_smtp_url: str | None = None
    # Twilio's REST API origin for SMS (default https://api.twilio.com; tests and the demo use the loopback).
    attune_twilio_api_url: str | None = None
    # Meta's Graph API origin for Messenger and Instagram replies (default https://graph.facebook.com), and the
    # help desks' origins, ``{account}`` being the shop's Zendesk subdomain or Gorgias domain (defaults
    # https://{account}.zendesk.com and https://{account}.gorgias.com; tests and the demo use the loopbacks).
    attune_meta_graph_url: str | None = None
    attune_zendesk_url: str | None = None
    attune_gorgias_url: str | None = None
    # The optional language model that may rephrase the support agent's answers (off unless both are set): an
    # OpenAI-compatible API's base URL (…/v1; Ollama, llama.cpp's server and hosted providers speak it) and model.
    attune_llm_base_url: str | None = None
    attune_llm_model: str | None = None
    attune_llm_api_key: str | None = None
    pixel_rate_client_per_min: int = 600  # events per pixel client id per minute
    pixel_rate_shop_per_min: int = 120_000  # events per shop per minute
    nudge_rate_client_per_min: int = 120  # hesitation signals (and nudge asks) per shopper per minute
    nudge_rate_shop_per_min: int = 60_000  # per shop per minute
    support_rate_ip_per_min: int = (
        20  # support questions per client IP per minute (a shopper's id is theirs to change)
    )
    support_rate_shop_per_min: int = 600  # support questions per shop per minute

    @field_validator("app_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            v = "https://" + v
        return v

    @field_validator("shopify_admin_origin_template")
    @classmethod
    def _origin_has_shop(cls, v: str) -> str:
        if "{shop}" not in v:
            raise ValueError("SHOPIFY_ADMIN_ORIGIN_TEMPLATE must contain '{shop}'")
        return v.rstrip("/")

    @field_validator("attune_encryption_key")
    @classmethod
    def _valid_fernet_keys(cls, v: str) -> str:
        for key in cls.split_keys(v):
            try:
                Fernet(key)
            except Exception as exc:  # noqa: BLE001 - reported as a settings error
                raise ValueError("ATTUNE_ENCRYPTION_KEY must be comma-separated Fernet keys") from exc
        return v

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> Settings:
        if self.attune_env != "production":
            return self
        problems = []
        if self.shopify_api_key in {DEV_API_KEY, ""}:
            problems.append("SHOPIFY_API_KEY is missing")
        if (
            self.shopify_api_secret.lower() in PLACEHOLDER_SECRETS
            or self.shopify_api_secret == DEV_API_SECRET
        ):
            problems.append("SHOPIFY_API_SECRET is missing or a placeholder")
        if DEV_ENCRYPTION_KEY in self.split_keys(self.attune_encryption_key):
            problems.append("ATTUNE_ENCRYPTION_KEY is missing or the public development key")
        if not self.redis_url:
            problems.append("REDIS_URL is required in production")
        if not self.app_url.startswith("https://"):
            problems.append("APP_URL must be https in production")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @staticmethod
    def split_keys(v: str) -> list[str]:
        return [k.strip() for k in v.split(",") if k.strip()]

    @property
    def encryption_keys(self) -> list[str]:
        return self.split_keys(self.attune_encryption_key)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.scopes.split(",") if s.strip())

    @property
    def optional_scope_set(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.optional_scopes.split(",") if s.strip())

    @property
    def api_secrets(self) -> list[str]:
        """Current secret first, then the previous one during a rotation."""
        return [s for s in (self.shopify_api_secret, self.shopify_api_secret_previous) if s]

    def admin_origin(self, shop: str) -> str:
        return self.shopify_admin_origin_template.format(shop=shop)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one readable SettingsError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SettingsError(f"Attune cannot start: invalid configuration:\n{exc}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
