"""finetune: instruction tuning and evaluation for the models tuichat runs."""
