"""Running county jobs: eager equals distributed, failures stay in their county, checkpoints resume."""
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import pipeline.county_runner as runner
from pipeline.config import CountyLayerConfig, LayerConfig, PatchesConfig
from pipeline.county_run import Sources, plan_jobs
from pipeline.county_runner import Checkpoints, run_jobs
from pipeline.layers import open_source, read_counties, read_patches

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_tiles"


def sample_jobs(tmp_path: Path, farmland: Path | None = None):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    patches, _ = read_patches(PatchesConfig(SAMPLE / "truth" / "truth.gpkg", "planted_patches",
                                            id_field="truth_id"))
    patches["origin"], patches["mean_score"] = "received", np.nan
    patches["before_date"], patches["after_date"] = None, None
    patches.to_file(work / "patches.gpkg", layer="patches")
    counties_cfg = CountyLayerConfig(SAMPLE / "vectors" / "counties.gpkg", "counties")
    sources = Sources(
        counties=open_source(counties_cfg, "counties"),
        patches=open_source(LayerConfig(work / "patches.gpkg", "patches"), "patches"),
        farmland=open_source(LayerConfig(farmland or SAMPLE / "vectors" / "farmland.gpkg"), "farmland",
                             index_dir=work),
        basic_farmland=open_source(LayerConfig(SAMPLE / "vectors" / "basic_farmland.shp"),
                                   "basic_farmland", index_dir=work),
        approved=open_source(LayerConfig(SAMPLE / "vectors" / "approved.gpkg"), "approved"),
    )
    counties, _ = read_counties(counties_cfg, with_fid=True)
    return plan_jobs(counties, sources, year=2025, official_ids=True)


def table(results) -> pd.DataFrame:
    frames = [pd.DataFrame(r.pieces.drop(columns="geometry")) for r in results]
    return pd.concat(frames, ignore_index=True).sort_values(["county_code", "patch_id"]) \
        .reset_index(drop=True)


def on_local_cluster(jobs, n_workers: int, checkpoints: Checkpoints | None = None):
    """run_jobs on a fresh LocalCluster of ``n_workers`` processes."""
    client = runner.local_cluster_client(n_workers)
    try:
        import dask
        # the workers run without distributed's statistical profiler
        assert set(client.run(lambda: dask.config.get("distributed.worker.profile.enabled")).values()) == {False}
        outcome = run_jobs(jobs, client=client, progress=False, checkpoints=checkpoints)
        import gc
        # the workers that ran county jobs collect garbage less often
        assert all(all(a >= b for a, b in zip(t, runner.GC_THRESHOLDS))
                   for t in client.run(gc.get_threshold).values())
        return outcome
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def test_distributed_equals_eager(tmp_path):
    pytest.importorskip("distributed")
    jobs = sample_jobs(tmp_path)
    eager, failed = run_jobs(jobs, progress=False)
    assert not failed and len(eager) == len(jobs) == 4
    checkpoints = Checkpoints(tmp_path / "checkpoints", "key")
    spread, failed = on_local_cluster(jobs, 2, checkpoints)
    assert not failed
    pd.testing.assert_frame_equal(table(eager), table(spread))
    # each result came back pickled by its task and was checkpointed as it came: the files load
    # to the same pieces, in a fresh reader of the folder
    saved = Checkpoints(tmp_path / "checkpoints", "key").load(j.county_code for j in jobs)
    assert sorted(saved) == sorted(j.county_code for j in jobs)
    pd.testing.assert_frame_equal(table(eager), table(saved.values()))


def test_batch_size_keeps_every_worker_busy():
    assert runner.batch_size(4, 2) == 1  # the sample: one county per task
    assert runner.batch_size(2875, 2) == runner.MAX_COUNTIES_PER_TASK  # the country on 2 workers
    assert runner.batch_size(100, 2) == 3  # still 16 tasks or more per worker
    assert runner.batch_size(100, 0) == 6  # a cluster whose workers have not joined yet


def test_counties_batched_in_tasks_equal_eager_and_fail_alone(tmp_path, monkeypatch):
    """Several counties per dask task: the same pieces, and a broken county fails on its own."""
    pytest.importorskip("distributed")
    jobs = sample_jobs(tmp_path, farmland=_broken_farmland(tmp_path))
    eager, eager_failed = run_jobs(jobs, progress=False)
    monkeypatch.setattr(runner, "batch_size", lambda n_jobs, n_threads: 3)  # tasks of 3 and 1
    spread, failed = on_local_cluster(jobs, 1)
    assert [f.county_code for f in failed] == [f.county_code for f in eager_failed] != []
    assert [f.reason for f in failed] == [f.reason for f in eager_failed]
    pd.testing.assert_frame_equal(table(eager), table(spread))


