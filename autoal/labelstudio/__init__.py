"""Label Studio as a front end: tasks out (:mod:`.tasks`), answers in (:mod:`.answers`), and live push/pull/sync
through its SDK: the server and the run's project in it (:mod:`.project`), where it serves the images from
(:mod:`.image_root`), :mod:`.push`, :mod:`.pull` and :mod:`.sync`.

``autoal.labelstudio`` was one module (the file export and import) before the layout had subpackages;
its public names are re-exported here.
"""

from autoal.labelstudio.answers import LabelStudioReport, UserMatcher, import_labelstudio, parse_user_map, store_answers
from autoal.labelstudio.tasks import FROM_NAME, PREDICTIONS, TO_NAME, batch_tasks, export_labelstudio, labeling_config

__all__ = ["export_labelstudio", "import_labelstudio", "labeling_config", "parse_user_map", "LabelStudioReport",
           "batch_tasks", "store_answers", "UserMatcher", "PREDICTIONS", "FROM_NAME", "TO_NAME"]
