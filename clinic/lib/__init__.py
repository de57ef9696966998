"""Small helpers shared by every app: phones, settings parsing, log masking."""
