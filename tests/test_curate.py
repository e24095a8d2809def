"""Duplicate grouping, resolution and the replicate noise ceiling."""

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from seq2pheno import curate
from seq2pheno.curate import (duplicate_groups, group_distances, replicate_repeatability, replicate_summary,
                              resolve, resolve_duplicates)
from seq2pheno.tensorfile import open_tensor, tensor_writer

EYE = np.eye(4, dtype=np.float32)


def onehot(seqs):
    return EYE[np.array([["ACGT".index(c) for c in s] for s in seqs])]


def brute(x, k):
    """Reference: connected components of the full Hamming graph over column vectors."""
    d = (x[:, None] != x[None, :]).any(axis=3).sum(axis=2)
    return connected_components(d <= k, directed=False)[1]


def same_partition(a, b):
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


def mutants(n, length, rate, seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, length)
    codes = np.tile(ref, (n, 1))
    for i in range(n):
        m = rng.integers(0, int(rate * length) + 1)
        pos = rng.integers(0, length, m)
        codes[i, pos] = (ref[pos] + rng.integers(1, 4, m)) % 4
    return EYE[codes]


def test_exact_groups_first_appearance():
    x = onehot(["ACGT", "ACGA", "ACGT", "TTTT", "ACGA", "ACGT"])
    g = duplicate_groups(x)
    assert g.dtype == np.int64
    assert g.tolist() == [0, 1, 0, 2, 1, 0]


def test_exact_distinguishes_n_and_memmap(tmp_path):
    x = onehot(["ACGT", "ACGT", "ACGA"])
    x[1, 3] = 0.25  # an N
    path = tmp_path / "x.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    assert duplicate_groups(mm, block_size=2).tolist() == [0, 1, 2]
    # N differs from T at one column: a near duplicate at threshold 1 of 4
    assert duplicate_groups(mm, 0.25, block_size=2).tolist() == [0, 0, 0]


def test_near_groups_transitive():
    a = "AAAAAAAAAA"
    b = "CCAAAAAAAA"  # 2 from a
    c = "CCCCAAAAAA"  # 2 from b, 4 from a
    d = "GGGGGGGGGG"
    e = "GGGGGGGGTT"  # 2 from d
    x = onehot([a, d, b, c, e, "TTTTTTTTTT"])
    assert duplicate_groups(x, 0.2).tolist() == [0, 1, 0, 0, 1, 2]   # <= 2 mismatches
    assert duplicate_groups(x, 0.1).tolist() == [0, 1, 2, 3, 4, 5]   # <= 1 mismatch
    assert duplicate_groups(x, 0.19).tolist() == [0, 1, 2, 3, 4, 5]  # floor(1.9) = 1
    assert duplicate_groups(x, 0.0).tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("method", ["auto", "index", "dense"])
@pytest.mark.parametrize("block_size", [1, 7, 64, 4096])
def test_blocked_equals_brute_force(method, block_size):
    x = mutants(150, 40, 0.15, seed=3)
    x = np.concatenate([x, x[:10]])  # exact copies too
    for frac in (0.025, 0.05, 0.1):
        k = int(np.floor(frac * 40 + 1e-9))
        got = duplicate_groups(x, frac, block_size=block_size, method=method)
        assert same_partition(got, brute(x, k)), (frac, method, block_size)


@pytest.mark.parametrize("method", ["index", "segments", "dense"])
def test_random_and_odd_states_equal_brute_force(method):
    rng = np.random.default_rng(0)
    # diverse random sequences plus a few with N and heterozygous columns
    x = EYE[rng.integers(0, 4, (60, 12))]
    x[5:15] = x[0]
    x[5:15, rng.integers(0, 12, 10)] = 0.25
    x[20:25] = x[1]
    x[20:25, 3] = [0.5, 0, 0.5, 0]
    x[25:30] = x[20]
    x[25:30, 7] = 0.25
    for frac in (0.1, 0.2, 0.34):
        k = int(np.floor(frac * 12 + 1e-9))
        got = duplicate_groups(x, frac, block_size=16, method=method)
        assert same_partition(got, brute(x, k)), (frac, method)