def _broken_farmland(tmp_path: Path) -> Path:
    """The sample's farmland plus a point inside county 220204's patch window."""
    farmland = gpd.read_file(SAMPLE / "vectors" / "farmland.gpkg", layer="farmland")
    counties = gpd.read_file(SAMPLE / "vectors" / "counties.gpkg", layer="counties")
    target = counties.set_index("XZQDM").loc["220204"].geometry
    truth = gpd.read_file(SAMPLE / "truth" / "truth.gpkg", layer="planted_patches").to_crs(counties.crs)
    inside = truth[truth.within(target)].geometry.iloc[0].representative_point()  # in its window
    broken = pd.concat([farmland, gpd.GeoDataFrame(geometry=[inside], crs=counties.crs)
                        .to_crs(farmland.crs)], ignore_index=True)
    path = tmp_path / "farmland_broken.gpkg"
    broken.to_file(path, layer="farmland")
    return path


def test_a_broken_county_fails_alone_and_loudly(tmp_path):
    path = _broken_farmland(tmp_path)
    jobs = sample_jobs(tmp_path, farmland=path)
    results, failures = run_jobs(jobs, progress=False)
    failed = [f.county_code for f in failures]
    assert "220204" in failed  # and any neighbour whose window reaches the bad feature
    assert all(str(path) in f.reason and "must hold polygons" in f.reason for f in failures)
    assert len(results) >= 2 and sorted([r.county_code for r in results] + failed) == \
        sorted(j.county_code for j in jobs)


def test_checkpoints_resume_only_the_unfinished_counties(tmp_path, monkeypatch):
    jobs = sample_jobs(tmp_path)
    first, _ = run_jobs(jobs, checkpoints=Checkpoints(tmp_path / "ck", "key-1"), progress=False)
    (tmp_path / "ck" / f"{jobs[1].county_code}.pkl").unlink()  # as if killed before it finished
    calls = []
    real = runner.run_county
    monkeypatch.setattr(runner, "run_county", lambda job: calls.append(job.county_code) or real(job))
    seen = []
    again, _ = run_jobs(jobs, checkpoints=Checkpoints(tmp_path / "ck", "key-1"), progress=False,
                        on_result=lambda r: seen.append(r.county_code))
    assert calls == [jobs[1].county_code]
    assert sorted(seen) == sorted(j.county_code for j in jobs)
    pd.testing.assert_frame_equal(table(first), table(again))
    calls.clear()
    run_jobs(jobs, checkpoints=Checkpoints(tmp_path / "ck", "key-2"), progress=False)  # inputs changed
    assert sorted(calls) == sorted(j.county_code for j in jobs)


def test_a_torn_checkpoint_is_recomputed(tmp_path):
    jobs = sample_jobs(tmp_path)[:2]
    run_jobs(jobs, checkpoints=Checkpoints(tmp_path / "ck", "k"), progress=False)
    (tmp_path / "ck" / f"{jobs[0].county_code}.pkl").write_bytes(b"\x80\x05truncated")
    loaded = Checkpoints(tmp_path / "ck", "k").load([j.county_code for j in jobs])
    assert list(loaded) == [jobs[1].county_code]


def test_checkpoints_carry_a_digest_instead_of_an_fsync_per_county(tmp_path, monkeypatch):
    jobs = sample_jobs(tmp_path)[:2]
    synced = []
    monkeypatch.setattr(runner.os, "fsync", lambda fd: synced.append(fd))
    checkpoints = Checkpoints(tmp_path / "ck", "k")
    assert len(synced) == 1  # the run key only
    run_jobs(jobs, checkpoints=checkpoints, progress=False)
    assert len(synced) == 1  # none per county
    path = tmp_path / "ck" / f"{jobs[0].county_code}.pkl"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # a torn or corrupted body still unpickles at times: the digest catches it
    path.write_bytes(bytes(data))
    loaded = Checkpoints(tmp_path / "ck", "k").load([j.county_code for j in jobs])
    assert list(loaded) == [jobs[1].county_code] and not path.exists()


def test_a_checkpoint_is_read_once_while_unchanged(tmp_path, monkeypatch):
    jobs = sample_jobs(tmp_path)[:2]
    run_jobs(jobs, checkpoints=Checkpoints(tmp_path / "ck", "k"), progress=False)
    reads = []
    real = runner._unpack
    monkeypatch.setattr(runner, "_unpack", lambda data: reads.append(1) or real(data))
    checkpoints = Checkpoints(tmp_path / "ck", "k")
    codes = [j.county_code for j in jobs]
    first = checkpoints.load(codes)  # the stage counts resumed counties, then run_jobs loads them
    again = checkpoints.load(codes)
    assert len(reads) == 2 and list(first) == list(again) == codes
    run_jobs(jobs[:1], checkpoints=Checkpoints(tmp_path / "ck", "k2"), progress=False)  # new key: rewritten
    assert len(checkpoints.load(codes[:1])) == 1 and len(reads) == 3


def test_collecting_less_often_only_ever_raises_the_thresholds(monkeypatch):
    import gc

    monkeypatch.setattr(gc, "get_threshold", lambda: (700, 80, 5))
    set_to = []
    monkeypatch.setattr(gc, "set_threshold", lambda *t: set_to.append(t))
    runner.collect_less_often()
    assert set_to == [(runner.GC_THRESHOLDS[0], 80, runner.GC_THRESHOLDS[2])]
