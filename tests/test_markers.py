"""Genotype cohorts from a marker matrix or PLINK .bed/.bim/.fam (seq2pheno.markers,
genotype_steps.import_markers / import_plink): the files written equal the VCF source's on the
same genotypes (a subset of the real mice data), and every bad input is one InputError naming
the file and line."""

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2pheno import genotype_steps as g
from seq2pheno import markers as mk
from seq2pheno.config import check_paths, validate_config
from seq2pheno.errors import InputError

LOG = logging.getLogger("test_markers")
MICE = Path("/work/shared/data/real/mice")
N_MICE, N_MARKERS = 300, 200
OUTPUTS = ("samples", "onehot", "features", "missing", "dosage", "filtered", "summary")
# cells made missing in every source (sample row, marker column) to exercise masks and filters
HOLES = [(0, 0), (5, 3), (17, 3), (40, 150), (299, 199)] + [(i, 10) for i in range(40)]

needs_mice = pytest.mark.skipif(not (MICE / "markers.tsv.gz").exists(), reason="mice data not present")


def out_paths(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    names = {"samples": "samples.tsv", "onehot": "onehot.npy", "features": "features.tsv",
             "missing": "missing.npy", "dosage": "dosage.npy", "filtered": "filtered.tsv",
             "summary": "import_summary.json"}
    return {k: str(folder / v) for k, v in names.items()}


@pytest.fixture(scope="module")
def mice(tmp_path_factory):
    """The first N_MICE mice x N_MARKERS markers as a VCF, a marker matrix + map and a .bed."""
    if not (MICE / "markers.tsv.gz").exists():
        pytest.skip("mice data not present")
    from bed_reader import to_bed

    d = tmp_path_factory.mktemp("mice")
    matrix = pd.read_csv(MICE / "markers.tsv.gz", sep="\t", nrows=N_MICE, usecols=range(N_MARKERS + 1),
                         dtype={"id": str})
    mp = pd.read_csv(MICE / "marker_map.tsv", sep="\t", nrows=N_MARKERS, dtype={"chr": str})
    assert list(mp["snp_id"]) == list(matrix.columns[1:])
    ids = list(matrix["id"])
    dos = matrix.iloc[:, 1:].to_numpy().astype(float)
    for i, j in HOLES:
        dos[i, j] = np.nan
    # VCF: the header, then the first N_MARKERS records on the first N_MICE samples
    gt = {0.0: "0/0", 1.0: "0/1", 2.0: "1/1"}
    lines = []
    with gzip.open(MICE / "genotypes.vcf.gz", "rt") as fh:
        for line in fh:
            if line.startswith("##"):
                lines.append(line)
                continue
            f = line.rstrip("\n").split("\t")
            if line.startswith("#"):
                assert f[9:9 + N_MICE] == ids
                lines.append("\t".join(f[:9 + N_MICE]) + "\n")
                continue
            j = len(lines) - sum(ln.startswith("#") for ln in lines)
            calls = [gt.get(dos[i, j], "./.") for i in range(N_MICE)]
            assert f[2] == mp["snp_id"][j] and f[3] == mp["ref"][j] and f[4] == mp["alt"][j]
            lines.append("\t".join(f[:9] + calls) + "\n")
            if j + 1 == N_MARKERS:
                break
    (d / "sub.vcf").write_text("".join(lines))
    # marker matrix (gzipped TSV, NA for missing) and its map
    table = pd.DataFrame(np.where(np.isnan(dos), "NA", np.nan_to_num(dos).astype(int).astype(str)),
                         columns=matrix.columns[1:])
    table.insert(0, "id", ids)
    table.to_csv(d / "markers.tsv.gz", sep="\t", index=False)
    mp.to_csv(d / "map.tsv", sep="\t", index=False)
    # PLINK: allele 1 (counted) = ALT, allele 2 = REF, as plink2 --make-bed writes a VCF
    to_bed(d / "sub.bed", dos.astype(np.float32), count_A1=True, properties={
        "fid": ["0"] * N_MICE, "iid": ids, "sid": list(mp["snp_id"]), "chromosome": list(mp["chr"]),
        "bp_position": list(mp["pos_bp"]), "allele_1": list(mp["alt"]), "allele_2": list(mp["ref"])})
    return {"dir": d, "ids": ids, "dosage": dos, "map": mp}


def entry(mice, source: str, **extra) -> dict:
    base = {"source": source, "phenotypes": str(MICE / "phenotypes_BMI.tsv"), "missing_ids": "drop",
            "covariates": ["sex_male"], "missing": "mean", "max_missing_variant": 0.1,
            "max_missing_sample": 0.1, "min_maf": 0.01}
    d = mice["dir"]
    if source == "vcf":
        base.update(vcf=str(d / "sub.vcf"), fasta=str(MICE / "reference.fa.gz"))
    elif source == "markers":
        base.update(markers=str(d / "markers.tsv.gz"), map=str(d / "map.tsv"), coding="dosage")
    else:
        base.update(plink=str(d / "sub"))
    base.update(extra)
    return base


def run_import(mice, source, folder, **extra) -> dict:
    out = out_paths(mice["dir"] / folder)
    step = {"vcf": g.import_vcf, "markers": g.import_markers, "plink": g.import_plink}[source]
    step(entry(mice, source, **extra), out=out, log=LOG)
    return out


def same_files(a: dict, b: dict):
    for key in OUTPUTS[:-1]:
        assert Path(a[key]).read_bytes() == Path(b[key]).read_bytes(), key
    sa, sb = (json.loads(Path(p["summary"]).read_text()) for p in (a, b))
    for s in (sa, sb):
        for k in ("vcf", "markers", "plink", "coding", "coding_reason"):  # only a matrix has a coding
            s.pop(k, None)
    assert sa == sb


@pytest.fixture(scope="module")
def vcf_out(mice):
    return run_import(mice, "vcf", "vcf")


@needs_mice
def test_markers_equal_vcf(mice, vcf_out):
    out = run_import(mice, "markers", "markers")
    same_files(vcf_out, out)
    x = np.load(out["onehot"])
    assert x.shape[2] == 4 and x.shape[0] > 250
    assert np.load(out["missing"]).any()
    summary = json.loads(Path(out["summary"]).read_text())
    assert summary["markers"].endswith("markers.tsv.gz")
    assert summary["coding"] == "dosage" and summary["coding_reason"] is None
    assert summary["filtered"]["geno"] == 1  # column 10: 40 of 300 missing
    feats = pd.read_csv(out["features"], sep="\t", dtype={"chrom": str})
    mp = mice["map"].drop(index=10).reset_index(drop=True)
    assert list(feats["chrom"]) == list(mp["chr"]) and list(feats["pos"]) == list(mp["pos_bp"])


@needs_mice
def test_plink_equals_vcf(mice, vcf_out):
    out = run_import(mice, "plink", "plink")
    same_files(vcf_out, out)


@needs_mice
def test_centered_csv_and_reference_fill(mice, vcf_out):
    """-1/0/1 coding in a plain CSV with -9 for missing gives the same files."""
    d = mice["dir"]
    dos = mice["dosage"]
    cells = np.where(np.isnan(dos), "-9", (np.nan_to_num(dos) - 1).astype(int).astype(str))
    table = pd.DataFrame(cells, columns=mice["map"]["snp_id"])
    table.insert(0, "mouse", mice["ids"])
    table.to_csv(d / "centered.csv", index=False)
    out = run_import(mice, "markers", "centered", markers=str(d / "centered.csv"), coding="centered")
    same_files(vcf_out, out)
    # missing: reference agrees with the VCF's too
    a = run_import(mice, "vcf", "vcf_ref", missing="reference")
    b = run_import(mice, "plink", "plink_ref", missing="reference")
    same_files(a, b)
    assert json.loads(Path(b["summary"]).read_text())["skipped_records"]["missing_set_to_reference"] > 0


@needs_mice
def test_no_map_placeholders(mice):
    out = run_import(mice, "markers", "nomap", map=None)
    feats = pd.read_csv(out["features"], sep="\t", dtype={"chrom": str})
    assert set(feats["chrom"]) == {"0"} and set(feats["ref"]) == {"A"} and set(feats["alt"]) == {"C"}
    assert feats["pos"].iloc[0] == 1 and 11 not in set(feats["pos"])  # column 11 filtered (geno)
    x = np.load(out["onehot"])
    assert set(np.unique(x)) <= {0.0, 0.5, 1.0} and x[..., 2:].sum() == 0  # only A and C channels
    from seq2pheno.kinship import autosomal_mask

    n_auto = int(autosomal_mask(["0"])[0]) * len(feats)  # as the kinship step reads chromosome 0
    assert np.load(out["dosage"]).shape == (x.shape[0], n_auto)


# ---- bad inputs: one InputError naming file and line -----------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def expect(exc, path, line=None):
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}:" if line is not None else f"{path}:"), msg
    return msg


