"""The PMG engine: personalized multimodal generation as services (never imports discord)."""

__version__ = "0.1.0"
