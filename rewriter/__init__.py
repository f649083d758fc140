"""rewriter: find what makes an article unfit to publish and propose sourced, minimal fixes."""

__version__ = "0.1.0"