MATRIX = "id\tm1\tm2\tm3\na\t0\t1\t2\nb\t2\tNA\t1\nc\t1\t1\t0\n"


@pytest.mark.parametrize("text, line, words", [
    ("id\tm1\tm2\tm3\na\t0\t1\t2\nb\t2\t1\nc\t1\t1\t0\n", 3, "3 fields, the header has 4"),
    ("id\tm1\tm2\tm3\na\t0\t1\t2\nb\t2\t3\t1\n", 3, "outside 0..2"),
    ("id\tm1\tm2\tm3\na\t0\t1\t-1\n", 2, "outside 0..2"),
    ("id\tm1\tm2\tm3\na\t0\t0.5\t1\n", 2, "outside 0..2"),
    ("id\tm1\tm2\tm3\na\t0\tAG\t1\n", 2, "is not a number"),
    ("id\tm1\tm2\tm3\na\t0\t1\t2\nb\t1\t1\t1\na\t1\t1\t1\n", 4, "listed twice"),
    ("id\tm1\tm2\tm1\na\t0\t1\t2\n", 1, "marker id 'm1' heads columns 2 and 4"),
])
def test_bad_matrix(tmp_path, text, line, words):
    path = write(tmp_path / "m.tsv", text)
    with pytest.raises(InputError) as exc:
        mk.read_markers(path, coding="dosage")
    assert words in expect(exc, path, line)


