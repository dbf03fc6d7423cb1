"""The services a plugin context hands out; each checks the plugin's grant on every call."""
