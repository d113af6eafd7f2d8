"""All tables. Importing this package registers every table on ``SQLModel.metadata``."""

from app.models.shop import Shop

__all__ = ["Shop"]