def test_centered_range(tmp_path):
    path = write(tmp_path / "m.csv", "id,m1,m2\na,-1,0\nb,1,2\n")
    with pytest.raises(InputError) as exc:
        mk.read_markers(path, coding="centered")
    assert "outside -1..1" in expect(exc, path, 3)
    geno = mk.read_markers(write(tmp_path / "ok.csv", "id,m1,m2\na,-1,0\nb,1,\n"), coding="centered")
    assert geno.dosage()[0].tolist() == [[0, 1], [2, -1]]


def test_auto_coding_reads_the_values(tmp_path):
    """coding auto: a -1 means centered, a 2 dosage (the same dosages as the coding named), both
    an error naming the line of each; a matrix of only 0 and 1 is read as dosages when its 1s are
    rare and as the two homozygotes (0 / 2) when Hardy-Weinberg would expect many 2s."""
    centered = write(tmp_path / "c.csv", "id,m1,m2\na,-1,0\nb,1,\n")
    assert mk.read_markers(centered).dosage()[0].tolist() == [[0, 1], [2, -1]]
    dosage = write(tmp_path / "d.tsv", MATRIX)
    details = {}
    assert (mk.read_markers(dosage, details=details).dosage()[0].tolist()
            == mk.read_markers(dosage, coding="dosage").dosage()[0].tolist())
    assert details == {"coding": "dosage", "coding_reason": None}
    both = write(tmp_path / "b.tsv", "id\tm1\tm2\na\t0\t2\nb\t-1\t1\n")
    with pytest.raises(InputError) as exc:
        mk.read_markers(both)
    assert "-1 (line 3) and 2 (line 2)" in expect(exc, both, 3)
    rng = np.random.default_rng(0)

    def matrix(name, values):
        rows = [f"s{i}\t" + "\t".join(map(str, r)) for i, r in enumerate(values)]
        header = "id\t" + "\t".join(f"m{j}" for j in range(values.shape[1]))
        return write(tmp_path / name, "\n".join([header, *rows]) + "\n")

    lines = rng.integers(0, 2, (40, 30))  # inbred lines: half the calls 1, no 2 anywhere
    details = {}
    geno = mk.read_markers(matrix("lines.tsv", lines), details=details)
    assert details["coding"] == "binary" and "homozygotes" in details["coding_reason"]
    np.testing.assert_array_equal(geno.dosage()[0], 2 * lines)
    assert mk.read_markers(matrix("lines.tsv", lines), coding="dosage").dosage()[0].max() == 1
    rare = np.zeros((40, 30), int)
    rare[rng.integers(0, 40, 30), np.arange(30)] = 1  # one heterozygote per marker: no 2 expected
    details = {}
    np.testing.assert_array_equal(mk.read_markers(matrix("rare.tsv", rare), details=details).dosage()[0], rare)
    assert details["coding"] == "dosage"


