"""The resource library API: packs and their sharing."""
