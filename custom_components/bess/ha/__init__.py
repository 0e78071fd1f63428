"""Home Assistant adapters: implement engine/ports.py with entities, services and the recorder."""
