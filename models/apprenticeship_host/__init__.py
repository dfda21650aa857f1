"""The `apprenticeship_host` model (RMA): which artisan companies will take on an apprentice next year."""

MODEL_NAME = "apprenticeship_host"
