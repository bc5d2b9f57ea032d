"""Settings of one local stack, all from the environment (the defaults are the contract's addresses)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
DEMO_TENANT = "demo"


class ConfigError(Exception):
    """An environment variable has a value the stack cannot use."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is not a port number")
    return port


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class LocalConfig:
    """Ports, secrets and knobs of the local stack."""

    api_port: int = 3000
    emulator_port: int = 4010
    moto_port: int = 5000
    jwt_secret: str = "local-dev-secret"
    qbo_client_id: str = "local-client-id"
    qbo_client_secret: str = "local-client-secret"
    qbo_webhook_verifier: str = "local-verifier-token"
    ui_base_url: str = ""
    template_path: Path = ROOT / "template.yaml"
    stage: str = "local"
    # Seconds before a message whose processing failed is visible again (SQS would wait the queue's own timeout).
    sqs_retry_seconds: int = 1
    max_workers: int = 4
    async_retries: int = 2
    schedules_enabled: bool = True
    seed_demo: bool = True
    # The functions' full logs (and the stack's) go to a file here; LOCAL_VERBOSE=1 shows them on the terminal too.
    log_dir: Path = ROOT / ".local" / "logs"
    verbose: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalConfig:
        source = os.environ if env is None else env
        api_port = _port(source, "LOCAL_API_PORT", 3000)
        template = source.get("LOCAL_TEMPLATE", "")
        return cls(
            api_port=api_port,
            emulator_port=_port(source, "QBO_EMULATOR_PORT", 4010),
            moto_port=_port(source, "MOTO_PORT", 5000),
            jwt_secret=source.get("LOCAL_JWT_SECRET", "") or "local-dev-secret",
            qbo_client_id=source.get("QBO_CLIENT_ID", "") or "local-client-id",
            qbo_client_secret=source.get("QBO_CLIENT_SECRET", "") or "local-client-secret",
            qbo_webhook_verifier=source.get("QBO_WEBHOOK_VERIFIER", "") or "local-verifier-token",
            ui_base_url=source.get("UI_BASE_URL", ""),
            template_path=Path(template) if template else ROOT / "template.yaml",
            sqs_retry_seconds=max(0, int(_float(source, "LOCAL_SQS_RETRY_SECONDS", 1))),
            max_workers=max(1, int(_float(source, "LOCAL_MAX_WORKERS", 4))),
            async_retries=max(0, int(_float(source, "LOCAL_ASYNC_RETRIES", 2))),
            schedules_enabled=source.get("LOCAL_SCHEDULES", "on").lower() not in {"0", "off", "false", "no"},
            seed_demo=source.get("LOCAL_DEMO", "on").lower() not in {"0", "off", "false", "no"},
            log_dir=Path(source.get("LOCAL_LOG_DIR", "") or ROOT / ".local" / "logs"),
            verbose=source.get("LOCAL_VERBOSE", "").lower() not in {"", "0", "off", "false", "no"},
        )

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://{HOST}:{self.emulator_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.moto_port}"

    @property
    def name_prefix(self) -> str:
        """Physical names are ``books360-local-<LogicalId>``, as a stack named ``books360-local`` would give."""
        return f"books360-{self.stage}"

    def ports(self) -> list[tuple[str, int]]:
        """Each port with the variable that moves it, in the order they are checked."""
        return [
            ("LOCAL_API_PORT", self.api_port),
            ("QBO_EMULATOR_PORT", self.emulator_port),
            ("MOTO_PORT", self.moto_port),
        ]

    def parameter_values(self) -> dict[str, str]:
        """Local values of the template parameters that have no usable default here."""
        return {
            "Stage": self.stage,
            "JwtIssuer": f"{self.api_url}/_local/issuer",
            "JwtAudience": "books360-local",
            "UiBaseUrl": self.ui_base_url or f"{self.api_url}/_local/ui",
            "PublicApiUrl": self.api_url,
            "QboApiBaseUrl": self.emulator_url,
            "QboDiscoveryUrl": f"{self.emulator_url}/.well-known/openid_configuration",
        }