def test_logs_progress_and_rejects_bad_arguments(caplog):
    x = mutants(50, 20, 0.2, seed=1)
    log = logging.getLogger("test_curate")
    with caplog.at_level(logging.INFO, logger="test_curate"):
        duplicate_groups(x, 0.1, log=log)
    assert any("threshold 2 mismatches" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError):
        duplicate_groups(x, 1.5)
    with pytest.raises(ValueError):
        duplicate_groups(x[:, :, :3])
    with pytest.raises(ValueError):
        duplicate_groups(x, 0.1, method="magic")


def test_group_distances():
    x = onehot(["AAAA", "AAAC", "CCCC", "AACC", "CCCC"])
    g = np.array([0, 0, 1, 0, 1])
    assert group_distances(x, g, block_size=2).tolist() == [0, 1, 0, 2, 0]


def test_resolve_remove_exact_and_near():
    ids = ["a", "b", "c", "d", "e"]
    y = [1.0, 3.0, 5.0, np.nan, 2.0]
    groups = [0, 0, 1, 0, 2]
    kept, removed = resolve_duplicates(ids, y, groups, distances=[0, 0, 0, 2, 0])
    assert list(kept.columns) == ["id", "phenotype", "group"]
    assert kept["id"].tolist() == ["a", "c", "e"]
    assert kept["phenotype"].tolist() == [2.0, 5.0, 2.0]      # mean of 1 and 3, NaN ignored
    assert kept["group"].tolist() == [0, 1, 2]
    assert list(removed.columns) == ["id", "reason", "detail"]
    assert removed["id"].tolist() == ["b", "d"]
    assert removed["reason"].tolist() == ["exact duplicate", "near duplicate"]
    assert removed["detail"].iloc[0] == "of a; discordant phenotypes in group, kept their mean"
    assert removed["detail"].iloc[1].startswith("of a (2 mismatches)")


def test_resolve_concordant_and_all_missing():
    kept, removed = resolve_duplicates(["a", "b", "c", "d"], [2.0, 2.0 + 1e-12, np.nan, np.nan],
                                       [0, 0, 1, 1])
    assert kept["phenotype"].iloc[0] == pytest.approx(2.0)
    assert np.isnan(kept["phenotype"].iloc[1])
    assert removed["detail"].tolist() == ["of a", "of c"]
    assert removed["reason"].tolist() == ["exact duplicate"] * 2


def test_resolve_group_mode_and_bad_mode():
    kept, removed = resolve_duplicates(["a", "b", "c"], [1.0, 2.0, 3.0], [0, 0, 1], mode="group")
    assert kept["id"].tolist() == ["a", "b", "c"]
    assert kept["phenotype"].tolist() == [1.0, 2.0, 3.0]
    assert kept["group"].tolist() == [0, 0, 1]
    assert len(removed) == 0 and list(removed.columns) == ["id", "reason", "detail"]
    with pytest.raises(ValueError):
        resolve_duplicates(["a"], [1.0], [0], mode="drop")


def test_repeatability_known_variances():
    rng = np.random.default_rng(7)
    n_groups, reps, sd_g, sd_e = 400, 3, 2.0, 0.5
    g = np.repeat(np.arange(n_groups), reps)
    y = rng.normal(0, sd_g, n_groups)[g] + rng.normal(0, sd_e, len(g))
    expected = 1 - sd_e ** 2 / (sd_g ** 2 + sd_e ** 2)
    assert replicate_repeatability(y, g) == pytest.approx(expected, abs=0.02)
    # exact value: 1 - pooled within variance / total variance
    within = sum(((y[g == i] - y[g == i].mean()) ** 2).sum() for i in range(n_groups)) / (len(y) - n_groups)
    assert replicate_repeatability(y, g) == pytest.approx(1 - within / y.var(ddof=1))


def test_repeatability_needs_thirty_replicate_groups():
    y = np.arange(70, dtype=float)
    g = np.arange(70)
    g[1:59:2] = g[0:58:2]  # 29 groups of 2 whose phenotypes differ
    assert replicate_repeatability(y, g) is None
    assert replicate_summary(y, g) == {"ceiling": None, "n_replicate_groups": 29, "n_copy_groups": 0}
    g[59] = g[58]          # a 30th
    assert replicate_repeatability(y, g) is not None
    assert replicate_repeatability(y, g, min_groups=31) is None
    y2 = y.copy()
    y2[1] = np.nan         # a member without phenotype no longer counts
    assert replicate_repeatability(y2, g) is None


