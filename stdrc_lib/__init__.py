"""stdrc: ST-DRC identity-preserving text-to-video on diffusers' LTX-2 classes."""

__version__ = "0.1.0"
