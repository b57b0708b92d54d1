"""The user's data: validation and splits, labels, image files, feature columns, manifests, and the offline datasets.

``autoal.data`` was one module before the layout had subpackages; its public names are re-exported here.
"""

from autoal.data.image_files import find_bad_images
from autoal.data.labels import UNKNOWN, match_class, normalize_labels
from autoal.data.prepare import PreparedData, check_columns, prepare_data

__all__ = ["PreparedData", "check_columns", "normalize_labels", "find_bad_images", "prepare_data", "match_class",
           "UNKNOWN"]
