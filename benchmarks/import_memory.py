"""Peak memory and speed of importing a cohort (issue 7: cohorts larger than memory).

Bar: the peak RSS of the import grows by at most 20 % when N grows 10x (20,000 -> 200,000
sequences of 1,000 bp; the float32 one-hot tensor is 3.2 GB at 200,000), and the import runs
at 50 MB of sequence per second or more on one core, writing the tensor included.

    python benchmarks/import_memory.py generate --n 200000 --length 1000 --out /tmp/t200k.csv [--fasta]
    /usr/bin/time -v python benchmarks/import_memory.py import --table /tmp/t200k.csv --out /tmp/out
    python benchmarks/import_memory.py run --sizes 20000 200000 --dir /tmp/import_bench

``generate`` writes a CSV table ``id,sequence,phenotype`` of random sequences (with
``--fasta``, also ``.fa`` + ``.phenotypes.tsv`` of the same cohort). ``import`` imports a
table (or ``--fasta`` + ``--phenotypes``) as ``scripts/import_table.py`` (``import_fasta.py``)
does and prints the summary. ``run`` does both for each size under ``/usr/bin/time -v`` and
prints the peak RSS, the user / system / elapsed seconds and MB of sequence per second,
then deletes what it wrote. Nothing is written in the repository.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def generate(n: int, length: int, out: Path, fasta: bool = False, seed: int = 0) -> None:
    """Random ACGT sequences and normal phenotypes, written 10,000 rows at a time."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fa = open(out.with_suffix(".fa"), "w") if fasta else None
    ph = open(out.with_suffix(".phenotypes.tsv"), "w") if fasta else None
    with open(out, "w") as fh:
        fh.write("id,sequence,phenotype\n")
        if ph:
            ph.write("id\tphenotype\n")
        for start in range(0, n, 10_000):
            m = min(10_000, n - start)
            text = letters[rng.integers(0, 4, size=(m, length), dtype=np.uint8)].tobytes().decode()
            y = rng.normal(size=m).tolist()
            ids = [f"s{start + i + 1:07d}" for i in range(m)]
            fh.writelines(f"{ids[i]},{text[i * length:(i + 1) * length]},{y[i]!r}\n" for i in range(m))
            if fa:
                fa.writelines(f">{ids[i]}\n{text[i * length:(i + 1) * length]}\n" for i in range(m))
                ph.writelines(f"{ids[i]}\t{y[i]!r}\n" for i in range(m))
    for h in (fa, ph):
        if h:
            h.close()


def run_import(args) -> dict:
    from seq2pheno import sources

    log = logging.getLogger("import_memory")
    out = Path(args.out)
    paths = dict(samples_path=out / "samples.tsv", onehot_path=out / "onehot.npy",
                 features_path=out / "features.tsv")
    if args.fasta:
        return sources.import_fasta(args.fasta, args.phenotypes, unmatched="error",
                                    missing_phenotype="error", allow_n=False, log=log, **paths)
    return sources.import_table(args.table, missing_phenotype="error", allow_n=False, log=log, **paths)


def _time_v(cmd: list[str]) -> dict:
    """Run ``cmd`` under /usr/bin/time -v: peak RSS (MB), user, system and elapsed seconds."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0

    def field(name):
        return re.search(rf"{re.escape(name)}: (.+)", r.stderr).group(1).strip()

    return {"rss_mb": int(field("Maximum resident set size (kbytes)")) / 1024,
            "user_s": float(field("User time (seconds)")), "sys_s": float(field("System time (seconds)")),
            "wall_s": wall, "stdout": r.stdout.strip()}


def run(args) -> None:
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for n in args.sizes:
            table = work / f"t{n}.csv"
            generate(n, args.length, table, fasta=args.with_fasta)
            mb = n * args.length / 1e6
            kinds = [("table", ["--table", str(table)])]
            if args.with_fasta:
                kinds.append(("fasta", ["--fasta", str(table.with_suffix(".fa")),
                                        "--phenotypes", str(table.with_suffix(".phenotypes.tsv"))]))
            for kind, extra in kinds:
                out = work / f"out{n}{kind}"
                m = _time_v([sys.executable, __file__, "import", "--out", str(out), *extra])
                shutil.rmtree(out, ignore_errors=True)
                rows.append((kind, n, mb, m))
                print(f"{kind:5s} N={n:>7,} {mb:6.0f} MB of sequence: peak RSS {m['rss_mb']:7.1f} MB, "
                      f"user {m['user_s']:.2f} s, sys {m['sys_s']:.2f} s, elapsed {m['wall_s']:.2f} s; "
                      f"{mb / (m['user_s'] + m['sys_s']):.0f} MB/s of CPU time, {mb / m['wall_s']:.0f} MB/s "
                      f"elapsed", flush=True)
            for p in work.glob(f"t{n}.*"):
                p.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for kind in sorted({k for k, *_ in rows}):
        got = [(n, m) for k, n, _, m in rows if k == kind]
        if len(got) >= 2:
            (n0, a), (n1, b) = got[0], got[-1]
            print(f"{kind}: peak RSS x{b['rss_mb'] / a['rss_mb']:.3f} from N={n0:,} to N={n1:,} "
                  f"({(b['rss_mb'] / a['rss_mb'] - 1) * 100:+.1f} %; bar: +20 % at most)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--n", type=int, required=True)
    g.add_argument("--length", type=int, default=1000)
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--fasta", action="store_true", help="also write a FASTA and its phenotype table")
    i = sub.add_parser("import")
    i.add_argument("--table")
    i.add_argument("--fasta")
    i.add_argument("--phenotypes")
    i.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    r.add_argument("--length", type=int, default=1000)
    r.add_argument("--dir", default="/tmp/import_bench")
    r.add_argument("--with-fasta", action="store_true", help="also import the cohort as FASTA + table")
    r.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args(argv)
    if args.command == "generate":
        generate(args.n, args.length, args.out, fasta=args.fasta)
    elif args.command == "import":
        print(run_import(args))
    else:
        run(args)


if __name__ == "__main__":
    main()
