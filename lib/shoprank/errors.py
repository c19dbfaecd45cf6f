"""Typed errors, one exit code per kind of failure. Each says what was expected and
what was found, so a failed night explains itself in the Airflow log.

| code | error | meaning |
|---|---|---|
| 0 | - | success |
| 1 | anything else | a bug: unexpected exception, with a traceback |
| 2 | ConfigError | the config file, a `--set` or a command-line argument is invalid |
| 3 | InputError | raw input cannot be read as configured (missing path, missing column, ...) |
| 4 | SchemaMismatchError | a write would change a table's schema in a forbidden way |
| 5 | ReconciliationError | input != accepted + quarantined + duplicates: something was lost |
| 6 | QualityGateError | the data profile moved outside its allowed range |
| 7 | MissingInputError | a table, partition or artifact a stage reads does not exist yet |
| 8 | TrainingError | distributed training failed |
| 9 | EmptyStageError | a stage produced nothing where the next stage needs rows |
| 10 | StorageError | a table or file could not be written (commit conflicts, storage errors) |
"""


class ShopRankError(Exception):
    """Base of every error shoprank raises on purpose; raise a subclass."""

    exit_code = 1


class ConfigError(ShopRankError):
    exit_code = 2


class InputError(ShopRankError):
    """Raw input cannot be read as configured."""

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

    def __init__(self, breaches: list[tuple[str, float, float, float]], causes: list[str] = ()):
        self.breaches, self.causes = breaches, list(causes)
        parts = [
            f"{metric}={value:.4g} outside allowed [{lo:.4g}, {hi:.4g}]"
            for metric, lo, hi, value in breaches
        ]
        why = "".join(f"; {c}" for c in self.causes)
        super().__init__("quality gate breached: " + "; ".join(parts) + why + " (use --force to override)")


class MissingInputError(ShopRankError):
    """A table, run-date partition or artifact a stage needs was never written."""

    exit_code = 7


class TrainingError(ShopRankError):
    exit_code = 8


class EmptyStageError(ShopRankError):
    """A stage produced nothing where the next stage needs rows."""

    exit_code = 9


class StorageError(ShopRankError):
    """A table or artifact could not be written."""

    exit_code = 10


EXIT_CODES = {cls.__name__: cls.exit_code for cls in (
    ConfigError, InputError, SchemaMismatchError, ReconciliationError, QualityGateError, MissingInputError,
    TrainingError, EmptyStageError, StorageError)}
