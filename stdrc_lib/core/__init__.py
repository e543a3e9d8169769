"""The method: ST-DRC on diffusers' LTX-2 classes, with nothing of the toy world.

``config`` (position schemes, guidance settings and their defaults), ``positions`` (TASS-RoPE and the
other schemes as ``video_coords``), ``reference`` (image → VAE → clean in-context tokens, one frame-count
check), ``backbone`` (the one call of the transformer), ``guidance`` (three streams), ``sampling``
(Euler), ``attention`` (capture), ``refcache`` (reference keys and values), ``losses`` (flow matching,
identity). A test keeps this package from importing ``stdrc_lib.toy``, ``stdrc_lib.cli``,
``stdrc_lib.pipeline`` or ``stdrc_lib.train``.
"""
