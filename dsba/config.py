"""Settings: every DSBA_* environment variable, read once into one frozen dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from dsba.errors import InvalidInput

# Documented default: a folder under the current directory, the same relative
# layout the container uses (/app/models/registry).
DEFAULT_REGISTRY_DIR = "models/registry"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a number, got {raw!r}") from exc


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be on or off, got {raw!r}")


def _positive(env: dict[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise InvalidInput(f"{name} must be 1 or more, got {value}")
    return value


def _fraction(env: dict[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{name} must be between 0 and 1, got {value:g}")
    return value


def _hops(env: dict[str, str]) -> int:
    hops = _int(env, "DSBA_PROXY_HOPS", 0)
    if hops < 0:
        raise InvalidInput(f"DSBA_PROXY_HOPS must be 0 or more, got {hops}")
    return hops


def _not_negative(env: dict[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if not value >= 0:  # also refuses NaN
        raise InvalidInput(f"{name} must be 0 or more, got {value:g}")
    return value


def _vault_url(env: dict[str, str]) -> str | None:
    url = env.get("DSBA_KEY_VAULT_URL", "").strip()
    if url and not url.startswith("https://"):
        raise InvalidInput(
            f"DSBA_KEY_VAULT_URL must be https://<vault>.vault.azure.net, got {url!r}"
        )
    return url or None


def _list(env: dict[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Configuration of one dsba process; build it with Settings.from_env()."""

    registry_dir: Path = Path(DEFAULT_REGISTRY_DIR)
    data_dir: Path | None = None
    env: str = "development"
    max_upload_bytes: int = 200 * 1024 * 1024
    max_rows: int = 5_000_000
    max_columns: int = 1_000
    max_categories: int = 1_000
    max_batch_rows: int = 10_000
    # A scoring body (JSON, CSV or a file to score): 10,000 rows of 40 features fit in 16 MB.
    max_predict_bytes: int = 16 * 1024 * 1024
    url_timeout: float = 30.0
    url_max_bytes: int = 200 * 1024 * 1024
    url_allow_hosts: tuple[str, ...] = field(default_factory=tuple)
    max_jobs: int = 2
    # Finished job records kept (newest first); listings open only the records they show.
    job_history: int = 1_000
    train_threads: int = 0
    predict_threads: int = 1
    job_heartbeat_seconds: float = 2.0
    job_stale_seconds: float = 30.0
    # A job still training after this many seconds is stopped and failed (0: no limit).
    job_timeout_seconds: float = 6 * 3600.0
    model_cache_size: int = 16
    dask_scheduler: str | None = None
    dask_min_bytes: int = 256 * 1024 * 1024
    # name:role:sha256 entries; never the tokens themselves. Empty means auth is off.
    api_tokens: str = field(default="", repr=False)
    login_attempts_per_minute: int = 5
    # Proxies in front of the app whose X-Forwarded-For entry is trusted (0: none, the
    # client is the peer address; 1 behind Caddy in ACI, 2 in Container Apps).
    proxy_hops: int = 0
    log_json: bool = True
    # The server logs every scored row (the CLI only with `dsba predict --log`).
    prediction_log: bool = True
    # Share of scoring requests logged (a request's rows are logged together or not at all).
    prediction_log_sample: float = 1.0
    # Days of prediction log and feedback kept; older day folders are deleted.
    prediction_log_days: int = 90
    # Monitoring: a drift score counts above this (or above the window's noise, if higher).
    drift_threshold: float = 0.1
    # Windows with fewer rows are reported as too small to judge.
    drift_min_rows: int = 100
    # Missing-rate rise, out-of-range and unseen shares above this are data-quality warnings.
    quality_threshold: float = 0.05
    # Above this expected calibration error (test part), the estimated accuracy is flagged.
    calibration_max_ece: float = 0.05
    # Azure Key Vault holding SECRET_KEY and the token table (https://<name>.vault.azure.net).
    key_vault_url: str | None = None
    # Seconds between re-reads of the vault's token table, per worker.
    key_vault_refresh_seconds: float = 300.0

    @property
    def data_root(self) -> Path:
        """Folder that training may read local paths from (DSBA_DATA_DIR)."""
        return self.data_dir if self.data_dir is not None else self.registry_dir / "data"

    @property
    def is_production(self) -> bool:
        """True when DSBA_ENV=production: unsafe defaults are refused."""
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read every DSBA_* variable; unset ones keep their documented default."""
        env = dict(os.environ if environ is None else environ)
        data_dir = env.get("DSBA_DATA_DIR")
        return cls(
            registry_dir=Path(env.get("DSBA_REGISTRY_DIR") or DEFAULT_REGISTRY_DIR).absolute(),
            data_dir=Path(data_dir).absolute() if data_dir else None,
            env=env.get("DSBA_ENV", "development").strip().lower() or "development",
            max_upload_bytes=_int(env, "DSBA_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            max_rows=_int(env, "DSBA_MAX_ROWS", cls.max_rows),
            max_columns=_int(env, "DSBA_MAX_COLUMNS", cls.max_columns),
            max_categories=_int(env, "DSBA_MAX_CATEGORIES", cls.max_categories),
            max_batch_rows=_int(env, "DSBA_MAX_BATCH_ROWS", cls.max_batch_rows),
            max_predict_bytes=_int(env, "DSBA_MAX_PREDICT_BYTES", cls.max_predict_bytes),
            url_timeout=_float(env, "DSBA_URL_TIMEOUT", cls.url_timeout),
            url_max_bytes=_int(env, "DSBA_URL_MAX_BYTES", cls.url_max_bytes),
            url_allow_hosts=_list(env, "DSBA_URL_ALLOW_HOSTS"),
            max_jobs=_int(env, "DSBA_MAX_JOBS", cls.max_jobs),
            job_history=_int(env, "DSBA_JOB_HISTORY", cls.job_history),
            train_threads=_int(env, "DSBA_TRAIN_THREADS", cls.train_threads),
            predict_threads=_int(env, "DSBA_PREDICT_THREADS", cls.predict_threads),
            job_heartbeat_seconds=_float(env, "DSBA_JOB_HEARTBEAT", cls.job_heartbeat_seconds),
            job_stale_seconds=_float(env, "DSBA_JOB_STALE", cls.job_stale_seconds),
            job_timeout_seconds=_float(env, "DSBA_JOB_TIMEOUT", cls.job_timeout_seconds),
            model_cache_size=_int(env, "DSBA_MODEL_CACHE_SIZE", cls.model_cache_size),
            dask_scheduler=env.get("DSBA_DASK_SCHEDULER") or None,
            dask_min_bytes=_int(env, "DSBA_DASK_MIN_BYTES", cls.dask_min_bytes),
            api_tokens=env.get("DSBA_API_TOKENS", ""),
            login_attempts_per_minute=_int(
                env, "DSBA_LOGIN_ATTEMPTS_PER_MINUTE", cls.login_attempts_per_minute
            ),
            proxy_hops=_hops(env),
            log_json=env.get("DSBA_LOG_FORMAT", "json").strip().lower() != "text",
            prediction_log=_switch(env, "DSBA_PREDICTION_LOG", cls.prediction_log),
            prediction_log_sample=_fraction(
                env, "DSBA_PREDICTION_LOG_SAMPLE", cls.prediction_log_sample
            ),
            prediction_log_days=_positive(env, "DSBA_PREDICTION_LOG_DAYS", cls.prediction_log_days),
            drift_threshold=_float(env, "DSBA_DRIFT_THRESHOLD", cls.drift_threshold),
            drift_min_rows=_int(env, "DSBA_DRIFT_MIN_ROWS", cls.drift_min_rows),
            quality_threshold=_float(env, "DSBA_QUALITY_THRESHOLD", cls.quality_threshold),
            calibration_max_ece=_float(env, "DSBA_CALIBRATION_MAX_ECE", cls.calibration_max_ece),
            key_vault_url=_vault_url(env),
            key_vault_refresh_seconds=_not_negative(
                env, "DSBA_KEY_VAULT_REFRESH_SECONDS", cls.key_vault_refresh_seconds
            ),
        )

    @classmethod
    def variables(cls) -> list[str]:
        """Names of the dataclass fields, for documentation checks."""
        return [f.name for f in fields(cls)]