def test_copies_are_not_replicates():
    # 31 groups of rows copied with identical phenotypes: copies, no ceiling (not a spurious 1)
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(31), 2)
    y = rng.normal(0, 1, 31)[g]
    assert replicate_repeatability(y, g) is None
    assert replicate_summary(y, g) == {"ceiling": None, "n_replicate_groups": 0, "n_copy_groups": 31}
    # many copies beside genuine replicates: the copies neither count nor shrink the within variance
    n_rep, sd_g, sd_e = 300, 1.0, 0.5
    g_rep = np.repeat(np.arange(n_rep), 2)
    y_rep = rng.normal(0, sd_g, n_rep)[g_rep] + rng.normal(0, sd_e, len(g_rep))
    g_copy = np.repeat(np.arange(n_rep, 2 * n_rep), 3)
    y_copy = rng.normal(0, np.hypot(sd_g, sd_e), n_rep)[g_copy - n_rep]
    s = replicate_summary(np.r_[y_rep, y_copy], np.r_[g_rep, g_copy])
    assert (s["n_replicate_groups"], s["n_copy_groups"]) == (n_rep, n_rep)
    assert s["ceiling"] == pytest.approx(sd_g ** 2 / (sd_g ** 2 + sd_e ** 2), abs=0.06)
    # string labels take the sorting path, same answer
    s2 = replicate_summary(np.r_[y_rep, y_copy], np.char.add("g", np.r_[g_rep, g_copy].astype(str)))
    assert s2 == s


# ----------------------------------------------------------------------------- exactness at random
#: column vectors of the random cohorts: A, C, G, T, N, two heterozygotes
STATES = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                   [0.25] * 4, [0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5]], dtype=np.float32)


