"""The user's data: validation and splits, feature columns, manifests, and the offline datasets.

``autoal.data`` was one module before the layout had subpackages; its public names are re-exported here.
"""

from autoal.data.prepare import (
    UNKNOWN,
    PreparedData,
    check_columns,
    find_bad_images,
    match_class,
    normalize_labels,
    prepare_data,
)

__all__ = ["PreparedData", "check_columns", "normalize_labels", "find_bad_images", "prepare_data", "match_class",
           "UNKNOWN"]
