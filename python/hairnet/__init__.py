"""HairNet: joint hair/skin segmentation and hair attributes (Borza et al., IJCB 2020)."""

__version__ = "0.1.0"
