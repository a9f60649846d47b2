"""--resume: a killed run's work folder is adopted; without it, leftovers are removed as before."""
import os
from pathlib import Path

from pipeline import output_folder as of


def leftover(out: Path, pid: int, with_work: bool) -> Path:
    folder = of.staging_path(out, "partial", pid)
    folder.mkdir()
    (folder / of.MARKER).write_text("landcheck staging folder of pid %d\n" % pid)
    (folder / "report.html").write_text("half written")
    if with_work:
        (folder / of.WORK_DIR / "counties").mkdir(parents=True)
        (folder / of.WORK_DIR / "counties" / "220202.pkl").write_bytes(b"checkpoint")
    return folder


def test_resume_adopts_the_newest_work_folder_and_keeps_only_it(tmp_path):
    out = tmp_path / "o"
    old = leftover(out, 111, with_work=True)
    newer = leftover(out, 222, with_work=True)
    os.utime(old / of.WORK_DIR, (1, 1))
    no_work = leftover(out, 333, with_work=False)
    claim = of.claim_output(out, [], resume=True)
    try:
        assert claim.resumed_from == newer.name
        staging = of.make_staging(claim.path, resume=True)
        assert staging == of.staging_path(claim.path, "partial")
        assert (staging / of.WORK_DIR / "counties" / "220202.pkl").read_bytes() == b"checkpoint"
        assert not (staging / "report.html").exists()  # deliverables are written again
        assert (staging / of.MARKER).exists()
        assert not old.exists() and not no_work.exists() and not newer.exists()
        (staging / "manifest.json").write_text('{"landcheck_manifest": 1, "outputs": {}}')
        of.publish(staging, claim.path)
        assert not (out / of.WORK_DIR).exists()  # checkpoints are never delivered
    finally:
        claim.release()


def test_without_resume_a_killed_runs_work_is_removed(tmp_path):
    out = tmp_path / "o"
    folder = leftover(out, 444, with_work=True)
    claim = of.claim_output(out, [])
    try:
        assert claim.resumed_from is None and not folder.exists()
        staging = of.make_staging(claim.path)
        assert not (staging / of.WORK_DIR).exists()
    finally:
        claim.release()


def test_resume_with_nothing_to_resume_starts_afresh(tmp_path):
    claim = of.claim_output(tmp_path / "o", [], resume=True)
    try:
        assert claim.resumed_from is None
        assert list(of.make_staging(claim.path, resume=True).iterdir()) == [
            of.staging_path(claim.path, "partial") / of.MARKER]
    finally:
        claim.release()
