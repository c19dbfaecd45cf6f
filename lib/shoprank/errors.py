"""Typed errors. Each says what was expected and what was found, so a failed
night explains itself in the Airflow log without a debugger."""


class ShopRankError(Exception):
    """Base of every error shoprank raises on purpose; jobs exit non-zero on it."""

    exit_code = 1


class ConfigError(ShopRankError):
    exit_code = 2


class InputError(ShopRankError):
    """An input path or format cannot be read as configured."""

    exit_code = 3


class SchemaMismatchError(ShopRankError):
    """A write would change a table's schema in a way the policy forbids."""

    exit_code = 4

    def __init__(self, table: str, column: str, expected: str, found: str):
        self.table, self.column, self.expected, self.found = table, column, expected, found
        super().__init__(
            f"table '{table}': column '{column}' expected {expected}, found {found}"
        )


class ReconciliationError(ShopRankError):
    """Input rows != accepted + quarantined + duplicates: something was lost."""

    exit_code = 5


class QualityGateError(ShopRankError):
    """The run's data profile moved outside the allowed range versus the previous run."""

    exit_code = 6

    def __init__(self, breaches: list[tuple[str, float, float, float]]):
        self.breaches = breaches
        parts = [
            f"{metric}={value:.4g} outside allowed [{lo:.4g}, {hi:.4g}]"
            for metric, lo, hi, value in breaches
        ]
        super().__init__("quality gate breached: " + "; ".join(parts) + " (use --force to override)")


class EmptyStageError(ShopRankError):
    """A stage produced nothing where the next stage needs rows."""

    exit_code = 7
