"""gwkit.submit / gwkit.download through the real kaggle client against a local fake API.

Each CLI runs in a subprocess whose environment points the client at
:class:`tests.fake_kaggle.FakeKaggle` (``KAGGLE_API_ENVIRONMENT=LOCALHOST`` plus
``HTTP_PROXY`` to the fake on 127.0.0.1); see tests/fake_kaggle.py. No request can
leave the machine.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gwkit.core.kaggle_client import KaggleError, wait_for_score

sys.path.insert(0, str(Path(__file__).parent))
from fake_kaggle import FakeKaggle  # noqa: E402

# Not imported here: importing kaggle authenticates and creates a config folder in $HOME.
if importlib.util.find_spec("kaggle") is None:  # pragma: no cover
    pytest.skip("the kaggle package is not installed", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
SLUG = "2023-gwdata-bootcamp"
GOOD = "id,target\n0,0.5\n1,0.25\n2,1\n"


def run_cli(fake: FakeKaggle, tmp_path: Path, module: str, *args: str,
            credentials: bool = True, extra_env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess:
    env = fake.client_env(home=str(tmp_path / "home"), credentials=credentials)
    env.pop("GWKIT_DATA", None)  # only the test's own files are found
    env["GWKIT_KAGGLE_INPUT"] = str(tmp_path / "no-kaggle-input")
    env.update(extra_env or {})
    env["PYTHONPATH"] = str(REPO) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def fake():
    with FakeKaggle(pending_polls=1) as server:
        yield server


def _with_provenance(csv: Path, data: Path) -> None:
    from gwkit.scoring.submission import input_record, write_submission

    write_submission(csv, np.array([0.5, 0.25, 1.0]), provenance={
        "input": input_record(data), "runs": ["weights/gwkit_resnet"], "tta": "none"})


@pytest.fixture
def good_csv(tmp_path) -> Path:
    """``GOOD`` with a sidecar vouching for ./data/test.npy (3 rows), which submit locates."""
    data = tmp_path / "data" / "test.npy"
    data.parent.mkdir()
    np.save(data, np.zeros((3, 1, 2, 8)))
    path = tmp_path / "submission.csv"
    _with_provenance(path, data)
    assert path.read_text() == GOOD
    return path


def test_submit_uploads_the_csv_and_waits_for_the_score(fake, tmp_path, good_csv):
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--message",
                "tiny run, flip TTA", "--wait", "--poll-interval", "0.05", "--timeout", "30")
    assert r.returncode == 0, r.stderr
    assert "public score: 0.87654" in r.stdout
    assert "Traceback" not in r.stderr

    (start,) = fake.calls("StartSubmissionUpload")
    assert start.json()["competitionName"] == SLUG
    assert start.json()["fileName"] == "submission.csv"
    assert start.json()["contentLength"] == len(GOOD.encode())
    auth = base64.b64encode(b"tester:secret-key").decode()
    assert start.headers.get("Authorization") == f"Basic {auth}"

    assert list(fake.uploads.values()) == [good_csv.read_bytes()]
    (create,) = fake.calls("CreateSubmission")
    body = create.json()
    assert body["competitionName"] == SLUG
    assert body["submissionDescription"] == "tiny run, flip TTA"
    assert body["blobFileTokens"] == next(iter(fake.uploads))
    assert len(fake.calls("ListSubmissions")) == 2  # pending once, then scored


def test_bad_csv_is_refused_before_any_request(fake, tmp_path):
    bad = tmp_path / "submission.csv"
    bad.write_text("id,target\n0,0.5\n1,1.7\n")
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(bad))
    assert r.returncode == 2
    assert "refused" in r.stderr and "[0, 1]" in r.stderr and str(bad) in r.stderr
    assert "Traceback" not in r.stderr
    assert fake.requests == []


def test_row_count_checked_against_test_npy(fake, tmp_path, good_csv):
    np.save(tmp_path / "test.npy", np.zeros((4, 1, 2, 8)))
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv),
                "--data", str(tmp_path / "test.npy"))
    assert r.returncode == 2 and "3 rows, expected 4" in r.stderr
    assert fake.requests == []


def test_row_count_check_is_reported_either_way(fake, tmp_path, good_csv):
    """Issue 14 item 4: no test.npy found used to skip the check without a word; issue 25
    item 2: without a test.npy the input cannot be checked either, so only --force uploads."""
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--dry-run")
    assert r.returncode == 0 and "row count: 3 rows match" in r.stdout
    assert "input check: passed" in r.stdout
    (tmp_path / "data" / "test.npy").rename(tmp_path / "moved.npy")
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--dry-run")
    assert r.returncode == 2 and "row count: not checked, no test.npy found" in r.stdout
    assert r.stderr.strip().splitlines() == [
        f"gwkit.submit: refused: {good_csv}: no competition test.npy found to compare its input "
        f"{tmp_path / 'data' / 'test.npy'} with (pass --data PATH to the downloaded test.npy); "
        "pass --force to submit it anyway"]
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--dry-run", "--force")
    assert r.returncode == 0 and "submitting anyway (--force)" in r.stdout
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--dry-run",
                "--data", str(tmp_path / "moved.npy"))
    assert r.returncode == 0 and "input check: passed" in r.stdout  # same bytes, moved
    assert fake.requests == []


def test_submit_fails_closed_without_a_sidecar(fake, tmp_path, good_csv):
    """Issue 25 item 2: a CSV without a provenance sidecar was uploaded (the other checks:
    tests/test_bad_inputs_outputs.py)."""
    (tmp_path / "submission.provenance.json").unlink()
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv))
    assert r.returncode == 2, r.stdout
    assert r.stderr.strip().splitlines() == [
        f"gwkit.submit: refused: {good_csv}: no provenance sidecar (submission.provenance.json "
        "absent; python -m gwkit.predict writes it), so its input cannot be checked; pass --force "
        "to submit it anyway"]
    assert fake.requests == []
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--force")
    assert r.returncode == 0, r.stderr
    assert "provenance check failed: no provenance sidecar" in r.stdout
    assert list(fake.uploads.values()) == [good_csv.read_bytes()]


@pytest.mark.parametrize("content", [b"", "npz", "missing"])
def test_unreadable_data_is_an_error(fake, tmp_path, good_csv, content):
    """Issue 14 item 4: an empty .npy or an .npz gave a traceback (or a skipped check)."""
    data = tmp_path / "test.npy"
    if content == "npz":
        np.savez(tmp_path / "t.npz", x=np.zeros(3))
        (tmp_path / "t.npz").rename(data)
    elif content == b"":
        data.write_bytes(content)
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--data", str(data))
    assert r.returncode == 2, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and str(data) in lines[0]
    assert fake.requests == []


def test_submission_of_simulated_data_needs_force(fake, tmp_path):
    """Issue 14 item 5: the main job's predictions on simulated data were uploaded."""
    demo = tmp_path / "data" / "demo"
    demo.mkdir(parents=True)
    np.save(demo / "test.npy", np.zeros((3, 1, 2, 8)))
    (demo / "labels.csv").write_text("id,target\n0,0\n1,1\n2,0\n")
    csv = tmp_path / "submissions" / "submission.csv"
    _with_provenance(csv, demo / "test.npy")
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(csv))
    assert r.returncode == 2
    assert "simulated set (labels.csv beside it)" in r.stderr and "--force" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert 'runs: ["weights/gwkit_resnet"]' in r.stdout  # the provenance is shown
    assert fake.requests == []
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(csv), "--force")
    assert r.returncode == 0, r.stderr
    assert "submitting anyway (--force)" in r.stdout
    assert list(fake.uploads.values()) == [csv.read_bytes()]


