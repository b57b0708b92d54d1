"""autoal: active learning on top of AutoGluon MultiModal, scored with cleanlab's ActiveLab."""
__version__ = "0.1.0"
