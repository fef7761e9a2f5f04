"""The game's service layer: views, admin, commands and tasks call these."""