def test_submission_of_another_file_than_the_downloaded_test_npy(fake, tmp_path):
    other = tmp_path / "elsewhere" / "test.npy"
    other.parent.mkdir()
    np.save(other, np.ones((3, 1, 2, 8)))
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "test.npy", np.zeros((3, 1, 2, 8)))
    csv = tmp_path / "submission.csv"
    _with_provenance(csv, other)
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(csv), "--dry-run")
    assert r.returncode == 2 and "content differs from" in r.stderr
    _with_provenance(csv, tmp_path / "data" / "test.npy")
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(csv), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "input check: passed (simulated-set markers, sha256 against" in r.stdout


def test_malformed_kaggle_json_is_named(fake, tmp_path, good_csv):
    config = tmp_path / "home" / ".kaggle"
    config.mkdir(parents=True)
    (config / "kaggle.json").write_text('{"username": "tester", "key": ')
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), credentials=False)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "kaggle.json is malformed" in lines[0]
    assert "not found" not in lines[0]
    assert fake.requests == []


def test_unknown_gwkit_kaggle_value_is_one_line(fake, tmp_path):
    r = run_cli(fake, tmp_path, "gwkit.submit", "--dry-run", extra_env={"GWKIT_KAGGLE": "maybe"})
    assert r.returncode == 2
    assert r.stderr.strip() == ("gwkit.submit: refused: GWKIT_KAGGLE must be 1/0 (or true/false), "
                                "got 'maybe'")


