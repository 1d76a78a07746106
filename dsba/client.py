"""Python client for the dsba JSON API: the same operations as LocalService, over HTTP."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from dsba.client_monitoring import MonitoringCalls
from dsba.errors import (
    Conflict,
    DsbaError,
    Forbidden,
    InvalidInput,
    NotFound,
    StoreError,
    TooLarge,
)

if TYPE_CHECKING:
    import pandas as pd

    from dsba.model.prediction import Predictions

ProgressCallback = Callable[[int, int], None]
# Called with a search's progress record: trial, total, seconds_left, best, metric.
SearchProgress = Callable[[dict[str, Any]], None]
_DATASET_ID = re.compile(r"^[0-9a-f]{16}$")
FINISHED = ("succeeded", "failed", "cancelled")
# Rows per /api/predict call; below the server's default batch limit (DSBA_MAX_BATCH_ROWS).
BATCH_ROWS = 5_000


class Unauthorized(Forbidden):
    """The server refused the API token (missing, unknown, or without the needed role)."""

    code = "unauthorized"


class Unreachable(DsbaError):
    """The server could not be reached or did not answer in time."""

    code = "unreachable"


class JobFailed(DsbaError):
    """A training job ended in failure or was cancelled; .job holds its record."""

    code = "job_failed"

    def __init__(self, job: dict[str, Any]) -> None:
        ended = "was cancelled" if job.get("state") == "cancelled" else "failed"
        super().__init__(f"training job {job['id']} {ended}: {job.get('error') or 'no reason'}")
        self.job = job


def error_for(status: int, message: str, errors: dict[str, Any] | None) -> DsbaError:
    """The dsba exception matching an HTTP error status."""
    kinds: dict[int, type[DsbaError]] = {
        400: InvalidInput,
        404: NotFound,
        405: InvalidInput,
        409: Conflict,
        413: TooLarge,
        415: InvalidInput,
        422: InvalidInput,
        503: StoreError,
    }
    if status == 401:
        return Unauthorized(f"{message} (pass --token or set DSBA_TOKEN)", errors)
    if status == 403 and errors is None and message.startswith("user "):
        return Unauthorized(f"{message} (this token's role does not allow it)", errors)
    if status == 403:
        return Forbidden(message, errors)
    kind = kinds.get(status)
    if kind is None:
        return DsbaError(f"server answered HTTP {status}: {message}", errors)
    return kind(message, errors)


class _BearerAuth(requests.auth.AuthBase):
    """Authorization: Bearer <token> (set as auth, so a .netrc cannot replace it)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def _ref(ref: str) -> str:
    return quote(str(ref), safe="@:")