def canonical(labels):
    """Labels 0..G-1 in order of first appearance (duplicate_groups' own numbering)."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inv.ravel()]


def random_cohort(seed, n, length, k):
    """Parents, their copies and mutants (0 to k + 2 changes), chains whose steps are within k
    (a~b~c with a and c further apart), unrelated rows; a few N and heterozygous columns."""
    rng = np.random.default_rng(seed)

    def mutate(c, m):
        c = c.copy()
        pos = rng.choice(length, m, replace=False)
        odd = rng.random(m) < 0.15
        c[pos] = np.where(odd, rng.integers(4, 7, m), (c[pos] + rng.integers(1, 4, m)) % 4)
        return c

    parents = rng.integers(0, 4, (6, length))
    rows = [mutate(parents[0], rng.integers(length // 4, length // 2))]   # a parent far from all
    while len(rows) < n:
        kind = rng.random()
        if kind < 0.55:
            rows.append(mutate(parents[rng.integers(len(parents))], int(rng.integers(0, k + 3))))
        elif kind < 0.8:
            c = mutate(parents[rng.integers(len(parents))], int(rng.integers(0, length // 3)))
            for _ in range(int(rng.integers(2, 6))):
                rows.append(c)
                c = mutate(c, int(rng.integers(1, k + 1)))
        elif kind < 0.9 and len(rows):
            rows.append(rows[rng.integers(len(rows))])                      # an exact copy
        else:
            rows.append(rng.integers(0, 4, length))
    codes = np.array(rows[:n])[rng.permutation(n)]
    return STATES[codes]


def check_exact(x, fraction, **kw):
    k = int(np.floor(fraction * x.shape[1] + 1e-9))
    got = duplicate_groups(x, fraction, **kw)
    want = canonical(brute(x, k))
    return np.array_equal(got, want)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", ["auto", "index", "segments", "dense"])
def test_random_cohorts_equal_brute_force(seed, method):
    x = random_cohort(seed, 150, 40, 4)
    for k in (1, 2, 4):
        for block_size in (3, 17, None):
            assert check_exact(x, (k + 0.5) / 40, method=method, block_size=block_size), (seed, k, block_size)


@pytest.mark.parametrize("method", ["index", "segments", "dense"])
def test_one_row_blocks_equal_brute_force(method):
    for seed in range(3):
        x = random_cohort(10 + seed, 36, 24, 3)
        for k in (1, 3):
            assert check_exact(x, (k + 0.5) / 24, method=method, block_size=1), (seed, k)


def test_the_random_cohorts_can_fail(monkeypatch):
    """The brute-force comparison above notices a search that misses pairs at distance k."""
    cases = [(random_cohort(seed, 150, 40, 4), k) for seed in range(4) for k in (1, 2, 4)]

    def all_exact(method):
        return all(check_exact(x, (k + 0.5) / 40, method=method, block_size=17) for x, k in cases)

    assert all_exact("index") and all_exact("segments")
    original = curate._Keys.__call__

    def short_prefix(self, codes):          # k instead of k + 1 keys: not enough for the filter
        counts, keys = original(self, codes)
        if self.kind == "index":
            keys[:, -1] = -1
        else:
            keys[:, -1] = keys[:, 0]
        return counts, keys

    monkeypatch.setattr(curate._Keys, "__call__", short_prefix)
    assert not all_exact("index")
    assert not all_exact("segments")
    monkeypatch.setattr(curate._Keys, "__call__", original)
    bound = curate._sketch_bound
    monkeypatch.setattr(curate, "_sketch_bound", lambda *a: bound(*a) + 1)   # a bound one too high
    assert not all_exact("index")


def test_any_center_is_exact(monkeypatch):
    """The keyed searches are exact around any center, not only the one the sample picks."""
    original = curate._plan
    rng = np.random.default_rng(1)

    def random_center(onehot, first, copies, decoder, counts, k, method, read_rows):
        plan = original(onehot, first, copies, decoder, counts, k, method, read_rows)
        center = rng.integers(0, decoder.n_states, onehot.shape[1]).astype(decoder.dtype)
        sample = rng.integers(0, decoder.n_states, (20, onehot.shape[1])).astype(decoder.dtype)
        if plan.kind == "index":
            plan.spec = curate._Keys.index(sample, center, decoder.n_states, k)
        else:
            plan.spec = curate._Keys.segments(center, decoder.n_states, k)
        return plan

    monkeypatch.setattr(curate, "_plan", random_center)
    for seed in range(3):
        x = random_cohort(20 + seed, 120, 40, 4)
        for method in ("index", "segments"):
            for k in (2, 4):
                assert check_exact(x, (k + 0.5) / 40, method=method, block_size=13), (seed, method, k)


def test_more_than_256_column_states():
    """Codes widen to 16 bits; rows hashed before and after that still match exactly."""
    rng = np.random.default_rng(4)
    x = random_cohort(4, 60, 30, 3)
    values = rng.random((400, 4)).astype(np.float32)       # 400 distinct odd column vectors
    rows, cols = rng.integers(20, 50, 400), rng.integers(0, 30, 400)
    x[rows, cols] = values
    x[55] = x[3]                                           # a pure-enough copy after the widening
    x[58] = x[25]
    for k in (0, 1, 3):
        got = duplicate_groups(x, (k + 0.5) / 30 if k else 0.0, block_size=8)
        assert np.array_equal(got, canonical(brute(x, k))), k
    assert duplicate_groups(x)[55] == duplicate_groups(x)[3]


def test_tensor_file_and_known_exact_labels(tmp_path):
    x = random_cohort(7, 200, 50, 3)
    with tensor_writer(tmp_path / "x.npy", (50, 4)) as w:
        for s in range(0, 200, 64):
            w.append(x[s:s + 64])
    t = open_tensor(tmp_path / "x.npy")
    exact = duplicate_groups(t)
    assert np.array_equal(exact, duplicate_groups(x))
    for method in ("auto", "index", "segments", "dense"):
        got = duplicate_groups(t, 0.07, method=method, exact=exact, block_size=32)
        assert np.array_equal(got, duplicate_groups(x, 0.07, method=method)), method
    assert np.array_equal(duplicate_groups(t, 0.07, exact=exact + 5), duplicate_groups(t, 0.07))
    with pytest.raises(ValueError, match="exact"):
        duplicate_groups(t, 0.07, exact=exact[:-1])
    groups = duplicate_groups(t, 0.07)
    dist = group_distances(t, groups, block_size=7)
    assert np.array_equal(dist, group_distances(x, groups))
    first = np.unique(groups, return_index=True)[1][groups]
    assert np.array_equal(dist, (x != x[first]).any(axis=2).sum(axis=1))


def test_small_and_degenerate_cohorts():
    assert duplicate_groups(np.zeros((0, 5, 4), np.float32), 0.2).tolist() == []
    assert duplicate_groups(onehot(["ACGT"]), 0.5).tolist() == [0]
    assert duplicate_groups(onehot(["ACGT"] * 3), 0.5).tolist() == [0, 0, 0]
    x = onehot(["AAAA", "AAAC", "AACC", "CCCC", "AAAA"])
    for method in ("auto", "index", "segments", "dense"):      # k = 3 of 4: all linked
        assert duplicate_groups(x, 0.75, method=method).tolist() == [0] * 5, method
        assert duplicate_groups(x, 0.25, method=method).tolist() == [0, 0, 0, 1, 0], method


def test_resolution_tables_equal_resolve_duplicates():
    ids = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
    y = [1.0, 3.0, 5.0, np.nan, 2.0, 4.0]
    groups = [0, 0, 1, 0, 2, 1]
    dist = [0, 0, 0, 2, 0, 1]
    res = resolve(y, groups, distances=dist)
    kept, removed = resolve_duplicates(ids, y, groups, distances=dist)
    utf8 = np.char.encode(ids.astype(str), "utf-8")
    assert res.kept_table(utf8).equals(kept) and res.removed_table(utf8).equals(removed)
    halves = [res.removed_table(utf8, 0, 2), res.removed_table(utf8, 2, None)]
    assert [r for h in halves for r in h["detail"]] == removed["detail"].tolist()
    assert res.removed_by_reason() == {"near duplicate": 2, "exact duplicate": 1}
    assert resolve(y, groups, mode="group").removed_by_reason() == {}


# ----------------------------------------------------------------------------- memory
def _mutants(n, length, seed=0):
    """Mutants of one reference: up to 10 % of positions changed, about half at 20 hot loci."""
    ref = np.random.default_rng(0).integers(0, 4, length)
    hot = np.random.default_rng(1).choice(length, 20, replace=False)
    rng = np.random.default_rng(seed)
    codes = np.tile(ref, (n, 1))
    for i in range(n):
        m = int(rng.integers(0, length // 10 + 1))
        pos = np.where(rng.random(m) < 0.45, rng.choice(hot, m), rng.integers(0, length, m))
        codes[i, pos] = (ref[pos] + rng.integers(1, 4, m)) % 4
    return EYE[codes]


def test_memory_does_not_grow_with_the_tensor(tmp_path):
    """Curation of 16 and 64 MB tensors (small blocks, positioned reads): the peak resident set
    grows by far less than the tensor, and by little more for four times the rows."""
    length = 500
    for n in (2000, 8000):
        with tensor_writer(tmp_path / f"x{n}.npy", (length, 4)) as w:
            for s in range(0, n, 1000):
                w.append(_mutants(1000, length, seed=s))
    # the kernel's high-water mark, reset after the imports (ru_maxrss of a child forked from
    # pytest starts at pytest's own resident set)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import numpy as np
        from seq2pheno import curate
        from seq2pheno.tensorfile import open_tensor

        def status(key):
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1])

        curate.READ_BYTES, curate.SAMPLE_ROWS, curate._PAIR_CHUNK = 1 << 20, 1024, 1 << 14
        mmap = sys.argv[2] == "mmap"
        t = np.load(sys.argv[1], mmap_mode="r") if mmap else open_tensor(sys.argv[1])
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = status("VmRSS")
        exact = curate.duplicate_groups(t, 0.0)
        groups = exact if mmap else curate.duplicate_groups(t, 0.01, exact=exact, block_size=500)
        dist = curate.group_distances(t, groups)
        print(status("VmHWM") - before, groups.max() + 1, int(dist.max()))
    """)
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs")

    def run(n, mode="pread"):
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"x{n}.npy"), mode], check=True,
                             capture_output=True, text=True).stdout.split()
        return int(out[0]) / 1024, int(out[1]), int(out[2])           # MB, groups, largest distance

    grown = {}
    for n in (2000, 8000):
        grown[n], n_groups, largest = run(n)
        assert n_groups < n and largest > 0                             # near duplicates were found
    assert grown[8000] < 16, grown                    # a 64 MB tensor
    assert grown[8000] - grown[2000] < 3, grown       # 6,000 more rows
    assert run(8000, "mmap")[0] > 48                  # the measurement sees a memory map's pages
