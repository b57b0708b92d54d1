"""Label Studio as a front end: export and import files, and live push/pull/sync through its SDK.

``autoal.labelstudio`` was one module (the file export and import) before the layout had subpackages;
its public names are re-exported here.
"""

from autoal.labelstudio.files import (
    FROM_NAME,
    PREDICTIONS,
    TO_NAME,
    LabelStudioReport,
    UserMatcher,
    batch_tasks,
    export_labelstudio,
    import_labelstudio,
    labeling_config,
    parse_user_map,
    store_answers,
)

__all__ = ["export_labelstudio", "import_labelstudio", "labeling_config", "parse_user_map", "LabelStudioReport",
           "batch_tasks", "store_answers", "UserMatcher", "PREDICTIONS", "FROM_NAME", "TO_NAME"]