class Client(MonitoringCalls):
    """A dsba server at base_url; token is an API token when the server has auth on."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.auth = _BearerAuth(token) if token else None

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API and return its JSON (raw=True: the bytes); an error status raises."""
        url = f"{self.base_url}{path}"
        raw = kwargs.pop("raw", False)
        try:
            response = self.session.request(
                method, url, auth=self.auth, timeout=kwargs.pop("timeout", self.timeout), **kwargs
            )
        except requests.Timeout as exc:
            raise Unreachable(f"{self.base_url} did not answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise Unreachable(f"cannot reach {self.base_url}: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise DsbaError(f"request to {self.base_url} failed: {exc}") from exc
        if response.ok:
            if raw:
                return response.content
            return response.json() if response.content else None
        raise self._error(response)

    @staticmethod
    def _error(response: requests.Response) -> DsbaError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            errors = body.get("errors") if isinstance(body.get("errors"), dict) else None
            return error_for(response.status_code, body["message"], errors)
        text = " ".join(response.text.split())[:200] or response.reason or "no details"
        return error_for(response.status_code, text, None)

    def health(self) -> dict[str, Any]:
        """The server's liveness answer."""
        return self.request("GET", "/healthz")

    def upload(self, data: str | Path | IO[bytes] | pd.DataFrame, filename: str | None = None):
        """Upload a CSV, Parquet or JSON-lines file (path, file or DataFrame); get its profile."""
        if isinstance(data, str | Path):
            path = Path(data)
            with path.open("rb") as handle:
                return self.upload(handle, filename or path.name)
        if hasattr(data, "to_parquet"):
            buffer = io.BytesIO()
            data.to_parquet(buffer, index=False)
            buffer.seek(0)
            return self.upload(buffer, filename or "frame.parquet")
        name = filename or Path(getattr(data, "name", "") or "data.csv").name
        return self.request("POST", "/api/datasets", files={"file": (name, data)})

    def datasets(self) -> list[dict[str, Any]]:
        """Stored datasets, newest first."""
        return self.request("GET", "/api/datasets")

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        """One dataset's profile and preview."""
        return self.request("GET", f"/api/datasets/{quote(dataset_id, safe='')}")

    def submit(
        self,
        source: Any,
        *,
        target: str,
        name: str,
        params: dict[str, Any] | None = None,
        test_size: float = 0.2,
        seed: int = 42,
        exclude: list[str] | None = None,
        kinds: dict[str, str] | None = None,
        task: str | None = None,
        interval: float | None = None,
        optimize: str | None = None,
        time_budget: float | None = None,
        trials: int | None = None,
    ) -> dict[str, Any]:
        """Start a training job; a local file or DataFrame is uploaded first. Return the job.

        exclude leaves feature columns out; kinds gives columns a kind instead of the
        inferred one (numeric, categorical, datetime, boolean, or ignore). time_budget
        (seconds) and trials search hyperparameters, stopping at whichever comes first.
        """
        body: dict[str, Any] = {
            "target": target,
            "name": name,
            "params": params or {},
            "test_size": test_size,
            "seed": seed,
        }
        if exclude:
            body["exclude"] = list(exclude)
        if kinds:
            body["kinds"] = dict(kinds)
        # None: the server's defaults (the task inferred from the target, 90% intervals).
        body.update({k: v for k, v in (("task", task), ("interval", interval)) if v is not None})
        if optimize:
            body["optimize"] = optimize
        body.update(
            {k: v for k, v in (("time_budget", time_budget), ("trials", trials)) if v is not None}
        )
        if isinstance(source, str) and "://" in source:
            body["source"] = source
        elif isinstance(source, str | Path) and Path(source).is_file():
            body["dataset_id"] = self.upload(source)["id"]
        elif isinstance(source, str) and _DATASET_ID.match(source):
            body["dataset_id"] = source
        elif isinstance(source, str):
            body["source"] = source  # a path inside the server's data folder
        else:
            body["dataset_id"] = self.upload(source)["id"]
        return self.request("POST", "/api/train", json=body)

    def train(
        self,
        source: Any,
        *,
        target: str,
        name: str,
        params: dict[str, Any] | None = None,
        test_size: float = 0.2,
        seed: int = 42,
        wait: bool = True,
        progress: ProgressCallback | None = None,
        poll: float = 0.5,
        exclude: list[str] | None = None,
        kinds: dict[str, str] | None = None,
        task: str | None = None,
        interval: float | None = None,
        optimize: str | None = None,
        time_budget: float | None = None,
        trials: int | None = None,
        search_progress: SearchProgress | None = None,
    ) -> dict[str, Any]:
        """Train from a local file, DataFrame, URL, dataset id or data-folder path.

        With wait (the default) block until the job ends and return the new version's
        metadata, reporting a search's trials to search_progress(record), then rounds to
        progress(done, total); otherwise return the job.
        """
        job = self.submit(
            source,
            target=target,
            name=name,
            params=params,
            test_size=test_size,
            seed=seed,
            exclude=exclude,
            kinds=kinds,
            task=task,
            interval=interval,
            optimize=optimize,
            time_budget=time_budget,
            trials=trials,
        )
        if not wait:
            return job
        finished = self.wait(
            job["id"], progress=progress, poll=poll, search_progress=search_progress
        )
        return self.metadata(finished["model"])

    def job(self, job_id: str) -> dict[str, Any]:
        """A job's state, progress, and its model or error."""
        return self.request("GET", f"/api/jobs/{quote(job_id, safe='')}")

    def jobs(self) -> list[dict[str, Any]]:
        """Recent jobs, newest first."""
        return self.request("GET", "/api/jobs")

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Ask a queued or running job to stop; return its record."""
        return self.request("POST", f"/api/jobs/{quote(job_id, safe='')}/cancel")

    def delete_job(self, job_id: str) -> dict[str, Any]:
        """Remove a finished job from the list (an active one is refused: cancel it first)."""
        return self.request("DELETE", f"/api/jobs/{quote(job_id, safe='')}")

    def wait(
        self,
        job_id: str,
        progress: ProgressCallback | None = None,
        poll: float = 0.5,
        timeout: float | None = None,
        search_progress: SearchProgress | None = None,
    ) -> dict[str, Any]:
        """Poll a job until it ends; return it if it succeeded, raise JobFailed if not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reported = 0
        while True:
            job = self.job(job_id)
            state = job.get("progress") or {}
            if "trial" in state and search_progress is not None:
                search_progress(state)
            # Boosting rounds of a training job, rows of a scoring job.
            done, total = state.get("round", state.get("rows", 0)), state.get("total", 0)
            if progress is not None and total and done > reported:
                reported = done
                progress(done, total)
            if job["state"] == "succeeded":
                return job
            if job["state"] in FINISHED:
                raise JobFailed(job)
            if deadline is not None and time.monotonic() > deadline:
                raise Unreachable(f"job {job_id} did not finish within {timeout:g} s")
            time.sleep(poll)

    def score_file(
        self,
        ref: str,
        path: str | Path,
        out: str | Path,
        *,
        explain: bool = False,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Score a file of any size as a server job; write the scored CSV to out, return the job."""
        path = Path(path)
        with path.open("rb") as handle:
            job = self.request(
                "POST",
                "/api/score",
                files={"file": (path.name, handle)},
                data={"model": ref, "explain": "true" if explain else "false"},
            )
        job = self.wait(job["id"], progress=progress)
        url = f"{self.base_url}/api/jobs/{quote(job['id'], safe='')}/scored"
        # Streamed to the file: a scored file may be larger than this process should hold.
        with self.session.get(url, auth=self.auth, timeout=self.timeout, stream=True) as answer:
            if not answer.ok:
                raise self._error(answer)
            with open(out, "wb") as target:
                for block in answer.iter_content(1 << 20):
                    target.write(block)
        return job

    def list_models(self) -> list[dict[str, Any]]:
        """Every model with its latest version, aliases and headline metrics."""
        return self.request("GET", "/api/models")

    models = list_models

    def metadata(self, ref: str) -> dict[str, Any]:
        """Metadata of the version a reference (name, name:N, name@alias) points at."""
        return self.request("GET", f"/api/models/{_ref(ref)}/metadata")

    def set_threshold(self, ref: str, threshold: float) -> dict[str, Any]:
        """Save a new version of ref's binary model with another threshold; return its metadata."""
        return self.request(
            "POST", f"/api/models/{_ref(ref)}/threshold", json={"threshold": threshold}
        )

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        """Point name@alias at a version."""
        path = f"/api/models/{_ref(name)}/aliases/{_ref(alias)}"
        return self.request("PUT", path, json={"version": version})

    def delete(self, ref: str) -> dict[str, Any]:
        """Delete the exact version name:N."""
        name, _, version = str(ref).partition(":")
        if not version.isdigit():
            raise InvalidInput(
                f"delete needs an exact version like {name}:1, not {ref!r}", {"ref": ref}
            )
        return self.request("DELETE", f"/api/models/{_ref(name)}/versions/{version}")

    def delete_model(self, name: str) -> dict[str, Any]:
        """Delete every version and alias of a model."""
        return self.request("DELETE", f"/api/models/{_ref(name)}")

    def delete_alias(self, name: str, alias: str) -> dict[str, Any]:
        """Remove name@alias; the versions stay."""
        return self.request("DELETE", f"/api/models/{_ref(name)}/aliases/{_ref(alias)}")

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of a model, newest first, with aliases and metrics."""
        return self.request("GET", f"/api/models/{_ref(name)}/versions")

    def compare(self, name: str, versions: Any) -> dict[str, Any]:
        """Versions of a model side by side (versions: '1,2' or [1, 2])."""
        text = versions if isinstance(versions, str) else ",".join(str(v) for v in versions)
        return self.request("GET", f"/api/models/{_ref(name)}/compare", params={"versions": text})

    def delete_dataset(self, dataset_id: str) -> dict[str, Any]:
        """Delete a stored dataset (refused while a job trains on it)."""
        return self.request("DELETE", f"/api/datasets/{quote(dataset_id, safe='')}")

    def predict(
        self, ref: str, rows: list[dict[str, Any]] | pd.DataFrame, contributions: bool = False
    ) -> dict[str, Any]:
        """Score records or a DataFrame; return {model, predictions, warnings} as the API does."""
        if hasattr(rows, "to_json"):
            return self._predict_frame_json(ref, rows, contributions)
        # NaN (pandas' missing value) is not JSON: send it as null, which the API reads as missing.
        records = [
            {k: None if isinstance(v, float) and v != v else v for k, v in row.items()}
            if isinstance(row, dict)
            else row
            for row in rows
        ]
        body = {"model": ref, "records": records, "contributions": contributions}
        return self.request("POST", "/api/predict", json=body)

    def _predict_frame_json(self, ref: str, frame: pd.DataFrame, contributions: bool):
        model, predictions, warnings = None, [], []
        for start in range(0, max(len(frame), 1), BATCH_ROWS):
            chunk = frame.iloc[start : start + BATCH_ROWS]
            # pandas writes NaN as null and dates as ISO strings, as the API expects.
            records = chunk.to_json(orient="records", date_format="iso")
            body = (
                f'{{"model": {json.dumps(ref)}, "contributions": {json.dumps(contributions)}, '
                f'"records": {records}}}'
            )
            answer = self.request(
                "POST", "/api/predict", data=body, headers={"Content-Type": "application/json"}
            )
            model = answer["model"]
            predictions.extend(answer["predictions"])
            warnings.extend(w for w in answer["warnings"] if w not in warnings)
        return {"model": model, "predictions": predictions, "warnings": warnings}

    def text_features(self, ref: str) -> tuple[str, frozenset[str]]:
        """ref and no names: the API does not expose feature kinds (the server maps 7.0 to "7")."""
        return ref, frozenset()

    def predict_frame(self, ref: str, frame: pd.DataFrame, **options: Any) -> Predictions:
        """Score a DataFrame; the result works like LocalService.predict_frame's."""
        import numpy as np

        from dsba.model.prediction import Predictions

        if len(frame) == 0:
            meta = self.metadata(ref)
            classes = meta["classes"]
            regression = meta.get("task") == "regression"
            return Predictions(
                f"{meta['name']}:{meta['version']}",
                classes,
                [],
                np.zeros((0, len(classes))),
                intervals=np.zeros((0, 2)) if regression else None,
            )
        answer = self._predict_frame_json(ref, frame, bool(options.get("contributions")))
        rows = answer["predictions"]
        flags = {
            i: {key: row[key] for key in ("unseen", "unreliable") if key in row}
            for i, row in enumerate(rows)
            if "unseen" in row or "unreliable" in row
        }
        explained = "contributions" in rows[0]
        common = {
            "contributions": [row["contributions"] for row in rows] if explained else None,
            "flags": flags,
            # The server's prediction log ids, when it logged the rows (all or none of a call).
            "ids": [row["id"] for row in rows] if all("id" in row for row in rows) else None,
        }
        if "value" in rows[0]:
            return Predictions(
                answer["model"],
                [],
                [row["value"] for row in rows],
                np.zeros((len(rows), 0)),
                answer["warnings"],
                intervals=np.array([row["interval"] for row in rows], dtype=np.float64),
                **common,
            )
        names = list(rows[0]["probabilities"])
        labels = [row["label"] for row in rows]
        # Probability keys are strings; keep the labels' own type (e.g. int classes) where known.
        by_name = {str(label): label for label in labels}
        classes = [by_name.get(name, name) for name in names]
        probabilities = np.array([[row["probabilities"][n] for n in names] for row in rows])
        return Predictions(
            answer["model"], classes, labels, probabilities, answer["warnings"], **common
        )
