"""The toy evaluation's choices, importable without torch: ``stdrc --help`` lists them."""

# rows that `stdrc eval` can score, each on the same clips and noise
ROWS = ("model", "no_reference", "other_person", "ground_truth", "vae_reconstruction", "paste_reference")
# how the reference's light is treated before it is prepared: as it is, or re-lit to the prompt's light
REF_LIGHTS = ("as-is", "prompt")

# the prompt of `stdrc demo` when none is given
DEFAULT_PROMPT = "a person smiling in a forest moving left"
