"""What may be sold: the catalogue items a night may publish, and the price policy
resolved for a catalogue. Free of the model's imports, so the `gate` stage stays light."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.transforms import Transform


def sellable(require_active: bool, require_price: bool) -> Transform:
    """ITEMS -> the item ids that may be published: in the catalogue, active, and with
    a price of their own (not one filled from the category median) when required."""

    def apply(items: DataFrame) -> DataFrame:
        ok = F.lit(True)
        if require_active:
            ok = ok & F.col("active")
        if require_price:
            ok = ok & F.col("price").isNotNull() & ~F.col("price_filled")
        return items.filter(ok).select("item_id")

    return apply


def prices_required(policy: str, items: DataFrame) -> bool:
    """The price policy resolved for this catalogue ("auto": required when any item
    has a price of its own). Runs an action on `items` when the policy is auto."""
    if policy != "auto":
        return policy == "required"
    return bool(items.filter(F.col("price").isNotNull() & ~F.col("price_filled")).limit(1).count())