def test_missing_credentials_give_a_clear_error(fake, tmp_path, good_csv):
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), credentials=False)
    assert r.returncode == 1
    assert "KAGGLE_USERNAME" in r.stderr and "kaggle.json" in r.stderr
    assert "KAGGLE_API_TOKEN" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert fake.requests == []


def test_dry_run_makes_no_request(fake, tmp_path, good_csv):
    r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv), "--dry-run",
                credentials=False)
    assert r.returncode == 0 and "dry run" in r.stdout
    assert fake.requests == []


def test_failed_upload_is_reported(tmp_path, good_csv):
    with FakeKaggle(upload_status=500) as fake:
        r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv))
    assert r.returncode == 1
    assert "Could not submit" in r.stderr and "Traceback" not in r.stderr
    assert fake.calls("CreateSubmission") == []


def test_error_message_in_response_is_reported(tmp_path, good_csv):
    with FakeKaggle(create_response={"message": "Submission limit reached"}) as fake:
        r = run_cli(fake, tmp_path, "gwkit.submit", "--file", str(good_csv))
    assert r.returncode == 1 and "Submission limit reached" in r.stderr


def test_download_fetches_and_unzips(tmp_path):
    buf, array = io.BytesIO(), io.BytesIO()
    np.save(array, np.zeros((2, 1, 2, 8)))
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("test.npy", array.getvalue())
        z.writestr("sample_submission.csv", "id,target\n0,0.5\n")
    with FakeKaggle(zip_bytes=buf.getvalue()) as fake:
        r = run_cli(fake, tmp_path, "gwkit.download", "--path", "data")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "test.npy").read_bytes() == array.getvalue()
    assert (tmp_path / "data" / "sample_submission.csv").is_file()
    assert not (tmp_path / "data" / f"{SLUG}.zip").exists()
    (call,) = fake.calls("DownloadDataFiles")
    assert call.json()["competitionName"] == SLUG


# --------------------------------------------------------------------------- wait_for_score


class _Sub:
    def __init__(self, ref, status, score=None, error=None):
        from kagglesdk.competitions.types.submission_status import SubmissionStatus

        self.ref, self.public_score, self.error_description = ref, score, error
        self.status = SubmissionStatus[status]


class _Api:
    def __init__(self, *lists):
        self.lists = list(lists)

    def competition_submissions(self, competition):
        return self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]


def test_wait_for_score_error_and_timeout():
    api = _Api([_Sub(7, "PENDING")], [_Sub(7, "ERROR", error="bad ids")])
    with pytest.raises(KaggleError, match="bad ids"):
        wait_for_score(api, SLUG, 7, poll_interval=0, sleep=lambda s: None)
    t = iter(range(100))
    with pytest.raises(KaggleError, match="timed out"):
        wait_for_score(_Api([_Sub(7, "PENDING")]), SLUG, 7, poll_interval=1, timeout=3,
                       clock=lambda: next(t), sleep=lambda s: None)
    sub = wait_for_score(_Api([_Sub(8, "PENDING"), _Sub(7, "COMPLETE", "0.9")]), SLUG, 7,
                         sleep=lambda s: None)
    assert sub.public_score == "0.9"
