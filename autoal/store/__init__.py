"""A run's state in one SQLite file: the store, its example table, snapshots, the run state, old-format conversion,
the labelling server's tables and questions (``server_tables``, ``labelling_queries``), the Label Studio
pull ledger (``labelstudio_ledger``), the checks a store passes when opened (``store_check``) and the lock of
the one process that drives a run (``run_lock``).

Every SQL statement autoal runs is in this package (``tests/test_sql_in_store.py`` checks it). ``autoal.store`` was one module before the layout had
subpackages; its public names are re-exported here.
"""

from autoal.store.run_store import (
    OLD_FORMAT_FILES,
    SCHEMA_VERSION,
    STORE_FILE,
    DuplicateAnnotation,
    RunStore,
    Transaction,
)

__all__ = ["RunStore", "Transaction", "DuplicateAnnotation", "SCHEMA_VERSION", "STORE_FILE", "OLD_FORMAT_FILES"]
