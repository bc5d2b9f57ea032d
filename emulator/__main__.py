"""``python -m emulator``: serve the emulator on QBO_EMULATOR_HOST:QBO_EMULATOR_PORT (127.0.0.1:4010)."""

from __future__ import annotations

import os

import uvicorn

from emulator.app import create_app
from emulator.state import EmulatorConfig


def main() -> None:
    host = os.environ.get("QBO_EMULATOR_HOST", "127.0.0.1")
    port = int(os.environ.get("QBO_EMULATOR_PORT", "4010"))
    uvicorn.run(create_app(EmulatorConfig.from_env()), host=host, port=port, log_level="info")


if __name__ == "__main__":
    main()
