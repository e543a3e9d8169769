"""Training: the one trainer (base or fine-tune, full or LoRA, any device), checkpoints, LoRA, the schedule.

Imports the method core and the reference preparation, never the toy world or the CLI.
"""