def test_missing_error(tmp_path):
    path = write(tmp_path / "m.tsv", MATRIX)
    with pytest.raises(InputError) as exc:
        mk.read_markers(path, missing="error")
    assert "sample 'b'" in expect(exc, path) and "'m2'" in str(exc.value)


@pytest.mark.parametrize("text, line, words", [
    ("snp\tchrom\tpos\nm1\t1\t10\nm2\t1\t20\n", None, "no row for marker 'm3' (column 4"),
    ("snp\tchrom\tpos\nm1\t1\t10\nm2\t1\t20\nm3\t1\t30\nm9\t2\t5\n", 5, "'m9' is not a column"),
    ("snp\tchrom\tpos\nm1\t1\t10\nm2\t1\t20\nm1\t1\t30\n", 4, "listed twice (first on line 2)"),
    ("snp\tchrom\tpos\nm1\t1\t10\nm2\t1\tx\nm3\t1\t30\n", 3, "not a positive whole number"),
    ("snp\tchrom\tpos\nm1\t1\t10\nm2\t1\nm3\t1\t30\n", 3, "2 fields, the header has 3"),
    ("snp\tcontig\tpos\nm1\t1\t10\n", 1, "no chromosome column"),
    ("snp\tchr\tpos\tref\talt\nm1\t1\t10\tA\tA\nm2\t1\t20\tA\tG\nm3\t1\t30\tC\tT\n", 2, "both alleles"),
])
def test_bad_map(tmp_path, text, line, words):
    matrix = write(tmp_path / "m.tsv", MATRIX)
    path = write(tmp_path / "map.tsv", text)
    with pytest.raises(InputError) as exc:
        mk.read_markers(matrix, path)
    assert words in expect(exc, path, line)


def test_quoted_csv(tmp_path):
    """R's write.csv quotes the ids and header; NA stays missing."""
    path = write(tmp_path / "m.csv", '"","m1","m2"\n"a",0,NA\n"b",2,1\n')
    geno = mk.read_markers(path)
    assert geno.samples == ["a", "b"] and geno.dosage()[0].tolist() == [[0, -1], [2, 1]]


def test_map_alleles_and_skips(tmp_path):
    matrix = write(tmp_path / "m.tsv", MATRIX)
    path = write(tmp_path / "map.csv", "marker,chr,pos_bp,ref,alt\nm1,2,10,a,g\nm2,2,20,A,AT\nm3,X,5,0,T\n")
    geno = mk.read_markers(matrix, path)
    assert geno.features[["chrom", "pos", "ref", "alt"]].values.tolist() == [["2", 10, "A", "G"]]
    assert geno.skipped["indel"] == 1 and geno.skipped["no_alt"] == 1


def small_plink(tmp_path, n=8, m=3):
    from bed_reader import to_bed

    rng = np.random.default_rng(0)
    to_bed(tmp_path / "p.bed", rng.integers(0, 3, (n, m)).astype(np.float32), properties={
        "iid": [f"s{i}" for i in range(n)], "sid": [f"v{j}" for j in range(m)],
        "chromosome": ["1"] * m, "bp_position": list(range(1, m + 1)),
        "allele_1": ["G"] * m, "allele_2": ["A"] * m})
    return tmp_path / "p"


