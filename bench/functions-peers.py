#!/usr/bin/env python3
"""W4's peers: 10,000 calls of a function returning {"i": i, "sq": i*i}, 2 workers, each call submitted on
its own without waiting for the one before (as proc-bench's W4 submits one worker per call), timed until
every result is back. Warmed first; rounds alternate; the median is reported.

    python3 bench/functions-peers.py [--calls 10000] [--rounds 3]

multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor come with Python; Dask distributed and
ipyparallel run when installed (pip install "dask[distributed]" ipyparallel). Nothing here is journaled or
evented: each peer keeps its results in memory only.
"""
import argparse
import statistics
import sys
import time


def pair(i):
    return {"i": i, "sq": i * i}


def check(results, calls):
    assert len(results) == calls and all(r["sq"] == r["i"] * r["i"] for r in results), "wrong results"


def run_pool(pool, calls):
    start = time.perf_counter()
    pending = [pool.apply_async(pair, (i,)) for i in range(calls)]
    results = [p.get() for p in pending]
    elapsed = time.perf_counter() - start
    check(results, calls)
    return elapsed


def run_executor(executor, calls):
    start = time.perf_counter()
    futures = [executor.submit(pair, i) for i in range(calls)]
    results = [f.result() for f in futures]
    elapsed = time.perf_counter() - start
    check(results, calls)
    return elapsed


def run_dask(client, calls):
    start = time.perf_counter()
    futures = [client.submit(pair, i, pure=False) for i in range(calls)]
    results = client.gather(futures)
    elapsed = time.perf_counter() - start
    check(results, calls)
    return elapsed


def run_ipyparallel(view, calls):
    start = time.perf_counter()
    pending = [view.apply_async(pair, i) for i in range(calls)]
    results = [p.get() for p in pending]
    elapsed = time.perf_counter() - start
    check(results, calls)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    peers = {}
    pool = multiprocessing.Pool(args.workers)
    peers["multiprocessing.Pool"] = (lambda n: run_pool(pool, n), pool.terminate)
    executor = ProcessPoolExecutor(max_workers=args.workers)
    peers["ProcessPoolExecutor"] = (lambda n: run_executor(executor, n), executor.shutdown)
    try:
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True)
        client = Client(cluster)
        peers["Dask distributed"] = (lambda n: run_dask(client, n), lambda: (client.close(), cluster.close()))
    except ImportError:
        print("Dask distributed not installed: skipped", file=sys.stderr)
    try:
        import ipyparallel

        ipcluster = ipyparallel.Cluster(n=args.workers)
        rc = ipcluster.start_and_connect_sync()
        view = rc.load_balanced_view()
        peers["ipyparallel"] = (lambda n: run_ipyparallel(view, n), ipcluster.stop_cluster_sync)
    except ImportError:
        print("ipyparallel not installed: skipped", file=sys.stderr)

    for run, _ in peers.values():
        run(min(1_000, args.calls))  # warm: workers started, code loaded
    times = {name: [] for name in peers}
    for _ in range(args.rounds):
        for name, (run, _) in peers.items():
            times[name].append(run(args.calls))
    for name, (_, stop) in peers.items():
        stop()
    print(f"W4 peers: {args.calls} calls, {args.workers} workers, median of {args.rounds} rounds")
    for name, values in times.items():
        median = statistics.median(values)
        rates = ", ".join(f"{args.calls / t:.0f}" for t in values)
        print(f"  {name:24} {args.calls / median:8.0f} calls/s  (rounds: {rates})")


if __name__ == "__main__":
    main()
