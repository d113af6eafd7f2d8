"""All tables. Importing this package registers every table on ``SQLModel.metadata``."""

from app.models.back_in_stock import BackInStockRequest
from app.models.campaigns import Campaign, MessageVariant
from app.models.catalog import ProductEmbedding
from app.models.commerce import (
    Cart,
    Checkout,
    Customer,
    GdprExport,
    InventoryLevel,
    Order,
    OrderLine,
    Product,
    ProductVariant,
    Refund,
    RefundLine,
    SyncRun,
)
from app.models.control_room import AgentLiftSnapshot, AgentSetting
from app.models.events import IdentityLink, PixelEvent
from app.models.feedback import ProductReview, ReviewImport, SupportMessage
from app.models.guests import GuestContact
from app.models.inbox import WebhookInbox
from app.models.inventory import (
    DemandForecast,
    DemandForecastLocation,
    DemandSnapshot,
    InventoryAlert,
    InventoryDay,
    InventoryLocationSetting,
    InventoryPreference,
    InventorySetting,
)
from app.models.journey import JourneyStage, JourneyTransition
from app.models.knowledge import KnowledgePassage, SupportFaq
from app.models.merchandising import MerchantRule, ShopInterest
from app.models.messaging import (
    ChannelConfig,
    ContactConsent,
    ContactPolicyRow,
    ConversationMessage,
    MessageDecision,
    OutboxMessage,
    PushSubscription,
)
from app.models.nudge import NudgeSession, NudgeShop
from app.models.pricing import (
    CompetitorAlert,
    CompetitorFeed,
    CompetitorPrice,
    PriceChange,
    PriceHistory,
    PricingArmStats,
    PricingOffer,
    PricingSettings,
    VariantCost,
)
from app.models.profiles import CustomerProfile
from app.models.replenishment import ReplenishmentForecast, ReplenishmentSetting
from app.models.serving import HoldoutPolicy, Nudge, RecommendationList, ServedList, WishlistItem
from app.models.shop import Shop
from app.models.shop_models import RankerModel, ShopModelParams
from app.models.writeback import ShopifyWriteback

__all__ = [
    "Campaign",
    "MessageVariant",
    "AgentLiftSnapshot",
    "AgentSetting",
    "CompetitorAlert",
    "CompetitorFeed",
    "CompetitorPrice",
    "PriceChange",
    "PriceHistory",
    "PricingArmStats",
    "PricingOffer",
    "PricingSettings",
    "VariantCost",
    "Cart",
    "ChannelConfig",
    "Checkout",
    "ContactConsent",
    "ContactPolicyRow",
    "ConversationMessage",
    "Customer",
    "CustomerProfile",
    "DemandForecast",
    "DemandForecastLocation",
    "DemandSnapshot",
    "InventoryAlert",
    "InventoryLocationSetting",
    "InventoryPreference",
    "GdprExport",
    "GuestContact",
    "HoldoutPolicy",
    "IdentityLink",
    "InventoryDay",
    "InventoryLevel",
    "JourneyStage",
    "JourneyTransition",
    "InventorySetting",
    "KnowledgePassage",
    "MerchantRule",
    "MessageDecision",
    "Nudge",
    "NudgeSession",
    "NudgeShop",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "PixelEvent",
    "Product",
    "BackInStockRequest",
    "ProductEmbedding",
    "ProductReview",
    "ProductVariant",
    "PushSubscription",
    "ReviewImport",
    "RankerModel",
    "RecommendationList",
    "Refund",
    "RefundLine",
    "ReplenishmentForecast",
    "ReplenishmentSetting",
    "ServedList",
    "Shop",
    "ShopifyWriteback",
    "SupportFaq",
    "ShopInterest",
    "ShopModelParams",
    "SupportMessage",
    "SyncRun",
    "WebhookInbox",
    "WishlistItem",
]