def test_plink_counts_a1(tmp_path):
    from bed_reader import open_bed

    prefix = small_plink(tmp_path)
    geno = mk.read_plink(prefix)
    want = open_bed(f"{prefix}.bed", count_A1=True).read(dtype="int8")
    assert np.array_equal(geno.dosage()[0], want)
    assert set(geno.features["alt"]) == {"G"} and set(geno.features["ref"]) == {"A"}


def test_bad_plink(tmp_path):
    prefix = small_plink(tmp_path)
    fam, bim, bed = (Path(f"{prefix}.{e}") for e in ("fam", "bim", "bed"))
    good_fam, good_bim = fam.read_text(), bim.read_text()
    fam.write_text("".join(good_fam.splitlines(True)[:4]))  # 4 samples: the .bed holds 8
    with pytest.raises(InputError) as exc:
        mk.read_plink(prefix)
    assert "does not belong to this .bed" in expect(exc, bed)
    fam.write_text(good_fam)
    bim.write_text(good_bim + "1\tv3\t0\t4\tG\tA\n")
    with pytest.raises(InputError) as exc:
        mk.read_plink(prefix)
    assert "4 variants (.bim)" in expect(exc, bed)
    bim.write_text(good_bim.replace("\tv1\t0.0\t2", "\tv1\t2"))
    with pytest.raises(InputError) as exc:
        mk.read_plink(prefix)
    assert "5 fields" in expect(exc, bim, 2)
    bim.write_text(good_bim)
    lines = good_fam.splitlines(True)
    fam.write_text("".join(lines[:3] + [lines[3].replace("s3", "s1")] + lines[4:]))
    with pytest.raises(InputError) as exc:
        mk.read_plink(prefix)
    assert "sample 's1'" in expect(exc, fam, 4)
    fam.write_text(good_fam)
    bed.write_bytes(b"\x00\x01\x02" + bed.read_bytes()[3:])
    with pytest.raises(InputError) as exc:
        mk.read_plink(prefix)
    assert "not a PLINK 1 .bed" in expect(exc, bed)
    bed.unlink()
    with pytest.raises(InputError) as exc:
        mk.read_plink(prefix)
    assert "does not exist" in expect(exc, bed)


# ---- config -------------------------------------------------------------------------------------


def test_config(tmp_path):
    prefix = small_plink(tmp_path)
    matrix = write(tmp_path / "m.tsv", MATRIX)
    pheno = write(tmp_path / "ph.tsv", "id\tphenotype\na\t1\n")
    cfg = validate_config({"cohorts": {
        "mk": {"source": "markers", "markers": str(matrix), "phenotypes": str(pheno)},
        "pl": {"source": "plink", "plink": str(prefix), "phenotypes": str(pheno)}}})
    mkc, plc = cfg["cohorts"]["mk"], cfg["cohorts"]["pl"]
    assert mkc["coding"] == "auto" and mkc["map"] is None and mkc["missing"] == "mean"
    assert mkc["covariates"] == [] and plc["min_maf"] == 0.01 and plc["missing_ids"] == "error"
    check_paths(cfg)
    with pytest.raises(InputError, match="coding"):
        validate_config({"cohorts": {"mk": {"source": "markers", "markers": "x", "phenotypes": "y",
                                            "coding": "additive"}}})
    with pytest.raises(InputError, match="fasta"):
        validate_config({"cohorts": {"pl": {"source": "plink", "plink": "x", "phenotypes": "y",
                                            "fasta": "z"}}})
    Path(f"{prefix}.fam").unlink()
    with pytest.raises(InputError, match=r"cohorts\.pl\.plink: p\.fam does not exist"):
        check_paths(cfg)
    cfg["cohorts"]["mk"]["map"] = str(tmp_path / "nomap.tsv")
    del cfg["cohorts"]["pl"]
    with pytest.raises(InputError, match=r"cohorts\.mk\.map: .*does not exist"):
        check_paths(cfg)
